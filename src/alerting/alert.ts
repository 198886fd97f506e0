import { createHash } from 'node:crypto';
import type { ReasonCategory, ReasonCode } from '../core/reasons.js';
import type { Cause } from '../core/cause.js';
import type { Stage } from '../core/check.js';
import type { CheckIdentity } from '../core/result.js';
import { checkKey } from '../core/state.js';

/** Why a notification goes out: a new alert, a new reason or cause while firing, a reminder, or the all-clear. */
export type AlertEvent = 'firing' | 'reason_changed' | 'repeat' | 'resolved';

/** What broke, as the last failing check saw it. */
export interface FailureDetails {
  stage: Stage;
  reason: ReasonCode;
  category: ReasonCategory;
  summary: string;
  serverText?: string;
  /** What went wrong in mailprobe's words (the check's failure message), e.g. which env var is missing. */
  detail?: string;
  fixes: string[];
  /**
   * The monitor's cause (core/cause.ts), weighed over all its checks when this one failed; absent on a tenant-wide
   * alert, whose mailboxes' monitors may each have their own.
   */
  cause?: Cause;
}

/** One notification's content; providers turn it into their receiver's body. */
export interface Alert extends CheckIdentity, FailureDetails {
  event: AlertEvent;
  status: 'firing' | 'resolved';
  /** Stable per (monitor, check) across reasons and restarts, so receivers can pair firing with resolved. */
  fingerprint: string;
  /** Start of the first failing check of this incident, epoch milliseconds. */
  startedAt: number;
  /** Start of the check that resolved it, epoch milliseconds; set exactly when status is resolved. */
  endedAt?: number;
  /** On a reason_changed event: the reason and cause told before, and the start of the check that saw the new one. */
  previous?: { reason: ReasonCode; category: ReasonCategory; cause?: Cause; endedAt: number };
  /**
   * Set exactly when the reason blocks the whole tenant (isTenantWide): the alert stands for every check of the
   * tenant failing with it, these are their mailboxes (sorted), and monitor/mailbox/check name the one that spoke.
   */
  mailboxes?: string[];
}

/** Stable per (tenant, reason) for a tenant-wide alert, whichever of its checks fired or resolved it. */
export function tenantFingerprintOf(tenant: string, reason: ReasonCode): string {
  return createHash('sha256').update(`tenant\u0000${tenant}\u0000${reason}`).digest('hex').slice(0, 16);
}

export function fingerprintOf(identity: Pick<CheckIdentity, 'monitor' | 'check'>): string {
  return createHash('sha256').update(checkKey(identity)).digest('hex').slice(0, 16);
}
