import { randomUUID } from 'node:crypto';
import { isStage } from '../core/check.js';
import { isReasonCode, reasonCategory } from '../core/reasons.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../core/clock.js';
import type { CheckResult } from '../core/result.js';
import { checkKey, type CheckState, type OpenIncident, type ResultEvent } from '../core/state.js';
import { statusOf, type CheckStatus } from '../core/status.js';
import { isCause } from '../core/cause.js';
import { DAY_MS } from './calendar.js';
import { bucketOf, coveredUntil, splitSpan, startOfUtcMonth } from './spans.js';
import {
  addTotals,
  bucketIndex,
  DELIVERY_BOUNDS,
  DURATION_BOUNDS,
  emptyTotals,
  type AgentRunRow,
  type CheckStateRow,
  type Grain,
  type HistoryStore,
  type IncidentRow,
  type CheckRef,
  type ResultRow,
  type RollupDelta,
  type WriteBatch,
} from './types.js';

export interface RetentionSettings {
  /** Raw results (default 45). */
  resultsDays: number;
  /** Hourly rollups (default 100; at least 90 for the status page's 90 days). */
  hourlyDays: number;
  /** Daily rollups, incidents and agent running periods (default 400, so a yearly report works). Monthly
   * rollups are kept as long, rounded out to whole UTC months: a month goes once all its days have gone. */
  dailyDays: number;
}

export const RETENTION_DEFAULTS: RetentionSettings = { resultsDays: 45, hourlyDays: 100, dailyDays: 400 };

export interface RecorderEvents {
  /** A batch was written (results in it) or failed; for the store's metrics. */
  onWrite?(outcome: { ok: boolean; results: number; seconds: number }): void;
  onDrop?(results: number): void;
  /** Rows waiting for the store, by kind; each kind is bounded (see Pending). */
  onPending?(rows: PendingRows): void;
}

export interface PendingRows {
  results: number;
  checkStates: number;
  incidents: number;
}

export interface RecorderOptions {
  store: HistoryStore;
  clock: Clock;
  logger: Logger;
  /** How often pending results are written (default 1000 ms): a crash loses at most this much. */
  flushMs?: number;
  /** Results held while the store is failing before the oldest are dropped (default 100,000). */
  maxPending?: number;
  retention?: RetentionSettings;
  /** How often the retention job runs (default hourly). */
  pruneEveryMs?: number;
  events?: RecorderEvents;
}

/**
 * The accounting the recorder adds to the agent's fold between results: how long the latest result covers (its
 * interval) and the failed time summed into the open incident so far. The streak itself is the fold's.
 */
interface Accounting {
  intervalS: number;
  failMs: number;
}

export interface RestoredCheck {
  status: CheckStatus;
  row: CheckStateRow;
  /** The agent's fold as it stood after the latest stored result. */
  state: CheckState;
}

const GRAINS: readonly Grain[] = ['hour', 'day', 'month'];

// Heartbeats mark the agent as running even when no check finished in a while (long intervals).
const HEARTBEAT_MS = 15_000;

/**
 * Turns check results into store rows off the check path: the listener only updates memory and queues rows;
 * a timer writes them in one transaction per batch. A store that fails is logged and counted, its rows are
 * kept (bounded) for the next attempt, and the checks never wait for it.
 */
const FIRST_PRUNE_WITHIN_MS = 600_000;

/** Runs fn after delayMs, then every everyMs; the timers do not hold the process open. Returns what stops them. */
function repeatFrom(delayMs: number, everyMs: number, fn: () => void): () => void {
  let timer = setTimeout(() => {
    fn();
    timer = setInterval(fn, everyMs);
    timer.unref();
  }, Math.floor(delayMs));
  timer.unref();
  // clearTimeout stops an interval as well.
  return () => clearTimeout(timer);
}

export class HistoryRecorder {
  readonly #options: RecorderOptions;
  readonly #accounting = new Map<string, Accounting>();
  readonly #run: AgentRunRow;
  #pending: Pending = emptyPending();
  #hourly = new Map<string, RollupDelta>();
  #daily = new Map<string, RollupDelta>();
  #monthly = new Map<string, RollupDelta>();
  #stopFlush?: () => void;
  #stopPrune?: () => void;
  #writing?: Promise<void>;
  #lastHeartbeat = 0;
  /** When the store's current outage began (the first failed write), or undefined while it accepts writes. */
  #failingSince: number | undefined;
  #closed = false;

  constructor(options: RecorderOptions) {
    this.#options = options;
    const now = options.clock.now();
    this.#run = { id: randomUUID(), startedAt: now, lastSeenAt: now };
  }

  get runId(): string {
    return this.#run.id;
  }

  /** Since when the latest writes have failed (epoch ms), or undefined while the store takes them. */
  get failingSince(): number | undefined {
    return this.#failingSince;
  }

  /**
   * Loads each check's last result, streak and open incident; call before the first result. Given the checks
   * this agent runs (a shard's), only theirs: a shard of a 200,000-check fleet read every state (29.5 s, 491 MB).
   */
  async restore(checks?: readonly CheckRef[]): Promise<RestoredCheck[]> {
    const { store } = this.#options;
    const restored: RestoredCheck[] = [];
    const rows = await store.checkStates(checks ? { checks, forWrites: true } : { forWrites: true }).catch((error: unknown) => {
      // A store that cannot be read at start is down from then on, not only after the first failed write.
      this.#failingSince ??= this.#options.clock.now();
      throw error;
    });
    for (const row of rows) {
      const status = parseStatus(row);
      let incident: IncidentRow | undefined;
      if (row.openIncidentAt !== undefined) {
        const open = await store.incidents({ from: row.openIncidentAt, to: row.openIncidentAt + 1, limit: 50, monitor: row.monitor });
        incident = open.find((candidate) => candidate.check === row.check && candidate.startedAt === row.openIncidentAt && candidate.endedAt === undefined);
      }
      this.#accounting.set(checkKey(row), { intervalS: row.intervalS, failMs: incident?.failMs ?? 0 });
      restored.push({ status, row, state: stateOf(row, status, incident) });
    }
    return restored;
  }

  /** Starts the flush and retention timers and records the agent's running period. */
  start(): void {
    const flushMs = this.#options.flushMs ?? 1000;
    const pruneEveryMs = this.#options.pruneEveryMs ?? 3_600_000;
    // Each agent flushes at its own phase of the interval, and runs its first retention job at a random moment of
    // its first ten minutes (or of the interval, if shorter): shards started together (a rollout; the fleet bench)
    // otherwise wrote in the same instant every second and queued behind each other on the database's cores (10
    // shards, 2 cores: a batch's p50 36 ms alone, 93 ms in step; npm run bench:fleet), and all ran the shared
    // tables' deletes at once, in their first batches' way.
    this.#stopFlush = repeatFrom(Math.random() * flushMs, flushMs, () => void this.flush());
    this.#stopPrune = repeatFrom(Math.random() * Math.min(pruneEveryMs, FIRST_PRUNE_WITHIN_MS), pruneEveryMs, () => void this.prune());
    this.#lastHeartbeat = 0;
    void this.flush();
  }

  /** A ResultListener: memory only, never throws, never waits. */
  readonly listener = (event: ResultEvent, job?: { monitor: { intervalSeconds: number } }): void => {
    if (this.#closed) return;
    const { result } = event;
    try {
      this.#record(event, job?.monitor.intervalSeconds ?? 300);
    } catch (error) {
      this.#options.logger.error('history: result not recorded', { monitor: result.monitor, check: result.check, error });
    }
  };

  /** Writes what is pending; resolves when it is in the store or has failed (and is kept for later). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
    const batch = this.#take();
    if (!batch) return;
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined;
    });
    await this.#writing;
  }

  async prune(): Promise<void> {
    const retention = this.#options.retention ?? RETENTION_DEFAULTS;
    const now = this.#options.clock.now();
    try {
      const daily = now - retention.dailyDays * DAY_MS;
      const counts = await this.#options.store.prune({
        results: now - retention.resultsDays * DAY_MS,
        hourly: now - retention.hourlyDays * DAY_MS,
        daily,
        monthly: startOfUtcMonth(daily),
      });
      if (Object.values(counts).some((count) => count > 0)) this.#options.logger.info('history: retention job removed old rows', { ...counts });
    } catch (error) {
      this.#options.logger.error('history: retention job failed', { error: messageOf(error) });
    }
  }

  /** Marks the running period stopped and writes everything pending. The store stays open (the caller owns it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopFlush?.();
    this.#stopPrune?.();
    this.#run.stoppedAt = this.#options.clock.now();
    this.#lastHeartbeat = 0;
    await this.flush();
  }

  #record(event: ResultEvent, intervalS: number): void {
    const { result, state, previous } = event;
    const key = checkKey(result);
    const t = result.startedAt;
    const accounting = this.#accounting.get(key);
    const failure = result.outcome.failure;
    const ok = result.outcome.ok;

    // The previous result's span ends now that the next one is known.
    // Only a result this store saw (or restored) has a span to close: a streak seeded from the alert state file has none.
    let failMs = previous?.incident && accounting ? accounting.failMs : 0;
    if (previous && accounting && previous.lastAt < t) {
      const end = coveredUntil(previous.lastAt, accounting.intervalS, t);
      const previousOk = previous.state === 'ok';
      this.#addSpan(result, previous.lastAt, end, previousOk);
      if (previous.incident && !previousOk) failMs += end - previous.lastAt;
    }

    const { deliverySeconds } = result.outcome.measured;
    for (const grain of GRAINS) {
      const delta = this.#delta(grain, result, bucketOf(t, grain));
      delta.runs += 1;
      if (!ok) delta.failures += 1;
      delta.durationMsSum += result.durationSeconds * 1000;
      increment(delta.durationBuckets, bucketIndex(DURATION_BOUNDS, result.durationSeconds));
      if (deliverySeconds !== undefined) {
        delta.deliveries += 1;
        increment(delta.deliveryBuckets, bucketIndex(DELIVERY_BOUNDS, deliverySeconds));
      }
    }

    const reason = ok ? undefined : (result.reason ?? 'internal_error');
    this.#pending.results.push({
      monitor: result.monitor,
      tenant: result.tenant,
      mailbox: result.mailbox,
      check: result.check,
      startedAt: t,
      durationMs: result.durationSeconds * 1000,
      ok,
      ...(failure ? { stage: failure.stage } : {}),
      ...(reason ? { reason, category: reasonCategory(reason) } : {}),
      ...(failure?.serverText !== undefined ? { serverText: failure.serverText } : {}),
      steps: result.outcome.steps,
      ...(deliverySeconds !== undefined ? { deliveryMs: deliverySeconds * 1000 } : {}),
      intervalS,
    });

    // The fold opens and closes the incident; history adds the failed time it accounted.
    const closed = ok ? previous?.incident : undefined;
    if (state.incident) keep(this.#pending.incidents, incidentKey, incidentRow(result, state.incident, failMs));
    else if (closed) keep(this.#pending.incidents, incidentKey, { ...incidentRow(result, closed, failMs), endedAt: t });

    this.#accounting.set(key, { intervalS, failMs: state.incident ? failMs : 0 });
    keep(this.#pending.checkStates, checkKey, {
      monitor: result.monitor,
      tenant: result.tenant,
      mailbox: result.mailbox,
      check: result.check,
      firstSeenAt: state.firstSeenAt,
      lastAt: t,
      lastOk: ok,
      intervalS,
      consecutiveFailures: state.consecutiveFailures,
      ...(state.lastSuccessAt !== undefined ? { lastSuccessAt: state.lastSuccessAt } : {}),
      ...(state.incident ? { openIncidentAt: state.incident.startedAt } : {}),
      status: JSON.stringify(statusOf(event)),
    });
    this.#bound();
  }

  #addSpan(identity: Pick<CheckResult, 'monitor' | 'tenant' | 'check'>, from: number, to: number, ok: boolean): void {
    for (const grain of GRAINS) {
      for (const [bucket, ms] of splitSpan(from, to, grain)) {
        const delta = this.#delta(grain, identity, bucket);
        if (ok) delta.okMs += ms;
        else delta.failMs += ms;
      }
    }
  }

  #delta(grain: Grain, identity: Pick<CheckResult, 'monitor' | 'tenant' | 'check'>, bucket: number): RollupDelta {
    const deltas = grain === 'hour' ? this.#hourly : grain === 'day' ? this.#daily : this.#monthly;
    const k = `${checkKey(identity)}\u0000${bucket}`;
    let delta = deltas.get(k);
    if (!delta) {
      delta = { monitor: identity.monitor, tenant: identity.tenant, check: identity.check, bucket, ...emptyTotals() };
      deltas.set(k, delta);
    }
    return delta;
  }

  #bound(): void {
    const max = this.#options.maxPending ?? 100_000;
    const excess = this.#pending.results.length - max;
    if (excess > 0) {
      this.#pending.results.splice(0, excess);
      this.#options.events?.onDrop?.(excess);
    }
    // Closed incidents are one per failure streak: bounded like results, oldest first (states are one per check).
    const incidents = this.#pending.incidents;
    for (const key of incidents.keys()) {
      if (incidents.size <= max) break;
      incidents.delete(key);
      this.#options.events?.onDrop?.(1);
    }
  }

  #take(): WriteBatch | undefined {
    const now = this.#options.clock.now();
    const heartbeat = now - this.#lastHeartbeat >= HEARTBEAT_MS;
    const pending = this.#pending;
    const batch: WriteBatch = {
      results: pending.results,
      hourly: [...this.#hourly.values()],
      daily: [...this.#daily.values()],
      monthly: [...this.#monthly.values()],
      incidents: [...pending.incidents.values()],
      checkStates: [...pending.checkStates.values()],
    };
    const empty = batch.results.length === 0 && batch.hourly.length === 0 && batch.incidents.length === 0 && batch.checkStates.length === 0;
    if (empty && !heartbeat) return undefined;
    this.#run.lastSeenAt = now;
    batch.agentRun = { ...this.#run };
    this.#pending = emptyPending();
    this.#hourly = new Map();
    this.#daily = new Map();
    this.#monthly = new Map();
    return batch;
  }

  async #write(batch: WriteBatch): Promise<void> {
    const { store, clock, logger, events } = this.#options;
    const started = clock.monotonic();
    try {
      await store.write(batch);
      this.#lastHeartbeat = batch.agentRun?.lastSeenAt ?? this.#lastHeartbeat;
      events?.onWrite?.({ ok: true, results: batch.results.length, seconds: (clock.monotonic() - started) / 1000 });
      if (this.#failingSince !== undefined) logger.info('history: store writable again', { backend: store.backend });
      this.#failingSince = undefined;
    } catch (error) {
      events?.onWrite?.({ ok: false, results: batch.results.length, seconds: (clock.monotonic() - started) / 1000 });
      // Logged once per outage, not once a second.
      if (this.#failingSince === undefined)
        logger.error('history: store write failed; results are kept in memory and retried', { backend: store.backend, error: messageOf(error) });
      this.#failingSince ??= clock.now();
      this.#requeue(batch);
    }
    events?.onPending?.({ results: this.#pending.results.length, checkStates: this.#pending.checkStates.size, incidents: this.#pending.incidents.size });
  }

  // The failed batch goes before what arrived meanwhile. A state or incident row that arrived meanwhile is newer
  // than the failed one for its key and stays: one pending row per check and per incident, however long the
  // store fails (re-queueing every failed row once grew the heap to 744 MB in 300k failed writes).
  #requeue(batch: WriteBatch): void {
    const later = this.#pending;
    this.#pending = { results: [...batch.results, ...later.results], incidents: later.incidents, checkStates: later.checkStates };
    for (const row of batch.incidents) if (!later.incidents.has(incidentKey(row))) later.incidents.set(incidentKey(row), row);
    for (const row of batch.checkStates) if (!later.checkStates.has(checkKey(row))) later.checkStates.set(checkKey(row), row);
    this.#bound();
    for (const [grain, deltas] of [
      ['hour', batch.hourly],
      ['day', batch.daily],
      ['month', batch.monthly],
    ] as const) {
      for (const delta of deltas) {
        addTotals(this.#delta(grain, delta, delta.bucket), delta);
      }
    }
    this.#bound();
  }
}

/** Rows not yet written: results in order (capped), the latest state per check, the latest row per incident. */
interface Pending {
  results: ResultRow[];
  checkStates: Map<string, CheckStateRow>;
  incidents: Map<string, IncidentRow>;
}

function emptyPending(): Pending {
  return { results: [], checkStates: new Map(), incidents: new Map() };
}

/** An incident is its check's and its start's (the store's own key for it). */
function incidentKey(row: IncidentRow): string {
  return `${checkKey(row)}\u0000${row.startedAt}`;
}

/** The newest row for its key, moved to the end so the oldest key is first to go when bounded. */
function keep<T>(rows: Map<string, T>, keyOf: (row: T) => string, row: T): void {
  const key = keyOf(row);
  rows.delete(key);
  rows.set(key, row);
}

function increment(counts: number[], index: number, by = 1): void {
  counts[index] = (counts[index] ?? 0) + by;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function incidentRow(identity: Pick<CheckResult, 'monitor' | 'tenant' | 'check'>, incident: OpenIncident, failMs: number): IncidentRow {
  return { monitor: identity.monitor, tenant: identity.tenant, check: identity.check, ...incident, failMs };
}

/** The fold of a stored check; a pass's successes before the restart are not stored, so at least the latest counts. */
function stateOf(row: CheckStateRow, status: CheckStatus, incident: IncidentRow | undefined): CheckState {
  const since = status.since !== undefined ? Date.parse(status.since) : NaN;
  return {
    state: row.lastOk ? 'ok' : 'failing',
    since: Number.isFinite(since) ? since : row.lastAt,
    consecutiveFailures: row.consecutiveFailures,
    consecutiveSuccesses: row.lastOk ? 1 : 0,
    firstSeenAt: row.firstSeenAt,
    lastAt: row.lastAt,
    ...(row.lastSuccessAt !== undefined ? { lastSuccessAt: row.lastSuccessAt } : {}),
    ...(incident ? { incident: openIncident(incident) } : {}),
  };
}

function openIncident(row: IncidentRow): OpenIncident {
  return {
    startedAt: row.startedAt,
    reason: isReasonCode(row.reason) ? row.reason : 'internal_error',
    stage: isStage(row.stage) ? row.stage : 'config',
    ...(row.serverText !== undefined ? { serverText: row.serverText } : {}),
    failures: row.failures,
    lastFailureAt: row.lastFailureAt,
    ...(row.diagnosis ? { diagnosis: row.diagnosis } : {}),
    ...(row.cause !== undefined ? { cause: row.cause } : {}),
  };
}

function parseStatus(state: CheckStateRow): CheckStatus {
  let saved: Partial<CheckStatus> = {};
  try {
    saved = JSON.parse(state.status) as Partial<CheckStatus>;
  } catch {
    // An unreadable entry still restores the streak from the columns.
  }
  return {
    monitor: state.monitor,
    tenant: state.tenant,
    mailbox: state.mailbox,
    check: state.check,
    state: state.lastOk ? 'ok' : 'failing',
    consecutiveFailures: state.consecutiveFailures,
    ...(saved.since !== undefined ? { since: saved.since } : {}),
    ...(state.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(state.lastSuccessAt).toISOString() } : {}),
    ...(saved.last ? { last: saved.last } : {}),
    ...(!state.lastOk && typeof saved.cause === 'string' && isCause(saved.cause) ? { cause: saved.cause } : {}),
  };
}
