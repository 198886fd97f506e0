import type { TokenResource } from './clouds.js';

/** Everything that differs between the mail protocols, written once; probes, config, metrics and fix texts read it. */
export interface ProtocolDescriptor {
  /** As people write it in logs and fix texts. */
  label: string;
  defaultPort: number;
  /** Ports where the session starts in clear text and upgrades with STARTTLS; every other port is implicit TLS. */
  starttlsPorts: readonly number[];
  /** The service whose token it takes (its permissions are that service's application roles). */
  resource: TokenResource;
  /**
   * How it reaches its server: a mail session over TCP (the monitor's proxy, else ALL_PROXY) or HTTPS requests (the
   * tenant's proxy, as for the login service, else HTTPS_PROXY).
   */
  transport: 'session' | 'https';
  /** The application role (token `roles` claim) its login or first request needs. */
  role: string;
  /** The delegated permission (a scope of the cloud's Outlook resource) a user's XOAUTH2 login needs. */
  delegatedScope: string;
  /** Which of a cloud's hosts serves it: one of Exchange Online's, or Microsoft Graph's. */
  host: 'mail' | 'smtp' | 'graph';
  /** The per-mailbox switch (Get-/Set-CASMailbox property) that turns the protocol off, and its "on" value; none for Graph. */
  mailboxSwitch?: { property: string; on: string; off: string; offText: string };
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
    resource: 'exchange',
    transport: 'session',
    role: 'IMAP.AccessAsApp',
    delegatedScope: 'IMAP.AccessAsUser.All',
    host: 'mail',
    mailboxSwitch: { property: 'ImapEnabled', on: '$true', off: '$false', offText: 'IMAP is disabled' },
  },
  pop3: {
    label: 'POP3',
    defaultPort: 995,
    starttlsPorts: [110],
    resource: 'exchange',
    transport: 'session',
    role: 'POP.AccessAsApp',
    delegatedScope: 'POP.AccessAsUser.All',
    host: 'mail',
    mailboxSwitch: { property: 'PopEnabled', on: '$true', off: '$false', offText: 'POP is disabled' },
  },
  smtp: {
    label: 'SMTP',
    defaultPort: 587,
    starttlsPorts: [25, 587],
    resource: 'exchange',
    transport: 'session',
    role: 'SMTP.SendAsApp',
    delegatedScope: 'SMTP.Send',
    host: 'smtp',
    mailboxSwitch: { property: 'SmtpClientAuthenticationDisabled', on: '$false', off: '$true', offText: 'SMTP AUTH is disabled' },
    // An HVE account authenticates SMTP with the Exchange Online Mail.Send application permission, not
    // SMTP.SendAsApp (docs/exchange-online-errors.md §10).
    highVolume: { role: 'Mail.Send' },
  },
  graph: {
    // Microsoft Graph's mail API (sendMail, message lists, DELETE by id) on the same mailboxes: the path that
    // replaces EWS, and the one Exchange RBAC for Applications scopes to chosen mailboxes. Its checks name the
    // Graph permissions they need (src/core/checks.ts); Mail.Send is what its first request, sendMail, needs.
    label: 'Microsoft Graph',
    defaultPort: 443,
    starttlsPorts: [],
    resource: 'graph',
    transport: 'https',
    role: 'Mail.Send',
    delegatedScope: 'Mail.Send',
    host: 'graph',
  },
} as const satisfies Record<string, ProtocolDescriptor>;

export type Protocol = keyof typeof PROTOCOL;

/** The protocols spoken as a mail session over TCP (XOAUTH2 logins), not as HTTPS requests. */
export type SessionProtocol = { [P in Protocol]: (typeof PROTOCOL)[P]['transport'] extends 'session' ? P : never }[Protocol];

/** The protocols, in the table's order (doctor's): an order that never follows the order results arrive in. */
export const PROTOCOLS = Object.keys(PROTOCOL) as [Protocol, ...Protocol[]];

/** The protocol mail is submitted over: probe messages leave this way, and Exchange's sending limits and grants concern it. */
export const SUBMISSION: Protocol = 'smtp';

/** Every Exchange Online role some protocol needs, each once, in protocol order: what the agent's own (Exchange) token is judged by. */
export const MAIL_ROLES: readonly string[] = [
  ...new Set(Object.values(PROTOCOL as Record<string, ProtocolDescriptor>).flatMap((protocol) => (protocol.resource === 'exchange' ? [protocol.role] : []))),
];

/**
 * Graph's mail permissions that include another (a token with Mail.ReadWrite may read, so it needs no Mail.Read):
 * a required role counts as held when the token carries it or one that includes it.
 */
const INCLUDED_IN: Readonly<Record<string, readonly string[]>> = {
  'Mail.ReadBasic.All': ['Mail.ReadBasic', 'Mail.Read', 'Mail.ReadWrite'],
  'Mail.ReadBasic': ['Mail.ReadBasic.All', 'Mail.Read', 'Mail.ReadWrite'],
  'Mail.Read': ['Mail.ReadWrite'],
};

/** Whether a token's roles grant `role`, itself or through a wider permission. */
export function holdsRole(roles: readonly string[], role: string): boolean {
  return roles.includes(role) || (INCLUDED_IN[role] ?? []).some((wider) => roles.includes(wider));
}

/** A table with one entry per protocol, derived from its descriptor (the compiler cannot count fromEntries). */
export function byProtocol<T>(derive: (protocol: Protocol) => T): Record<Protocol, T> {
  return Object.fromEntries(PROTOCOLS.map((protocol) => [protocol, derive(protocol)])) as Record<Protocol, T>;
}
