import type { Cause } from '../core/cause.js';
import type { CheckIdentity } from '../core/result.js';
import { checkKey, type ResultEvent } from '../core/state.js';
import { statusOf, type CheckStatus, type SignInStatus } from '../core/status.js';
import type { Job } from './scheduler.js';

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
  /** Each failing monitor's cause as of its latest result, shown on every entry of the monitor. */
  readonly #causes = new Map<string, Cause>();

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

  update(event: ResultEvent): void {
    this.#entries.set(checkKey(event.result), stored(statusOf(event)));
    if (event.cause === undefined) this.#causes.delete(event.result.monitor);
    else this.#causes.set(event.result.monitor, event.cause);
  }

  /** Entries saved before a restart (history store), shown until each check runs again. */
  restore(entries: readonly CheckStatus[]): void {
    for (const entry of entries) {
      this.#entries.set(checkKey(entry), stored(entry));
      if (entry.cause !== undefined) this.#causes.set(entry.monitor, entry.cause);
    }
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  identity(key: string): CheckIdentity | undefined {
    const entry = this.#entries.get(key);
    return entry && { monitor: entry.monitor, tenant: entry.tenant, mailbox: entry.mailbox, check: entry.check };
  }

  /** A removed check's monitor shows no cause until a check it keeps runs again: the cause may have been that check's. */
  remove(key: string): void {
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    if (entry) this.#causes.delete(entry.monitor);
  }

  list(): CheckStatus[] {
    return Array.from(this.#entries.values(), (entry) => {
      const status = expanded(entry);
      const cause = this.#causes.get(entry.monitor);
      return cause === undefined ? status : { ...status, cause };
    });
  }
}

// The cause is the monitor's, kept once per monitor, not on each entry.
function stored({ cause: _monitors, ...status }: CheckStatus): StoredStatus {
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

/**
 * The delegated tenant entries' sign-ins as last read (at start and reload) or renewed (each refresh), per tenant
 * key: what /status/detail shows beside a delegated monitor. Holds no tokens.
 */
export class SignInBoard {
  readonly #byTenant = new Map<string, SignInStatus>();

  set(tenant: string, signIn: SignInStatus): void {
    this.#byTenant.set(tenant, { ...signIn });
  }

  get(tenant: string): SignInStatus | undefined {
    return this.#byTenant.get(tenant);
  }

  /** Keeps only the tenant entries still configured. */
  retain(tenants: ReadonlySet<string>): void {
    for (const tenant of this.#byTenant.keys()) if (!tenants.has(tenant)) this.#byTenant.delete(tenant);
  }
}
