import { PROTOCOLS, type CheckKind, type Protocol, type Stage } from './check.js';
import { CHECK } from './checks.js';
import { PROTOCOL } from './protocols.js';
import { reasonCategory, type ReasonCategory, type ReasonCode } from './reasons.js';
import type { CheckResult } from './result.js';

// Attribution: a monitor's latest check results combined into one cause, the first question on call ("is it the
// protocol, the mailbox, the identity or mail flow?"). Alert labels, the cause metric and reports key on these
// strings, so a value is never renamed once released. docs/attribution.md explains each rule with its evidence.

export const CAUSES = [
  'identity',
  ...PROTOCOLS.map((protocol) => `protocol:${protocol}` as const),
  'smtp_auth_gate',
  'mailbox',
  'mail_flow',
  'service',
  'unknown',
] as const;
export type Cause = 'identity' | `protocol:${Protocol}` | 'smtp_auth_gate' | 'mailbox' | 'mail_flow' | 'service' | 'unknown';

export function isCause(value: string): value is Cause {
  return (CAUSES as readonly string[]).includes(value);
}

export type ProtocolCause = `protocol:${Protocol}`;

export function isProtocolCause(cause: Cause): cause is ProtocolCause {
  return cause.startsWith('protocol:');
}

/** The protocol a `protocol:<p>` cause names. */
export function causeProtocol(cause: ProtocolCause): Protocol {
  return cause.slice('protocol:'.length) as Protocol;
}

/** What one failed check says on its own, before the monitor's other checks are weighed. */
export type Evidence =
  /** No token for this path (Entra refused, or the token lacks what the path needs). */
  | 'identity'
  /** The server answered and refused this path's sign-in or command. */
  | 'refused'
  /** SMTP AUTH is switched off for the tenant or mailbox, or a sign-in policy blocks it. */
  | 'gate'
  /** The mailbox itself is missing, full, blocked or cannot be opened. */
  | 'mailbox'
  /** A send was accepted and nothing arrived, or the tenant may not send out. */
  | 'flow'
  /** The servers (mail or sign-in) cannot be reached, or say they are failing. */
  | 'service'
  /** Nothing about the outside world: mailprobe's configuration, its own send budget or its own bug. */
  | 'none';

const BY_CATEGORY: Record<ReasonCategory, Evidence> = {
  config: 'none',
  token: 'identity',
  // a delegated monitor's user must sign in again: the identity, not the mail service
  signin: 'identity',
  transport: 'service',
  auth: 'refused',
  mailbox: 'mailbox',
  delivery: 'flow',
  server: 'service',
};

// Reasons whose category alone would mislead attribution. A reason not listed takes its category's evidence, so
// a new reason needs a line here only when it means something else.
const BY_REASON: Partial<Record<ReasonCode, Evidence>> = {
  credential_missing: 'identity',
  smtp_auth_disabled_tenant: 'gate',
  smtp_auth_disabled_mailbox: 'gate',
  smtp_auth_policy_blocked: 'gate',
  invalid_user: 'mailbox',
  mailbox_logon_failed: 'mailbox',
  // mailprobe's own bugs and limits say nothing about Microsoft 365
  auth_mechanism_rejected: 'none',
  basic_auth_rejected: 'none',
  not_authenticated: 'none',
  internal_error: 'none',
  send_budget_exhausted: 'none',
  // the delete after arrival failed: mail flowed, the mailbox refused
  cleanup_failed: 'mailbox',
  // the tenant's daily limit for outside recipients stops its outbound mail flow, not one mailbox
  tenant_external_limit: 'flow',
};

export function evidenceOf(reason: ReasonCode): Evidence {
  return BY_REASON[reason] ?? BY_CATEGORY[reasonCategory(reason)];
}

// A failure at one of these stages happened after the path had signed in to the mailbox: it reached it.
const REACHED_MAILBOX: ReadonlySet<Stage> = new Set<Stage>(['list', 'stat', 'send', 'delivery', 'cleanup', 'logout']);

/** The latest result of one check of a monitor, as attribution reads it. */
export interface CheckEvidence {
  check: CheckKind;
  ok: boolean;
  /** Present exactly when the check failed. */
  reason?: ReasonCode;
  stage?: Stage;
  /** The path that failed: the protocol the probe spoke, or the check's only protocol. */
  protocol?: Protocol;
}

export function checkEvidence(result: CheckResult): CheckEvidence {
  if (result.outcome.ok) return { check: result.check, ok: true };
  const failure = result.outcome.failure;
  const protocols: readonly Protocol[] = CHECK[result.check].protocols;
  const protocol = failure?.protocol ?? result.diagnosis?.protocol ?? (protocols.length === 1 ? protocols[0] : undefined);
  return {
    check: result.check,
    ok: false,
    reason: result.reason ?? failure?.reason ?? 'internal_error',
    stage: failure?.stage ?? 'config',
    ...(protocol ? { protocol } : {}),
  };
}

export interface Attribution {
  /** Another tenant's monitor fails on every path with service evidence at the same time. */
  serviceDownElsewhere: boolean;
}

/** Whether every check that ran failed with service evidence: one tenant's share of a `service` cause. */
export function allPathsDown(checks: readonly CheckEvidence[]): boolean {
  return checks.length > 0 && checks.every((check) => !check.ok && evidenceOf(check.reason ?? 'internal_error') === 'service');
}

type Rule = { cause: Cause | 'protocol'; when: string; applies: (checks: Failing) => boolean };
interface Failing {
  all: readonly CheckEvidence[];
  failing: ReadonlyArray<CheckEvidence & { evidence: Evidence }>;
  passing: number;
  elsewhere: boolean;
}

const every = (checks: Failing, ...kinds: Evidence[]): boolean => checks.failing.every((check) => kinds.includes(check.evidence));
const some = (checks: Failing, kind: Evidence): boolean => checks.failing.some((check) => check.evidence === kind);
// Another path got as far as the mailbox: a check passed, or failed only after signing in. A failure that is itself a
// refusal, a missing token or a lost server shows no such thing at any stage: an HTTPS path is authorised, refused or
// cut in the one request of its 'send' step, and a session that loses its server mid-way says nothing of the mailbox.
const NOT_REACHING: ReadonlySet<Evidence> = new Set<Evidence>(['refused', 'identity', 'service']);
const anotherReaches = (checks: Failing): boolean =>
  checks.passing > 0 || checks.failing.some((check) => check.stage !== undefined && REACHED_MAILBOX.has(check.stage) && !NOT_REACHING.has(check.evidence));

/** The rules in the order they are tried; the first that applies names the cause. README and docs/attribution.md show this table. */
export const CAUSE_RULES: readonly Rule[] = [
  { cause: 'identity', when: 'no check passes and every failing one has no token', applies: (c) => c.passing === 0 && every(c, 'identity') },
  { cause: 'smtp_auth_gate', when: 'SMTP AUTH is off for the tenant or mailbox, or a policy blocks it', applies: (c) => some(c, 'gate') },
  {
    cause: 'service',
    when: 'no check passes, every one finds the servers unreachable or failing, and so does another tenant',
    applies: (c) => c.passing === 0 && every(c, 'service') && c.elsewhere,
  },
  { cause: 'mail_flow', when: 'a send was accepted and nothing arrived (or the tenant may not send out)', applies: (c) => some(c, 'flow') },
  { cause: 'mailbox', when: 'a path says the mailbox is missing, full, blocked or cannot be opened', applies: (c) => some(c, 'mailbox') },
  {
    cause: 'protocol',
    when: "one path is refused, has no token or no server while another reaches the mailbox; that path's protocol",
    applies: (c) => anotherReaches(c) && c.failing.some((check) => check.protocol !== undefined && check.evidence !== 'none'),
  },
  {
    cause: 'mailbox',
    when: 'two or more paths reach the service and every one is refused',
    applies: (c) => c.all.length > 1 && c.passing === 0 && every(c, 'refused'),
  },
  {
    cause: 'protocol',
    when: "a monitor's only check is refused: that check's protocol",
    applies: (c) => c.all.length === 1 && every(c, 'refused') && c.failing[0]?.protocol !== undefined,
  },
];

/**
 * The one cause of a monitor's failure from the latest result of each of its checks that has run; undefined while
 * none fails. `unknown` when the checks configured cannot tell (e.g. one tenant's servers unreachable: the agent's
 * own network or the service).
 */
export function causeOf(checks: readonly CheckEvidence[], context: Attribution): Cause | undefined {
  const failing = checks.filter((check) => !check.ok).map((check) => ({ ...check, evidence: evidenceOf(check.reason ?? 'internal_error') }));
  if (failing.length === 0) return undefined;
  const input: Failing = { all: checks, failing, passing: checks.length - failing.length, elsewhere: context.serviceDownElsewhere };
  const rule = CAUSE_RULES.find((candidate) => candidate.applies(input));
  if (!rule) return 'unknown';
  if (rule.cause !== 'protocol') return rule.cause;
  return failedProtocol(failing) ?? 'unknown';
}

// Several paths may fail while one reaches: the first in protocol order names the cause, so it does not flap with
// the order results arrive in.
function failedProtocol(failing: ReadonlyArray<CheckEvidence & { evidence: Evidence }>): Cause | undefined {
  const failed = new Set(failing.filter((check) => check.evidence !== 'none').map((check) => check.protocol));
  const protocol = PROTOCOLS.find((candidate) => failed.has(candidate));
  return protocol && `protocol:${protocol}`;
}

const CAUSE_WORDS: Record<Exclude<Cause, ProtocolCause>, string> = {
  identity: 'The app cannot sign in to Microsoft 365 for any of its checks: the problem is its sign-in (app, credential or consent).',
  smtp_auth_gate: 'Sending with SMTP AUTH is turned off or blocked by a policy: the problem is that setting, not the mailbox.',
  mailbox: 'The problem is the mailbox itself: it is missing, full, blocked, or refuses every way in.',
  mail_flow: 'Test messages are accepted but do not arrive: the problem is mail flow.',
  service: 'Microsoft 365 cannot be reached, here and for other organisations: the problem is the service.',
  unknown: 'The checks configured cannot tell where the problem lies.',
};

/** What a cause means in plain words, for alerts and the public page alike: names no tenant, app or mailbox. */
export function plainCause(cause: Cause): string {
  if (!isProtocolCause(cause)) return CAUSE_WORDS[cause];
  const label = PROTOCOL[causeProtocol(cause)].label;
  return `${label} is refused while other ways into the same mailbox work: the problem is the ${label} path.`;
}
