import type { Stage } from './check.js';
import type { TokenResource } from './clouds.js';
import { PROTOCOL, type Protocol } from './protocols.js';

/** One step of the admin's setup that `doctor` judges; the probe stages listed are the ones that fail it. */
export interface ChecklistStep {
  id: string;
  title: string;
  stages: readonly Stage[];
}

/** Everything that differs between the checks, written once; the registry, runner, doctor and fix texts read it. */
export interface CheckDescriptor {
  /** How people read its name (status page, feeds); a protocol's check is named as the protocol is. */
  label: string;
  /** The protocols it speaks, in the order it speaks them; the token must hold each one's role. */
  protocols: readonly Protocol[];
  /** The service its token is for: the scope requested and the audiences accepted follow from the tenant's cloud. */
  resource: TokenResource;
  /**
   * The application roles its token must hold when they are not its protocols' roles: Graph's mail permissions
   * follow what the check does (send, read, delete), not the protocol.
   */
  roles?: readonly string[];
  /** The Exchange RBAC for Applications roles that grant the same over a management scope, for fix texts; absent: none exists. */
  rbacRoles?: readonly string[];
  /** Submits a probe message: spends send budget and carries a signed probe id. */
  sends: boolean;
  /** Its deadline covers waiting for the probe message to arrive (probeMail.roundtrip.timeoutSeconds), not only the session's. */
  waitsForDelivery: boolean;
  /**
   * Whether it deletes older probe messages of this agent (probeMail.cleanup): 'always'; 'standin' on a monitor
   * where no check sweeps always (and only when its token can read the mailbox); or 'never'.
   */
  sweeps: 'always' | 'standin' | 'never';
  /** `doctor --all-checks` tries it even on a monitor that does not run it. */
  doctorAlways: boolean;
  /** A monitor that names no checks (nor defaults.checks) runs it. */
  byDefault: boolean;
  /** The setup steps doctor walks for it, in the order the manual procedure builds them. */
  checklist: readonly ChecklistStep[];
}

// In doctor's order: the order an admin sets the protocols up in.
export const CHECK = {
  imap: {
    label: PROTOCOL.imap.label,
    protocols: ['imap'],
    resource: 'exchange',
    sends: false,
    waitsForDelivery: false,
    sweeps: 'never',
    doctorAlways: true,
    byDefault: true,
    checklist: [
      { id: 'imap_xoauth2', title: 'IMAP reachable over TLS and offers AUTH=XOAUTH2', stages: ['connect', 'tls', 'greeting', 'capability'] },
      { id: 'imap_auth', title: 'IMAP AUTHENTICATE XOAUTH2 as the mailbox', stages: ['auth'] },
      { id: 'imap_list', title: 'IMAP LIST of the mailbox folders', stages: ['list', 'logout'] },
    ],
  },
  pop3: {
    label: PROTOCOL.pop3.label,
    protocols: ['pop3'],
    resource: 'exchange',
    sends: false,
    waitsForDelivery: false,
    sweeps: 'never',
    doctorAlways: true,
    byDefault: false,
    checklist: [
      { id: 'pop3_xoauth2', title: 'POP3 reachable over TLS and offers SASL XOAUTH2', stages: ['connect', 'tls', 'greeting', 'capability'] },
      { id: 'pop3_auth', title: 'POP3 AUTH XOAUTH2 as the mailbox', stages: ['auth'] },
      { id: 'pop3_stat', title: 'POP3 STAT', stages: ['stat', 'logout'] },
    ],
  },
  smtp: {
    label: PROTOCOL.smtp.label,
    protocols: ['smtp'],
    resource: 'exchange',
    sends: true,
    waitsForDelivery: false,
    sweeps: 'standin',
    doctorAlways: true,
    byDefault: true,
    checklist: [
      { id: 'smtp_xoauth2', title: 'SMTP STARTTLS, then AUTH XOAUTH2 offered', stages: ['connect', 'greeting', 'starttls', 'tls', 'capability'] },
      { id: 'smtp_auth', title: 'SMTP AUTH XOAUTH2 as the mailbox', stages: ['auth'] },
      { id: 'smtp_send', title: 'SMTP send to self', stages: ['send', 'logout'] },
    ],
  },
  roundtrip: {
    // Sends over SMTP, then finds and deletes the message over IMAP.
    label: 'Round trip',
    protocols: ['smtp', 'imap'],
    resource: 'exchange',
    sends: true,
    waitsForDelivery: true,
    sweeps: 'always',
    doctorAlways: false,
    byDefault: false,
    checklist: [
      {
        id: 'arrival',
        title: 'Probe mail arrives in the INBOX (round trip)',
        stages: ['connect', 'tls', 'greeting', 'capability', 'starttls', 'auth', 'send', 'list', 'delivery', 'cleanup', 'logout'],
      },
    ],
  },
  graph: {
    // Microsoft Graph's round trip: sendMail to the mailbox itself, find the message in the INBOX by its x- header,
    // delete it by id. Mail.ReadWrite (not Mail.Read) because it deletes. It deletes only its own message: Graph's
    // time-filtered list does not reach older leftovers, which an IMAP sweep (roundtrip, smtp's stand-in) removes.
    label: 'Microsoft Graph',
    protocols: ['graph'],
    resource: 'graph',
    roles: ['Mail.Send', 'Mail.ReadWrite'],
    rbacRoles: ['Application Mail.Send', 'Application Mail.ReadWrite'],
    sends: true,
    waitsForDelivery: true,
    sweeps: 'never',
    doctorAlways: false,
    byDefault: false,
    checklist: [
      { id: 'graph_send', title: 'Microsoft Graph sendMail as the mailbox (to itself)', stages: ['connect', 'tls', 'send'] },
      { id: 'graph_arrival', title: 'Probe mail found in the INBOX over Graph by its x- header', stages: ['list', 'delivery'] },
      { id: 'graph_cleanup', title: 'Probe mail deleted by id over Graph', stages: ['cleanup'] },
    ],
  },
  graphread: {
    // The read-only Graph check, for an app granted only to read: lists the newest INBOX message.
    label: 'Microsoft Graph (read)',
    protocols: ['graph'],
    resource: 'graph',
    roles: ['Mail.ReadBasic.All'],
    rbacRoles: ['Application Mail.ReadBasic'],
    sends: false,
    waitsForDelivery: false,
    sweeps: 'never',
    doctorAlways: false,
    byDefault: false,
    checklist: [{ id: 'graph_list', title: 'Microsoft Graph lists the INBOX', stages: ['connect', 'tls', 'list'] }],
  },
} as const satisfies Record<string, CheckDescriptor>;

export type CheckKind = keyof typeof CHECK;

/** The check kinds, in doctor's order (the table's). */
export const CHECK_KINDS = Object.keys(CHECK) as [CheckKind, ...CheckKind[]];

/** The checks of a monitor that names none. */
export const DEFAULT_CHECKS: readonly CheckKind[] = CHECK_KINDS.filter((check) => CHECK[check].byDefault);

/**
 * The application roles a check's token must hold, all of them: the check's own, else its protocols'; a monitor's
 * own role for a protocol (HVE's Mail.Send) replaces that protocol's.
 */
export function requiredRoles(check: CheckKind, roles: Readonly<Partial<Record<Protocol, string | undefined>>> = {}): string[] {
  const own = (CHECK[check] as CheckDescriptor).roles;
  return own ? [...own] : CHECK[check].protocols.map((protocol) => roles[protocol] ?? PROTOCOL[protocol].role);
}

/**
 * How the token was granted: as the app (client credentials; the permissions are application roles, the `roles`
 * claim) or on a user's sign-in (a delegated monitor; delegated permissions, the space-separated `scp` claim).
 */
export type GrantKind = 'application' | 'delegated';

/**
 * The permissions a check's token must hold for its kind of grant: the application roles (requiredRoles), or the
 * delegated permission of each protocol (IMAP.AccessAsUser.All, SMTP.Send …), which no Exchange-side grant replaces.
 */
export function requiredPermissions(check: CheckKind, grant: GrantKind, roles: Readonly<Partial<Record<Protocol, string | undefined>>> = {}): string[] {
  return grant === 'delegated' ? CHECK[check].protocols.map((protocol) => PROTOCOL[protocol].delegatedScope) : requiredRoles(check, roles);
}

/** A table with one entry per check kind, derived from the descriptors (the compiler cannot count fromEntries). */
export function byCheck<T>(derive: (check: CheckKind) => T): Record<CheckKind, T> {
  return Object.fromEntries(CHECK_KINDS.map((check) => [check, derive(check)])) as Record<CheckKind, T>;
}
