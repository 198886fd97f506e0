/** Everything that differs between the mail protocols, written once; probes, config, metrics and fix texts read it. */
export interface ProtocolDescriptor {
  /** As people write it in logs and fix texts. */
  label: string;
  defaultPort: number;
  /** Ports where the session starts in clear text and upgrades with STARTTLS; every other port is implicit TLS. */
  starttlsPorts: readonly number[];
  /** The Exchange Online application role (token `roles` claim) an XOAUTH2 login needs. */
  role: string;
  /** The delegated permission (a scope of the cloud's Outlook resource) a user's XOAUTH2 login needs. */
  delegatedScope: string;
  /** Which of a cloud's Exchange Online hosts serves it. */
  host: 'mail' | 'smtp';
  /** The per-mailbox switch (Get-/Set-CASMailbox property) that turns the protocol off, and its "on" value. */
  mailboxSwitch: { property: string; on: string; off: string; offText: string };
  /**
   * How the endpoint differs for a High Volume Email account (a monitor's "hve"), for the protocol HVE speaks: the
   * cloud's HVE host (CloudEndpoints.hveSmtpHost), the role Exchange expects instead, and a recipient of its own.
   */
  highVolume?: { role: string };
}

export const PROTOCOL = {
  imap: {
    label: 'IMAP',
    defaultPort: 993,
    starttlsPorts: [143],
    role: 'IMAP.AccessAsApp',
    delegatedScope: 'IMAP.AccessAsUser.All',
    host: 'mail',
    mailboxSwitch: { property: 'ImapEnabled', on: '$true', off: '$false', offText: 'IMAP is disabled' },
  },
  pop3: {
    label: 'POP3',
    defaultPort: 995,
    starttlsPorts: [110],
    role: 'POP.AccessAsApp',
    delegatedScope: 'POP.AccessAsUser.All',
    host: 'mail',
    mailboxSwitch: { property: 'PopEnabled', on: '$true', off: '$false', offText: 'POP is disabled' },
  },
  smtp: {
    label: 'SMTP',
    defaultPort: 587,
    starttlsPorts: [25, 587],
    role: 'SMTP.SendAsApp',
    delegatedScope: 'SMTP.Send',
    host: 'smtp',
    mailboxSwitch: { property: 'SmtpClientAuthenticationDisabled', on: '$false', off: '$true', offText: 'SMTP AUTH is disabled' },
    // An HVE account authenticates SMTP with the Exchange Online Mail.Send application permission, not
    // SMTP.SendAsApp (docs/exchange-online-errors.md §10).
    highVolume: { role: 'Mail.Send' },
  },
} as const satisfies Record<string, ProtocolDescriptor>;

export type Protocol = keyof typeof PROTOCOL;

/** The protocols, in the table's order (doctor's): an order that never follows the order results arrive in. */
export const PROTOCOLS = Object.keys(PROTOCOL) as [Protocol, ...Protocol[]];

/** The protocol mail is submitted over: probe messages leave this way, and Exchange's sending limits and grants concern it. */
export const SUBMISSION: Protocol = 'smtp';

/** Every role some protocol needs, each once, in protocol order. */
export const MAIL_ROLES: readonly string[] = [...new Set(Object.values(PROTOCOL).map((protocol) => protocol.role))];

/** A table with one entry per protocol, derived from its descriptor (the compiler cannot count fromEntries). */
export function byProtocol<T>(derive: (protocol: Protocol) => T): Record<Protocol, T> {
  return Object.fromEntries(PROTOCOLS.map((protocol) => [protocol, derive(protocol)])) as Record<Protocol, T>;
}
