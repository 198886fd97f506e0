import type { CheckKind } from '../core/check.js';
import type { StepTiming } from '../core/outcome.js';
import type { IncidentSummary } from './reader.js';

// Rows of the history store, shared by both backends. Times are epoch milliseconds (UTC); seconds of
// accounting are kept as milliseconds so that summing many short spans loses nothing to rounding.

/** One check result, as kept for the raw retention. */
export interface ResultRow {
  monitor: string;
  tenant: string;
  mailbox: string;
  check: CheckKind;
  startedAt: number;
  durationMs: number;
  ok: boolean;
  stage?: string;
  reason?: string;
  category?: string;
  /** Already redacted by the probe boundary. */
  serverText?: string;
  steps: StepTiming[];
  deliveryMs?: number;
  /** The schedule's interval when the result was taken; a result covers at most this (plus grace). */
  intervalS: number;
}

// Fixed buckets (upper bounds, seconds; a trailing +Inf slot) so rollups can be added row by row in SQL and
// percentiles estimated from any sum of them, as Prometheus does from histogram buckets.
export const DURATION_BOUNDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60] as const;
export const DELIVERY_BOUNDS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600] as const;

/** Additive totals of one check over one hour, one UTC day or one UTC calendar month. */
export interface Totals {
  okMs: number;
  failMs: number;
  runs: number;
  failures: number;
  durationMsSum: number;
  /** Counts per DURATION_BOUNDS bucket plus +Inf. */
  durationBuckets: number[];
  deliveries: number;
  deliveryBuckets: number[];
}

export type Grain = 'hour' | 'day' | 'month';

export interface RollupDelta extends Totals {
  monitor: string;
  tenant: string;
  check: CheckKind;
  /** UTC start of the hour, day or month. */
  bucket: number;
}

/** A failure streak of one check: from its first failed run to the first successful one after it. */
export interface IncidentRow extends IncidentSummary {
  failures: number;
  /** Failed time accounted to the streak so far. */
  failMs: number;
  lastFailureAt: number;
}

/** What the agent needs to continue a check after a restart: the latest result, the streak, the open incident. */
export interface CheckStateRow {
  monitor: string;
  tenant: string;
  mailbox: string;
  check: CheckKind;
  firstSeenAt: number;
  lastAt: number;
  lastOk: boolean;
  intervalS: number;
  consecutiveFailures: number;
  lastSuccessAt?: number;
  /** startedAt of the open incident, if failing. */
  openIncidentAt?: number;
  /** The status board's entry after the latest result (JSON of CheckStatus; no secrets). */
  status: string;
}

/** What accounting needs of a check's state: who it is, when it was first and last seen, and its last outcome. */
export type CheckSpan = Pick<CheckStateRow, 'monitor' | 'tenant' | 'check' | 'firstSeenAt' | 'lastAt' | 'lastOk' | 'intervalS'>;

/** A check's span with its rollup sums over a query's parts; no totals when it has no rollup row there. */
export interface CheckSpanTotals extends CheckSpan {
  totals?: Totals;
}

/** One running period of an agent process; lastSeenAt moves with every write. */
export interface AgentRunRow {
  id: string;
  startedAt: number;
  lastSeenAt: number;
  stoppedAt?: number;
}

export interface WriteBatch {
  results: ResultRow[];
  hourly: RollupDelta[];
  daily: RollupDelta[];
  monthly: RollupDelta[];
  /** Whole rows; a later write of the same (monitor, check, startedAt) replaces the earlier one. */
  incidents: IncidentRow[];
  checkStates: CheckStateRow[];
  agentRun?: AgentRunRow;
}

export interface CheckRef {
  monitor: string;
  check: CheckKind;
}

/** OK and FAIL time of one check in one rollup bucket: what availability needs, without the histograms. */
export interface TimeRollup extends CheckRef {
  bucket: number;
  okMs: number;
  failMs: number;
}

export interface RollupQuery {
  grain: Grain;
  /** Bucket starts in [from, to). */
  from: number;
  to: number;
  /** Only the bucket starts also inside one of these ranges (rollups only): several spans in one statement. */
  ranges?: ReadonlyArray<{ from: number; to: number }>;
  checks?: readonly CheckRef[];
}

/** One range of rollup buckets, added (+1) or taken away (-1). */
export interface RollupPart {
  grain: Grain;
  from: number;
  to: number;
  sign: 1 | -1;
}

export interface RollupSumsQuery {
  parts: readonly RollupPart[];
  checks?: readonly CheckRef[];
}

/** OK and FAIL time of one check summed over several ranges of hour buckets. */
export interface CheckTime extends CheckRef {
  okMs: number;
  failMs: number;
}

export interface HoursQuery {
  /** Hour-aligned ranges; an hour bucket inside any of them counts once. */
  ranges: ReadonlyArray<{ from: number; to: number }>;
  checks?: readonly CheckRef[];
}

export interface IncidentQuery {
  /** Incidents overlapping [from, to). */
  from: number;
  to: number;
  limit: number;
  monitor?: string;
  tenant?: string;
  checks?: readonly CheckRef[];
}

export interface PruneCutoffs {
  /** Rows older than these instants are deleted. */
  results: number;
  hourly: number;
  daily: number;
  monthly: number;
}

export interface PruneCounts {
  results: number;
  hourly: number;
  daily: number;
  monthly: number;
  incidents: number;
  agentRuns: number;
}

export interface CheckStatesQuery {
  checks?: readonly CheckRef[];
  /** Whether the status JSON is read (default true). */
  status?: boolean;
  /** The agent's restore before it writes: the store may also load what its writes for these checks will need. */
  forWrites?: boolean;
}

/** The one interface both backends implement; the contract suite in test/history runs against each. */
export interface HistoryStore {
  readonly backend: 'sqlite' | 'postgres';
  /** Writes one batch atomically: all of it or none. */
  write(batch: WriteBatch): Promise<void>;
  /**
   * All checks' states, or those of the checks asked for. `status: false` leaves the status board's JSON unread
   * (status is ''): a report of 20,000 checks needs only the other columns.
   */
  checkStates(query?: CheckStatesQuery): Promise<CheckStateRow[]>;
  /** OK and FAIL time per bucket, per check (the status page's bars and windows). */
  rollups(query: RollupQuery): Promise<TimeRollup[]>;
  /** Sums per check over all buckets in the range (what a report reads). */
  rollupTotals(query: RollupQuery): Promise<RollupDelta[]>;
  /**
   * Sums per check of signed ranges of rollups in one query: a Europe/Berlin month is its UTC month's row plus
   * the hour before it minus its last hour, summed by the database instead of three reads merged in code.
   */
  rollupSums(query: RollupSumsQuery): Promise<RollupDelta[]>;
  /**
   * Every check with a state (or those asked for) with its rollupSums, in one read, in no particular order: a
   * report of 200,000 checks parsed two row sets of 200,000 and matched them in code (npm run bench:fleet).
   */
  checkSpans(query: RollupSumsQuery): Promise<CheckSpanTotals[]>;
  /** OK and FAIL time per check in the hour buckets inside the ranges, in one query (maintenance windows). */
  hourTime(query: HoursQuery): Promise<CheckTime[]>;
  /** Raw results of one check in [from, to), oldest first. */
  results(query: { monitor: string; check: CheckKind; from: number; to: number; limit?: number }): Promise<ResultRow[]>;
  /** Newest first. */
  incidents(query: IncidentQuery): Promise<IncidentRow[]>;
  /** Running periods overlapping [from, to), oldest first. */
  agentRuns(query: { from: number; to: number }): Promise<AgentRunRow[]>;
  prune(cutoffs: PruneCutoffs): Promise<PruneCounts>;
  /** Applied schema version. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

export function emptyTotals(): Totals {
  return {
    okMs: 0,
    failMs: 0,
    runs: 0,
    failures: 0,
    durationMsSum: 0,
    durationBuckets: new Array<number>(DURATION_BOUNDS.length + 1).fill(0),
    deliveries: 0,
    deliveryBuckets: new Array<number>(DELIVERY_BOUNDS.length + 1).fill(0),
  };
}

export function addTotals(into: Totals, from: Totals): void {
  into.okMs += from.okMs;
  into.failMs += from.failMs;
  into.runs += from.runs;
  into.failures += from.failures;
  into.durationMsSum += from.durationMsSum;
  from.durationBuckets.forEach((count, i) => (into.durationBuckets[i] = (into.durationBuckets[i] ?? 0) + count));
  into.deliveries += from.deliveries;
  from.deliveryBuckets.forEach((count, i) => (into.deliveryBuckets[i] = (into.deliveryBuckets[i] ?? 0) + count));
}

/** The exact inverse of addTotals: rollups are sums, so a range's totals minus a sub-range's are the rest's. */
export function subtractTotals(into: Totals, from: Totals): void {
  into.okMs -= from.okMs;
  into.failMs -= from.failMs;
  into.runs -= from.runs;
  into.failures -= from.failures;
  into.durationMsSum -= from.durationMsSum;
  from.durationBuckets.forEach((count, i) => (into.durationBuckets[i] = (into.durationBuckets[i] ?? 0) - count));
  into.deliveries -= from.deliveries;
  from.deliveryBuckets.forEach((count, i) => (into.deliveryBuckets[i] = (into.deliveryBuckets[i] ?? 0) - count));
}

export function bucketIndex(bounds: readonly number[], seconds: number): number {
  const index = bounds.findIndex((bound) => seconds <= bound);
  return index === -1 ? bounds.length : index;
}

/** histogram_quantile over fixed buckets: linear inside the bucket; the +Inf bucket answers its lower bound. */
export function quantile(bounds: readonly number[], counts: readonly number[], q: number): number | null {
  // Plain loops: four quantiles for each of 200,000 checks in a report (npm run bench:fleet).
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] ?? 0;
    if (seen + count >= rank && count > 0) {
      const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
      const upper = bounds[i];
      if (upper === undefined) return lower;
      return lower + ((upper - lower) * (rank - seen)) / count;
    }
    seen += count;
  }
  return bounds[bounds.length - 1] ?? null;
}
