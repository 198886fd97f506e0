import type { CheckKind, Protocol } from './check.js';
import type { Cloud } from './clouds.js';
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
  /** What the fixes were written for, set by the runner: the protocol that failed and the tenant's cloud (its hosts, its scope). */
  protocol?: Protocol;
  cloud?: Cloud;
}

/**
 * How a passing check was authorised, read from the token it used: Entra application roles it carried, and the
 * roles it needed but lacked, which the server must then have granted itself (Exchange RBAC for Applications,
 * or another Exchange-side grant).
 */
export interface Authorisation {
  entraRoles: string[];
  exchangeGranted: string[];
}

/** What the runner hands to metrics, logs, the status API and alerting after every check. */
export interface CheckResult extends CheckIdentity {
  /** Wall-clock start, epoch milliseconds. */
  startedAt: number;
  durationSeconds: number;
  outcome: ProbeOutcome;
  /**
   * Present exactly when the check failed: the reason every consumer (metrics, alerts, history, status, logs)
   * reports it under, set once by the runner from the diagnosis, which may refine the probe's own (auth_failed
   * becomes role_missing once the token is read). The probe's own stays in outcome.failure as it reported it.
   */
  reason?: ReasonCode;
  /** Present exactly when the check failed. */
  diagnosis?: Diagnosis;
  /** Present when the check passed with a token the runner could read. */
  authorisation?: Authorisation;
  /**
   * The server or login service asked us to wait before trying again (throttling): how long this check waits,
   * at most three of its intervals however long the server asked (see SERVER_BACKOFF_INTERVALS).
   */
  retryAfterSeconds?: number;
}

/** Until when a check waits because its server asked (epoch ms); undefined when none asked. */
export function backoffUntil(result: Pick<CheckResult, 'startedAt' | 'durationSeconds' | 'retryAfterSeconds'>): number | undefined {
  if (result.retryAfterSeconds === undefined) return undefined;
  return Math.round(result.startedAt + result.durationSeconds * 1000 + result.retryAfterSeconds * 1000);
}
