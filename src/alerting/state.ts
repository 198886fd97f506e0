import type { Cause } from '../core/cause.js';
import { isTenantWide, reasonCategory, type ReasonCode } from '../core/reasons.js';
import type { CheckIdentity, CheckResult } from '../core/result.js';
import { checkKey, type CheckState, type ResultEvent } from '../core/state.js';
import { fingerprintOf, tenantFingerprintOf, type Alert, type AlertEvent, type FailureDetails } from './alert.js';

export interface AlertPolicy {
  failureThreshold: number;
  successThreshold: number;
  /** 0 disables reminders. */
  repeatIntervalMs: number;
}

export interface FiringRecord {
  /** The reason last notified, so a new reason is told once and the same one never twice. */
  reason: FailureDetails['reason'];
  /** The cause last notified: a new one is told like a new reason (Alertmanager: a new label set, the old one ended). */
  cause?: Cause;
  notifiedAt: number;
  /** Notifiers that were told it fired; they, and only they, hear every update and the resolution. */
  notifiers: string[];
}

/**
 * Per (monitor, check); only checks that are failing or firing have one, so a healthy fleet costs nothing. The
 * streak is the agent's fold (CheckState), copied here when seen so a restart without history resumes it.
 */
export interface AlertState extends CheckIdentity {
  failures: number;
  /** Consecutive successes while firing, counted towards successThreshold. */
  successes: number;
  /** Start of the first failing check of the streak; a firing alert keeps it while it flaps. */
  since: number;
  last: FailureDetails;
  firing?: FiringRecord;
}

export interface Observation {
  /** False when nothing needs persisting (a passing check that was already healthy). */
  changed: boolean;
  alert?: Alert;
  state?: AlertState;
}

export function failureDetails(result: CheckResult, cause?: Cause): FailureDetails {
  const failure = result.outcome.failure;
  const reason = result.reason ?? 'internal_error';
  return {
    stage: failure?.stage ?? 'config',
    reason,
    category: reasonCategory(reason),
    summary: result.diagnosis?.summary ?? failure?.message ?? 'check failed',
    ...(failure?.serverText !== undefined ? { serverText: failure.serverText } : {}),
    ...(failure?.message !== undefined ? { detail: failure.message } : {}),
    fixes: result.diagnosis?.fixes ?? [],
    ...(cause !== undefined && !isTenantWide(reason) ? { cause } : {}),
  };
}

export function alertOf(state: AlertState, event: AlertEvent, endedAt?: number, previous?: Alert['previous']): Alert {
  return {
    event,
    status: event === 'resolved' ? 'resolved' : 'firing',
    fingerprint: fingerprintOf(state),
    monitor: state.monitor,
    tenant: state.tenant,
    mailbox: state.mailbox,
    check: state.check,
    ...state.last,
    startedAt: state.since,
    ...(endedAt !== undefined ? { endedAt } : {}),
    ...(previous ? { previous } : {}),
  };
}

// The alert state machine, kept apart from delivery (as gatus keeps watchdog/alerting.go apart from its
// providers): it only decides which results deserve a notification.
export class AlertStates {
  readonly #policy: AlertPolicy;
  readonly #states = new Map<string, AlertState>();

  constructor(policy: AlertPolicy, saved: readonly AlertState[] = []) {
    this.#policy = policy;
    for (const state of saved) this.#states.set(checkKey(state), state);
  }

  /** Feeds one result with the state the agent folded it into; `now` (epoch ms) paces reminders. */
  observe({ result, state: folded, cause }: ResultEvent, now: number): Observation {
    const key = checkKey(result);
    const state = this.#states.get(key);
    if (result.outcome.ok) return this.#pass(key, state, folded, result.startedAt);
    return this.#fail(key, state, result, folded, now, cause);
  }

  /** The streaks saved with the alert states, for the agent's fold when no history restored them. */
  streaks(): Map<string, CheckState> {
    const streaks = new Map<string, CheckState>();
    for (const [key, state] of this.#states) {
      const failing = state.failures > 0;
      streaks.set(key, {
        state: failing ? 'failing' : 'ok',
        since: state.since,
        consecutiveFailures: state.failures,
        consecutiveSuccesses: state.successes,
        firstSeenAt: state.since,
        lastAt: state.since,
      });
    }
    return streaks;
  }

  /** Records who heard about a firing alert (every check of a tenant-wide one), so updates and the resolution go to them. */
  setNotifiers(alert: Pick<Alert, 'monitor' | 'check' | 'tenant' | 'reason' | 'mailboxes'>, notifiers: readonly string[]): void {
    const told = alert.mailboxes ? this.#members(alert.tenant, alert.reason) : [this.#states.get(checkKey(alert))];
    for (const state of told) if (state?.firing) state.firing.notifiers = [...notifiers];
  }

  /** Everything currently firing, for periodic re-posting (Alertmanager); a tenant-wide alert once. */
  firing(): Array<{ alert: Alert; notifiers: readonly string[] }> {
    const fingerprints = new Set<string>();
    return [...this.#states.values()].flatMap((state) => {
      if (!state.firing) return [];
      const alert = this.#alertOf(state, 'repeat');
      if (fingerprints.has(alert.fingerprint)) return [];
      fingerprints.add(alert.fingerprint);
      return [{ alert, notifiers: state.firing.notifiers }];
    });
  }

  /** Drops the state of checks no longer configured; returns the resolutions owed for those that were firing. */
  retain(active: ReadonlySet<string>, now: number): Array<{ alert: Alert; state: AlertState }> {
    const resolved: Array<{ alert: Alert; state: AlertState }> = [];
    for (const [key, state] of this.#states) {
      if (active.has(key)) continue;
      this.#states.delete(key);
      if (state.firing && !this.#joinedByOthers(state)) resolved.push({ alert: this.#alertOf(state, 'resolved', now), state });
    }
    return resolved;
  }

  snapshot(): AlertState[] {
    return [...this.#states.values()].map((state) => structuredClone(state));
  }

  #pass(key: string, state: AlertState | undefined, folded: CheckState, startedAt: number): Observation {
    if (!state) return { changed: false };
    if (!state.firing) {
      this.#states.delete(key);
      return { changed: true };
    }
    state.failures = folded.consecutiveFailures;
    state.successes = folded.consecutiveSuccesses;
    if (state.successes < this.#policy.successThreshold) return { changed: true, state };
    this.#states.delete(key);
    if (this.#joinedByOthers(state)) return { changed: true, state };
    return { changed: true, alert: this.#alertOf(state, 'resolved', startedAt), state };
  }

  #fail(key: string, existing: AlertState | undefined, result: CheckResult, folded: CheckState, now: number, cause: Cause | undefined): Observation {
    const details = failureDetails(result, cause);
    const state: AlertState = existing ?? {
      monitor: result.monitor,
      tenant: result.tenant,
      mailbox: result.mailbox,
      check: result.check,
      failures: 0,
      successes: 0,
      since: folded.since,
      last: details,
    };
    this.#states.set(key, state);
    const told = state.firing;
    // A check moving between a tenant-wide reason and a per-check one ends the incident it was part of (told with
    // the details it had); its next failure, already past the threshold, opens the other incident.
    if (told && told.reason !== details.reason && (isTenantWide(told.reason) || isTenantWide(details.reason))) {
      const ended = { ...state, firing: told };
      delete state.firing;
      Object.assign(state, { failures: folded.consecutiveFailures, successes: folded.consecutiveSuccesses, last: details });
      if (this.#joinedByOthers(ended)) return { changed: true, state };
      return { changed: true, alert: this.#alertOf(ended, 'resolved', result.startedAt), state: ended };
    }
    state.failures = folded.consecutiveFailures;
    state.successes = folded.consecutiveSuccesses;
    state.last = details;
    const event = this.#eventOnFailure(state, now);
    if (!event) return { changed: true, state };
    if (isTenantWide(details.reason)) return this.#tenantWide(state, event, now);
    const previous =
      event === 'reason_changed' && told
        ? { reason: told.reason, category: reasonCategory(told.reason), ...(told.cause !== undefined ? { cause: told.cause } : {}), endedAt: result.startedAt }
        : undefined;
    state.firing = {
      reason: details.reason,
      ...(details.cause !== undefined ? { cause: details.cause } : {}),
      notifiedAt: now,
      notifiers: told?.notifiers ?? [],
    };
    return { changed: true, alert: alertOf(state, event, undefined, previous), state };
  }

  // One incident per (tenant, reason): the first check past the threshold fires it, the others join it silently
  // (sharing its notifiers and reminder clock), a reminder goes out once for all, and it resolves with the last.
  #tenantWide(state: AlertState, event: AlertEvent, now: number): Observation {
    const reason = state.last.reason;
    const joined = this.#members(state.tenant, reason).find((member) => member !== state)?.firing;
    if (event === 'firing' && joined) {
      state.firing = { reason, notifiedAt: joined.notifiedAt, notifiers: [...joined.notifiers] };
      return { changed: true, state };
    }
    state.firing = { reason, notifiedAt: now, notifiers: state.firing?.notifiers ?? [] };
    for (const member of this.#members(state.tenant, reason)) if (member.firing) member.firing.notifiedAt = now;
    return { changed: true, alert: this.#alertOf(state, event), state };
  }

  #members(tenant: string, reason: ReasonCode): AlertState[] {
    return [...this.#states.values()].filter((state) => state.tenant === tenant && state.firing?.reason === reason);
  }

  /** Whether a check leaving a tenant-wide incident leaves others in it (then its leaving tells no one). */
  #joinedByOthers(state: AlertState): boolean {
    const reason = state.firing?.reason;
    return reason !== undefined && isTenantWide(reason) && this.#members(state.tenant, reason).some((member) => checkKey(member) !== checkKey(state));
  }

  /** A tenant-wide alert lists every mailbox told under it or failing with it on the way there. */
  #alertOf(state: AlertState, event: AlertEvent, endedAt?: number): Alert {
    const alert = alertOf(state, event, endedAt);
    const reason = state.firing?.reason ?? state.last.reason;
    if (!isTenantWide(reason)) return alert;
    const affected = [...this.#states.values()].filter(
      (other) => other.tenant === state.tenant && (other.firing?.reason === reason || (other.failures > 0 && other.last.reason === reason)),
    );
    return {
      ...alert,
      fingerprint: tenantFingerprintOf(state.tenant, reason),
      startedAt: Math.min(state.since, ...affected.map((other) => other.since)),
      mailboxes: [...new Set([state.mailbox, ...affected.map((other) => other.mailbox)])].sort(),
    };
  }

  #eventOnFailure(state: AlertState, now: number): AlertEvent | undefined {
    const { firing } = state;
    if (!firing) return state.failures >= this.#policy.failureThreshold ? 'firing' : undefined;
    if (firing.reason !== state.last.reason || firing.cause !== state.last.cause) return 'reason_changed';
    const { repeatIntervalMs } = this.#policy;
    if (repeatIntervalMs > 0 && now - firing.notifiedAt >= repeatIntervalMs) return 'repeat';
    return undefined;
  }
}
