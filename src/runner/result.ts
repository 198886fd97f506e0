import type { Diagnosis } from '../diagnose/types.js';
import type { CheckKind, ProbeOutcome } from '../probes/types.js';

export interface CheckIdentity {
  monitor: string;
  tenant: string;
  mailbox: string;
  check: CheckKind;
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
