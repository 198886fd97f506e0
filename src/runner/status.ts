import { backoffUntil, resultReason, type CheckIdentity, type CheckResult } from '../core/result.js';
import { jobKey, type Job } from './scheduler.js';

export interface CheckStatus extends CheckIdentity {
  state: 'pending' | 'ok' | 'failing';
  consecutiveFailures: number;
  /** When the current state (ok or failing) began, as far as this agent has seen; absent while pending. */
  since?: string;
  lastSuccessAt?: string;
  /** The latest run's server asked to wait: no run before this time (capped at three intervals). */
  backingOffUntil?: string;
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

type LastRun = NonNullable<CheckStatus['last']>;
type Step = LastRun['steps'][number];

/**
 * An entry as the board keeps it: the steps of the latest run as one string ("tls 0.0123 greeting 0.0041 …").
 * As an array of objects they were 12.8 MB of 114 MB live heap at 10,000 monitors × 2 checks (8 objects, 8 boxed
 * numbers and an array per check, all replaced by every run and so spread as holes across the old generation).
 */
type StoredStatus = Omit<CheckStatus, 'last'> & { last?: Omit<LastRun, 'steps'> & { steps: string } };

/** The latest result of every check, as /api/status and `doctor` show it. Holds no tokens or secrets. */
export class StatusBoard {
  readonly #entries = new Map<string, StoredStatus>();

  expect(jobs: readonly Job[]): void {
    for (const job of jobs) {
      if (this.#entries.has(job.key)) continue;
      this.#entries.set(job.key, {
        monitor: job.monitor.name,
        tenant: job.monitor.tenant.key,
        mailbox: job.monitor.mailbox,
        check: job.check,
        state: 'pending',
        consecutiveFailures: 0,
      });
    }
  }

  update(job: Job, result: CheckResult): void {
    this.#entries.set(job.key, stored(nextStatus(this.#entries.get(job.key), result)));
  }

  /** Entries saved before a restart (history store), shown until each check runs again. */
  restore(entries: readonly CheckStatus[]): void {
    for (const entry of entries) this.#entries.set(jobKey(entry.monitor, entry.check), stored(entry));
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  identity(key: string): CheckIdentity | undefined {
    const entry = this.#entries.get(key);
    return entry && { monitor: entry.monitor, tenant: entry.tenant, mailbox: entry.mailbox, check: entry.check };
  }

  remove(key: string): void {
    this.#entries.delete(key);
  }

  list(): CheckStatus[] {
    return Array.from(this.#entries.values(), expanded);
  }
}

function stored(status: CheckStatus): StoredStatus {
  if (!status.last) return status as StoredStatus;
  return { ...status, last: { ...status.last, steps: status.last.steps.map(({ step, seconds }) => `${step} ${seconds}`).join(' ') } };
}

function expanded(entry: StoredStatus): CheckStatus {
  if (!entry.last) return entry as CheckStatus;
  return { ...entry, last: { ...entry.last, steps: parseSteps(entry.last.steps) } };
}

function parseSteps(text: string): Step[] {
  const words = text === '' ? [] : text.split(' ');
  const steps: Step[] = [];
  for (let i = 0; i + 1 < words.length; i += 2) steps.push({ step: words[i] ?? '', seconds: Number(words[i + 1]) });
  return steps;
}

/** The entry after one more result; the history store keeps the same view for restarts. */
export function nextStatus(previous: Pick<CheckStatus, 'state' | 'since' | 'consecutiveFailures' | 'lastSuccessAt'> | undefined, result: CheckResult): CheckStatus {
  const failure = result.outcome.failure;
  const at = new Date(result.startedAt).toISOString();
  const ok = result.outcome.ok;
  const until = backoffUntil(result);
  return {
    monitor: result.monitor,
    tenant: result.tenant,
    mailbox: result.mailbox,
    check: result.check,
    state: ok ? 'ok' : 'failing',
    since: previous?.since !== undefined && previous.state === (ok ? 'ok' : 'failing') ? previous.since : at,
    consecutiveFailures: ok ? 0 : (previous?.consecutiveFailures ?? 0) + 1,
    ...(ok ? { lastSuccessAt: at } : previous?.lastSuccessAt ? { lastSuccessAt: previous.lastSuccessAt } : {}),
    ...(until !== undefined ? { backingOffUntil: new Date(until).toISOString() } : {}),
    last: {
      at,
      durationSeconds: result.durationSeconds,
      ok,
      ...(failure
        ? {
            stage: failure.stage,
            reason: resultReason(result) ?? failure.reason,
            message: failure.message,
            ...(failure.serverText !== undefined ? { serverText: failure.serverText } : {}),
          }
        : {}),
      ...(result.diagnosis ? { summary: result.diagnosis.summary, candidates: result.diagnosis.candidates, fixes: result.diagnosis.fixes } : {}),
      steps: result.outcome.steps,
      facts: result.outcome.facts,
    },
  };
}
