import type { Cause } from './cause.js';
import { displayFacts } from './outcome.js';
import { backoffUntil, type CheckIdentity } from './result.js';
import type { ResultEvent } from './state.js';

/**
 * A delegated tenant entry's sign-in as the agent last read or renewed it (never a token): when the person signed
 * in, when the refresh token was last renewed, and when it lapses unless renewed — 90 days unused (inactivity) or
 * a Conditional Access sign-in frequency, whichever comes first. Epoch milliseconds.
 */
export interface SignInStatus {
  account: string;
  signedInAt: number;
  refreshedAt: number;
  lapsesAt: number;
  cause: 'inactivity' | 'sign_in_frequency';
}

/** A check as /api/status, the status page and `doctor` show it: where it stands and what its latest run said. */
export interface CheckStatus extends CheckIdentity {
  state: 'pending' | 'ok' | 'failing';
  consecutiveFailures: number;
  /** When the current state (ok or failing) began, as far as this agent has seen; absent while pending. */
  since?: string;
  lastSuccessAt?: string;
  /** The latest run's server asked to wait: no run before this time (capped at three intervals). */
  backingOffUntil?: string;
  /** The monitor's cause while one of its checks fails (core/cause.ts), the same on each of its checks' entries. */
  cause?: Cause;
  last?: {
    at: string;
    durationSeconds: number;
    ok: boolean;
    stage?: string;
    reason?: string;
    serverText?: string;
    message?: string;
    summary?: string;
    candidates?: string[];
    fixes?: string[];
    steps: Array<{ step: string; seconds: number }>;
    facts: Record<string, string | number | boolean>;
  };
}

/** The board's entry for a result and the state it folded into; history stores the same entry for restarts. */
export function statusOf({ result, state, cause }: ResultEvent): CheckStatus {
  const failure = result.outcome.failure;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const until = backoffUntil(result);
  return {
    monitor: result.monitor,
    tenant: result.tenant,
    mailbox: result.mailbox,
    check: result.check,
    state: state.state,
    since: iso(state.since),
    consecutiveFailures: state.consecutiveFailures,
    ...(state.lastSuccessAt !== undefined ? { lastSuccessAt: iso(state.lastSuccessAt) } : {}),
    ...(until !== undefined ? { backingOffUntil: iso(until) } : {}),
    ...(cause !== undefined ? { cause } : {}),
    last: {
      at: iso(result.startedAt),
      durationSeconds: result.durationSeconds,
      ok: result.outcome.ok,
      ...(failure
        ? {
            stage: failure.stage,
            reason: result.reason ?? 'internal_error',
            message: failure.message,
            ...(failure.serverText !== undefined ? { serverText: failure.serverText } : {}),
          }
        : {}),
      ...(result.diagnosis ? { summary: result.diagnosis.summary, candidates: result.diagnosis.candidates, fixes: result.diagnosis.fixes } : {}),
      steps: result.outcome.steps,
      facts: displayFacts(result.outcome),
    },
  };
}
