import { reasonCategory } from '../core/reasons.js';
import type { CheckIdentity, CheckResult } from '../core/result.js';
import { checkKey, type CheckState, type ResultEvent } from '../core/state.js';
import { fingerprintOf, type Alert, type AlertEvent, type FailureDetails } from './alert.js';

export interface AlertPolicy {
  failureThreshold: number;
  successThreshold: number;
  /** 0 disables reminders. */
  repeatIntervalMs: number;
}

export interface FiringRecord {
  /** The reason last notified, so a new reason is told once and the same one never twice. */
  reason: FailureDetails['reason'];
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

export function failureDetails(result: CheckResult): FailureDetails {
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
  observe({ result, state: folded }: ResultEvent, now: number): Observation {
    const key = checkKey(result);
    const state = this.#states.get(key);
    if (result.outcome.ok) return this.#pass(key, state, folded, result.startedAt);
    return this.#fail(key, state, result, folded, now);
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

  /** Records who heard about a firing alert, so updates and the resolution go to them. */
  setNotifiers(identity: Pick<CheckIdentity, 'monitor' | 'check'>, notifiers: readonly string[]): void {
    const firing = this.#states.get(checkKey(identity))?.firing;
    if (firing) firing.notifiers = [...notifiers];
  }

  /** Everything currently firing, for periodic re-posting (Alertmanager). */
  firing(): Array<{ alert: Alert; notifiers: readonly string[] }> {
    return [...this.#states.values()].flatMap((state) =>
      state.firing ? [{ alert: alertOf(state, 'repeat'), notifiers: state.firing.notifiers }] : [],
    );
  }

  /** Drops the state of checks no longer configured; returns the resolutions owed for those that were firing. */
  retain(active: ReadonlySet<string>, now: number): Array<{ alert: Alert; state: AlertState }> {
    const resolved: Array<{ alert: Alert; state: AlertState }> = [];
    for (const [key, state] of this.#states) {
      if (active.has(key)) continue;
      this.#states.delete(key);
      if (state.firing) resolved.push({ alert: alertOf(state, 'resolved', now), state });
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
    return { changed: true, alert: alertOf(state, 'resolved', startedAt), state };
  }

  #fail(key: string, existing: AlertState | undefined, result: CheckResult, folded: CheckState, now: number): Observation {
    const details = failureDetails(result);
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
    state.failures = folded.consecutiveFailures;
    state.successes = folded.consecutiveSuccesses;
    state.last = details;
    const event = this.#eventOnFailure(state, now);
    if (!event) return { changed: true, state };
    const told = state.firing?.reason;
    const previous = event === 'reason_changed' && told ? { reason: told, category: reasonCategory(told), endedAt: result.startedAt } : undefined;
    state.firing = { reason: details.reason, notifiedAt: now, notifiers: state.firing?.notifiers ?? [] };
    return { changed: true, alert: alertOf(state, event, undefined, previous), state };
  }

  #eventOnFailure(state: AlertState, now: number): AlertEvent | undefined {
    const { firing } = state;
    if (!firing) return state.failures >= this.#policy.failureThreshold ? 'firing' : undefined;
    if (firing.reason !== state.last.reason) return 'reason_changed';
    const { repeatIntervalMs } = this.#policy;
    if (repeatIntervalMs > 0 && now - firing.notifiedAt >= repeatIntervalMs) return 'repeat';
    return undefined;
  }
}
