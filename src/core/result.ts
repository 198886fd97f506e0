import type { CheckKind } from './check.js';
import type { ProbeOutcome } from './outcome.js';
import type { ReasonCode } from './reasons.js';

export interface CheckIdentity {
  monitor: string;
  tenant: string;
  mailbox: string;
  check: CheckKind;
}

export interface Diagnosis {
  reason: ReasonCode;
  /** One line an on-call person reads first. */
  summary: string;
  /** Remaining possible causes, most likely first, when the server's answer is generic. */
  candidates: string[];
  /** Commands or portal steps with the monitor's real values filled in. */
  fixes: string[];
}

/** What the runner hands to metrics, logs, the status API and alerting after every check. */
export interface CheckResult extends CheckIdentity {
  /** Wall-clock start, epoch milliseconds. */
  startedAt: number;
  durationSeconds: number;
  outcome: ProbeOutcome;
  /** Present exactly when the check failed. */
  diagnosis?: Diagnosis;
  /** The server or login service asked us to wait this long before trying again (throttling). */
  retryAfterSeconds?: number;
}
