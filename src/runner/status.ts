import type { Cause } from '../core/cause.js';
import type { CheckIdentity } from '../core/result.js';
import { checkKey, type ResultEvent } from '../core/state.js';
import { performance } from 'node:perf_hooks';
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
  /** The keys of each monitor's entries, for a badge (one monitor) and for a cause that changes. */
  readonly #byMonitor = new Map<string, Set<string>>();
  /**
   * The expanded list, once asked for, kept up to date entry by entry: a status page of 200,000 checks expanded
   * every entry on every request (4.4 s of a 9.5 s page at load 12). Dropped when nobody has asked for it in a
   * while, so an agent without a status page keeps only the compact entries.
   */
  #list: CheckStatus[] | undefined;
  readonly #at = new Map<string, number>();
  #listedAt = 0;
  #revision = 0;

  /** Changes with every entry written: what was built from list() is current while this is unchanged. */
  get revision(): number {
    return this.#revision;
  }

  #put(key: string, entry: StoredStatus): void {
    this.#revision++;
    const known = this.#entries.has(key);
    this.#entries.set(key, entry);
    if (!known) {
      let keys = this.#byMonitor.get(entry.monitor);
      if (!keys) this.#byMonitor.set(entry.monitor, (keys = new Set()));
      keys.add(key);
    }
    if (!this.#list) return;
    const at = this.#at.get(key);
    if (at === undefined || performance.now() - this.#listedAt > LIST_KEPT_MS) this.#dropList();
    else this.#list[at] = this.#view(entry);
  }

  #setCause(monitor: string, cause: Cause | undefined): void {
    if (this.#causes.get(monitor) === cause) return;
    if (cause === undefined) this.#causes.delete(monitor);
    else this.#causes.set(monitor, cause);
    this.#revision++;
    if (!this.#list) return;
    for (const key of this.#byMonitor.get(monitor) ?? []) {
      const at = this.#at.get(key);
      const entry = this.#entries.get(key);
      if (at !== undefined && entry) this.#list[at] = this.#view(entry);
    }
  }

  #dropList(): void {
    this.#list = undefined;
    this.#at.clear();
  }

  #view(entry: StoredStatus): CheckStatus {
    const status = expanded(entry);
    const cause = this.#causes.get(entry.monitor);
    return cause === undefined ? status : { ...status, cause };
  }

  expect(jobs: readonly Job[]): void {
    for (const job of jobs) {
      if (this.#entries.has(job.key)) continue;
      this.#put(job.key, {
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
    this.#setCause(event.result.monitor, event.cause);
    this.#put(checkKey(event.result), stored(statusOf(event)));
  }

  /** Entries saved before a restart (history store), shown until each check runs again. */
  restore(entries: readonly CheckStatus[]): void {
    for (const entry of entries) {
      if (entry.cause !== undefined) this.#setCause(entry.monitor, entry.cause);
      this.#put(checkKey(entry), stored(entry));
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
    this.#revision++;
    this.#dropList();
    if (!entry) return;
    this.#causes.delete(entry.monitor);
    const keys = this.#byMonitor.get(entry.monitor);
    keys?.delete(key);
    if (keys?.size === 0) this.#byMonitor.delete(entry.monitor);
  }

  /** Every entry; the same array until an entry is added or removed (read it, do not change it). */
  list(): readonly CheckStatus[] {
    this.#listedAt = performance.now();
    if (this.#list) return this.#list;
    const list: CheckStatus[] = [];
    for (const [key, entry] of this.#entries) {
      this.#at.set(key, list.length);
      list.push(this.#view(entry));
    }
    this.#list = list;
    return list;
  }

  /** The entries of one monitor (a badge), without the whole list. */
  forMonitor(monitor: string): CheckStatus[] {
    const found: CheckStatus[] = [];
    for (const key of this.#byMonitor.get(monitor) ?? []) {
      const entry = this.#entries.get(key);
      if (entry) found.push(this.#view(entry));
    }
    return found;
  }
}

/** How long the expanded list is kept up to date after the last request for it. */
const LIST_KEPT_MS = 10 * 60_000;

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
