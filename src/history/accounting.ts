import { SLA_DEFAULTS } from '../config/history.js';
import { isReasonCode, reasonCategory } from '../core/reasons.js';
import { DAY_MS, HOUR_MS } from './calendar.js';
import { appliesTo, complement, occurrences, totalLength, union, type Interval, type MaintenanceWindow } from './maintenance.js';
import type { TimeSums } from './range-sums.js';
import { addUtcMonths, coveredUntil, coverMs, overlap, startOfUtcMonth } from './spans.js';
import {
  addTotals,
  subtractTotals,
  bucketIndex,
  DELIVERY_BOUNDS,
  DURATION_BOUNDS,
  emptyTotals,
  type CheckRef,
  type CheckSpan,
  type CheckSpanTotals,
  type CheckStateRow,
  type HistoryStore,
  type IncidentRow,
  type ResultRow,
  type RollupDelta,
  type RollupPart,
  type Totals,
} from './types.js';

// How each second of a check's period is accounted (the README's "Accounting" section says the same):
// - OK / FAIL: covered by a result of that outcome. A result covers from its start to the next result, at
//   most its interval plus 10 % (src/history/spans.ts).
// - MAINTENANCE: inside a configured window for the check; excluded from availability whatever happened.
// - UNKNOWN: no result covers it although one was due — the agent was stopped, or could not run the check.
//   Counted as down only when unknownCountsAsDown is set. Time before a check's first result, and after the
//   last one of a check no longer configured, is not accounted at all.
// - A failure streak shorter than the minimum outage (consecutive failures or seconds) counts as OK.
// - SIGN-IN: an incident of a delegated monitor whose user must sign in again (a reason of category signin) is
//   not the mail service down: its failed time is counted apart and left out of availability, like maintenance.

export interface CheckIdentityRef extends CheckRef {
  tenant: string;
}

export interface AccountingPolicy {
  /** IANA zone of calendar days and months. */
  timeZone: string;
  unknownCountsAsDown: boolean;
  minimumOutage: { failures: number; seconds: number };
  maintenance: readonly MaintenanceWindow[];
  /** SLO target in percent for a check (default DEFAULT_SLO_TARGET). */
  target(check: CheckIdentityRef): number;
}

export const DEFAULT_SLO_TARGET: number = SLA_DEFAULTS.target;

export const DEFAULT_POLICY: AccountingPolicy = {
  timeZone: 'UTC',
  unknownCountsAsDown: false,
  minimumOutage: { failures: 1, seconds: 0 },
  maintenance: [],
  target: () => DEFAULT_SLO_TARGET,
};

export interface Accounted {
  okMs: number;
  failMs: number;
  maintenanceMs: number;
  unknownMs: number;
  /** The part of unknownMs during which no agent was running. */
  agentDownMs: number;
  /** Failed time forgiven as shorter than the minimum outage. */
  forgivenMs: number;
  /** Failed time while a delegated monitor's user had to sign in again; neither up nor down. */
  signInMs: number;
  /** [start, end) actually accounted: the period clipped to the check's life and to now. */
  accountedFrom: number;
  accountedTo: number;
  maintenanceWindows: readonly Interval[];
}

export interface CheckPeriod {
  check: CheckIdentityRef;
  from: number;
  to: number;
  now: number;
  /** OK and FAIL time of [from, to) in the rollups. */
  totals: Pick<Totals, 'okMs' | 'failMs'>;
  state?: CheckSpan;
  /** Whether the check is still configured; a removed check is accounted only up to its last result's cover. */
  configured: boolean;
  /** The check's incidents overlapping the period. */
  incidents: readonly IncidentRow[];
  /** Time no agent ran, sorted and disjoint. */
  agentDown: readonly Interval[];
  /** Raw results of the check in a range (hours a maintenance window covers only in part). */
  resultsIn(from: number, to: number): Promise<ResultRow[]>;
  /** OK and FAIL time of the check in the hour buckets inside the ranges; undefined when no hourly row exists. */
  hoursIn(ranges: readonly Interval[]): Promise<TimeSums | undefined>;
}

/** What accountCheck needs of a check and its period besides the reads of its maintenance windows' outcome. */
export type CheckBasis = Omit<CheckPeriod, 'resultsIn' | 'hoursIn'>;

/**
 * A check's accounting up to its maintenance windows' outcome, computed without the store. `done` when no window
 * applies (nothing more to read); otherwise the whole hours the windows cover (one hourly sum for them, shared by
 * every check asking the same hours) and the hours they cover only in part (rebuilt from raw results).
 */
export interface AccountingPlan {
  input: CheckBasis;
  done?: Accounted;
  start: number;
  end: number;
  ok: number;
  fail: number;
  maintenance: Windows;
}

/** A check's maintenance windows, joined, and the whole hours and the parts of hours they cover. */
export interface Windows {
  windows: readonly Interval[];
  hours: readonly Interval[];
  partial: readonly Interval[];
}

/** The check's maintenance windows over [start, end); a report shares them between checks that have the same. */
export type WindowsIn = (check: CheckIdentityRef, start: number, end: number) => Windows;

export const maintenanceIn =
  (policy: Pick<AccountingPolicy, 'maintenance'>): WindowsIn =>
  (check, start, end) =>
    windowsOf(union(policy.maintenance.filter((window) => appliesTo(window, check)).flatMap((window) => occurrences(window, start, end))));

const NO_WINDOWS: Windows = { windows: [], hours: [], partial: [] };

export function windowsOf(windows: readonly Interval[]): Windows {
  if (windows.length === 0) return NO_WINDOWS;
  const hours: Interval[] = [];
  const partial: Interval[] = [];
  for (const window of windows) {
    const from = ceilHour(window.from);
    const to = Math.floor(window.to / HOUR_MS) * HOUR_MS;
    if (from >= to) {
      partial.push(window);
      continue;
    }
    hours.push({ from, to });
    if (window.from < from) partial.push({ from: window.from, to: from });
    if (to < window.to) partial.push({ from: to, to: window.to });
  }
  return { windows, hours, partial };
}

export async function accountCheck(input: CheckPeriod, policy: AccountingPolicy): Promise<Accounted> {
  const plan = planAccounting(input, policy);
  if (plan.done) return plan.done;
  const { hours, partial } = plan.maintenance;
  const rolled = hours.length > 0 ? await input.hoursIn(hours) : undefined;
  const results: ResultRow[][] = [];
  for (const part of partial) results.push(await input.resultsIn(part.from - lookBackOf(input), part.to));
  return finishAccounting(plan, rolled, results, policy);
}

export function planAccounting(input: CheckBasis, policy: AccountingPolicy, windowsIn: WindowsIn = maintenanceIn(policy)): AccountingPlan {
  const { state } = input;
  let end = Math.min(input.to, input.now);
  if (!input.configured && state) end = Math.min(end, coveredUntil(state.lastAt, state.intervalS, Number.POSITIVE_INFINITY));
  const start = state ? Math.max(input.from, state.firstSeenAt) : end;
  if (!state || end <= start) {
    return {
      input,
      start,
      end,
      ok: 0,
      fail: 0,
      maintenance: NO_WINDOWS,
      done: {
        okMs: 0,
        failMs: 0,
        maintenanceMs: 0,
        unknownMs: 0,
        agentDownMs: 0,
        forgivenMs: 0,
        signInMs: 0,
        accountedFrom: start,
        accountedTo: Math.max(start, end),
        maintenanceWindows: [],
      },
    };
  }

  let ok = input.totals.okMs;
  let fail = input.totals.failMs;
  // The latest result's span is not in the rollups yet: it ends when the next result arrives.
  if (state.lastAt < end) {
    const open = overlap(state.lastAt, coveredUntil(state.lastAt, state.intervalS, end), start, end);
    if (state.lastOk) ok += open;
    else fail += open;
  }

  const maintenance = windowsIn(input.check, start, end);
  const plan: AccountingPlan = { input, start, end, ok, fail, maintenance };
  if (maintenance.windows.length === 0) plan.done = finishAccounting(plan, undefined, [], policy);
  return plan;
}

/**
 * The rest of accountCheck once the windows' reads are in: `rolled`, the check's hourly sums of the whole hours
 * (undefined when no hourly row exists), and for each part of an hour the raw results from lookBackOf before it.
 */
export function finishAccounting(plan: AccountingPlan, rolled: TimeSums | undefined, results: readonly ResultRow[][], policy: AccountingPolicy): Accounted {
  const { input, start, end } = plan;
  const { windows } = plan.maintenance;
  let { ok, fail } = plan;
  const maintenance = totalLength(windows);
  if (windows.length > 0) {
    const inside = outcomeInside(plan, rolled, results);
    ok -= inside.ok;
    fail -= inside.fail;
  }

  let forgiven = 0;
  for (const incident of input.incidents) {
    const incidentEnd = incident.endedAt ?? end;
    const short = incident.failures < policy.minimumOutage.failures || incidentEnd - incident.startedAt < policy.minimumOutage.seconds * 1000;
    if (!short) continue;
    const inPeriod = overlap(incident.startedAt, incidentEnd, start, end);
    const inMaintenance = windows.reduce((sum, window) => sum + overlap(incident.startedAt, incidentEnd, window.from, window.to), 0);
    forgiven += Math.max(0, inPeriod - inMaintenance);
  }
  forgiven = Math.min(forgiven, Math.max(0, fail));
  ok += forgiven;
  fail -= forgiven;

  let signIn = 0;
  for (const incident of input.incidents) {
    if (!isReasonCode(incident.reason) || reasonCategory(incident.reason) !== 'signin') continue;
    const incidentEnd = incident.endedAt ?? end;
    if (incident.failures < policy.minimumOutage.failures || incidentEnd - incident.startedAt < policy.minimumOutage.seconds * 1000) continue;
    const inPeriod = overlap(incident.startedAt, incidentEnd, start, end);
    const inMaintenance = windows.reduce((sum, window) => sum + overlap(incident.startedAt, incidentEnd, window.from, window.to), 0);
    signIn += Math.max(0, inPeriod - inMaintenance);
  }
  signIn = Math.min(signIn, Math.max(0, fail));
  fail -= signIn;

  ok = Math.max(0, ok);
  fail = Math.max(0, fail);
  const unknown = Math.max(0, end - start - ok - fail - signIn - maintenance);
  const down = input.agentDown.reduce((sum, gap) => sum + overlap(gap.from, gap.to, start, end), 0);
  const downInMaintenance = windows.reduce(
    (sum, window) => sum + input.agentDown.reduce((s, gap) => s + overlap(gap.from, gap.to, window.from, window.to), 0),
    0,
  );
  return {
    okMs: ok,
    failMs: fail,
    maintenanceMs: maintenance,
    unknownMs: unknown,
    agentDownMs: Math.min(unknown, Math.max(0, down - downInMaintenance)),
    forgivenMs: forgiven,
    signInMs: signIn,
    accountedFrom: start,
    accountedTo: end,
    maintenanceWindows: windows,
  };
}

/** How far before an hour a window covers in part its raw results are read: the result covering its start. */
export function lookBackOf(input: Pick<CheckBasis, 'state'>): number {
  return (input.state?.intervalS ?? 3600) * 2000;
}

// OK and FAIL time inside the windows. Whole hours come from the hourly rollups, which hold exactly the spans the
// raw results cover there, in one query for all checks (a month of a weekly window for 200,000 checks read
// every raw result of every check, one query each: npm run bench:fleet). The latest result's span is not in the
// rollups yet and is added from the check's state. Hours a window only partly covers are rebuilt from the raw
// results of that hour. A part whose rows have aged out gets the period's shares pro rata.
function outcomeInside(plan: AccountingPlan, rolled: TimeSums | undefined, results: readonly ResultRow[][]): { ok: number; fail: number } {
  const { input, end, ok, fail } = plan;
  const { hours, partial } = plan.maintenance;
  const length = plan.end - plan.start;
  const share = (part: number): { ok: number; fail: number } => (length > 0 ? { ok: (ok * part) / length, fail: (fail * part) / length } : { ok: 0, fail: 0 });
  const inside = { ok: 0, fail: 0 };
  const add = (part: { ok: number; fail: number }): void => {
    inside.ok += part.ok;
    inside.fail += part.fail;
  };
  if (hours.length > 0) {
    if (!rolled) add(share(totalLength(hours)));
    else {
      add({ ok: rolled.okMs, fail: rolled.failMs });
      const state = input.state;
      if (state && state.lastAt < end) {
        const open = hours.reduce((sum, range) => sum + overlap(state.lastAt, coveredUntil(state.lastAt, state.intervalS, end), range.from, range.to), 0);
        add(state.lastOk ? { ok: open, fail: 0 } : { ok: 0, fail: open });
      }
    }
  }
  partial.forEach((part, p) => {
    const rows = results[p] ?? [];
    if (rows.length === 0) {
      add(share(part.to - part.from));
      return;
    }
    rows.forEach((result, i) => {
      const next = rows[i + 1]?.startedAt ?? end;
      const span = overlap(result.startedAt, coveredUntil(result.startedAt, result.intervalS, next), part.from, part.to);
      add(result.ok ? { ok: span, fail: 0 } : { ok: 0, fail: span });
    });
  });
  return inside;
}

/** ok / (ok + fail [+ unknown]); null when nothing was accounted. */
export function availabilityOf(
  accounted: Pick<Accounted, 'okMs' | 'failMs' | 'unknownMs'>,
  policy: Pick<AccountingPolicy, 'unknownCountsAsDown'>,
): number | null {
  const down = accounted.failMs + (policy.unknownCountsAsDown ? accounted.unknownMs : 0);
  const total = accounted.okMs + down;
  return total > 0 ? accounted.okMs / total : null;
}

/** The named fields summed over the parts: the accounted milliseconds of checks, or a report's seconds. */
export function sumFields<K extends string>(parts: ReadonlyArray<Readonly<Record<K, number>>>, fields: readonly K[]): Record<K, number> {
  const sum = Object.fromEntries(fields.map((name) => [name, 0])) as Record<K, number>;
  // Field by field: each field's additions in the parts' order, as part by part, at one property per loop.
  for (const name of fields) {
    let total = sum[name];
    for (const part of parts) total += part[name];
    sum[name] = total;
  }
  return sum;
}

const ACCOUNTED_FIELDS = ['okMs', 'failMs', 'maintenanceMs', 'unknownMs', 'agentDownMs', 'forgivenMs', 'signInMs'] as const;

export function sumAccounted(parts: readonly Accounted[]): Pick<Accounted, (typeof ACCOUNTED_FIELDS)[number]> {
  return sumFields(parts, ACCOUNTED_FIELDS);
}

export function checkKey(ref: CheckRef): string {
  return `${ref.monitor}\u0000${ref.check}`;
}

export interface PeriodTotalsOptions {
  checks?: readonly CheckRef[];
  /** The checks' states if already read (or being read); read when needed otherwise. */
  states?: readonly CheckSpan[] | Promise<readonly CheckSpan[]>;
  /** Read whole UTC months from the monthly rollups (default true); false reads only daily and hourly rows. */
  months?: boolean;
}

// An end this close to a UTC month boundary is read as that month's row plus or minus the few days between.
const MONTH_SNAP_MS = 3 * DAY_MS;

/**
 * Totals per check over [from, to). Rollups are sums, so a range near whole UTC months is those months' rows
 * corrected at each end: minus [ma, from) when the first month starts before `from`, plus [from, ma) when after,
 * and the same at the end. A calendar month in Europe/Berlin then reads one monthly row and two hourly rows per
 * check instead of ~29 daily and two hourly ones. Other ranges, and the corrections, are read as directTotals.
 */
export async function periodTotals(store: HistoryStore, from: number, to: number, options: PeriodTotalsOptions = {}): Promise<Map<string, RollupDelta>> {
  const parts = options.months === false ? undefined : monthParts(from, to);
  if (parts) {
    // On the hour at both ends (every zone with whole-hour offsets): the month rows and the corrections are
    // summed by the database in one query; reading and merging three row sets of 200,000 checks took twice a
    // UTC month's time.
    const rows = await store.rollupSums({ parts, ...(options.checks ? { checks: options.checks } : {}) });
    return new Map(rows.map((row) => [checkKey(row), row]));
  }
  const first = nearestUtcMonth(from);
  const last = nearestUtcMonth(to);
  if (options.months === false || first === undefined || last === undefined || first >= last) return directTotals(store, from, to, options);
  const states = await (options.states ?? store.checkStates({ status: false }));
  const direct = { ...(options.checks ? { checks: options.checks } : {}), states };
  const none = async (): Promise<Map<string, RollupDelta>> => new Map();
  const [months, head, tail] = await Promise.all([
    store.rollupTotals({ grain: 'month', from: first, to: last, ...(options.checks ? { checks: options.checks } : {}) }),
    first === from ? none() : directTotals(store, Math.min(first, from), Math.max(first, from), direct),
    last === to ? none() : directTotals(store, Math.min(last, to), Math.max(last, to), direct),
  ]);
  const totals = new Map<string, RollupDelta>();
  for (const row of months) totals.set(checkKey(row), { ...row, ...cloneTotals(row) });
  // The month rows' first bucket is before `from` exactly when the head is to be taken away.
  correct(totals, head, first < from ? subtractTotals : addTotals);
  correct(totals, tail, last > to ? subtractTotals : addTotals);
  return totals;
}

/**
 * Every check with a state, with its totals over [from, to) as periodTotals reads them. A range on the hour near
 * whole UTC months is one read of the store; any other is the states and periodTotals matched here.
 */
export async function spansWithTotals(store: HistoryStore, from: number, to: number): Promise<CheckSpanTotals[]> {
  const parts = monthParts(from, to);
  if (parts) return store.checkSpans({ parts });
  const states = await store.checkStates({ status: false });
  const totals = await periodTotals(store, from, to, { states });
  return states.map((state) => {
    const found = totals.get(checkKey(state));
    return found ? { ...state, totals: found } : state;
  });
}

/** [from, to) on the hour and near whole UTC months as signed parts of rollups: the months, corrected at each end. */
function monthParts(from: number, to: number): RollupPart[] | undefined {
  const first = nearestUtcMonth(from);
  const last = nearestUtcMonth(to);
  if (first === undefined || last === undefined || first >= last) return undefined;
  if (from % HOUR_MS !== 0 || to % HOUR_MS !== 0) return undefined;
  return [
    { grain: 'month', from: first, to: last, sign: 1 },
    ...alignedParts(Math.min(first, from), Math.max(first, from), first < from ? -1 : 1),
    ...alignedParts(Math.min(last, to), Math.max(last, to), last > to ? -1 : 1),
  ];
}

function correct(totals: Map<string, RollupDelta>, by: ReadonlyMap<string, RollupDelta>, apply: (into: Totals, from: Totals) => void): void {
  for (const [key, row] of by) {
    let into = totals.get(key);
    if (!into) totals.set(key, (into = { ...row, ...emptyTotals() }));
    apply(into, row);
  }
}

/** [from, to) on the hour as whole UTC days of daily rows and the hours around them, as directTotals reads it. */
function alignedParts(from: number, to: number, sign: 1 | -1): RollupPart[] {
  if (from >= to) return [];
  const firstDay = Math.ceil(from / DAY_MS) * DAY_MS;
  const lastDay = Math.floor(to / DAY_MS) * DAY_MS;
  const parts: RollupPart[] =
    firstDay < lastDay
      ? [
          { grain: 'day', from: firstDay, to: lastDay, sign },
          { grain: 'hour', from, to: firstDay, sign },
          { grain: 'hour', from: lastDay, to, sign },
        ]
      : [{ grain: 'hour', from, to, sign }];
  return parts.filter((part) => part.from < part.to);
}

/** The UTC month boundary nearest to ms, if within MONTH_SNAP_MS of it. */
function nearestUtcMonth(ms: number): number | undefined {
  const start = startOfUtcMonth(ms);
  const next = addUtcMonths(start, 1);
  const nearest = ms - start <= next - ms ? start : next;
  return Math.abs(ms - nearest) <= MONTH_SNAP_MS ? nearest : undefined;
}

/**
 * Totals per check over [from, to): whole UTC days from the daily rollups and the hours around them from the
 * hourly ones, so a month of 20,000 checks reads ~30 rows per check, not ~720. Edges that are not on the hour
 * (a report from 10:17) are rebuilt from the raw results of the checks asked for.
 */
export async function directTotals(
  store: HistoryStore,
  from: number,
  to: number,
  options: { checks?: readonly CheckRef[]; states?: readonly CheckSpan[] | Promise<readonly CheckSpan[]> } = {},
): Promise<Map<string, RollupDelta>> {
  const checks = options.checks;
  const alignedFrom = ceilHour(from);
  const alignedTo = Math.max(alignedFrom, Math.floor(to / HOUR_MS) * HOUR_MS);
  const firstDay = Math.ceil(alignedFrom / DAY_MS) * DAY_MS;
  const lastDay = Math.floor(alignedTo / DAY_MS) * DAY_MS;
  const filter = checks ? { checks } : {};
  const ranges: Array<Promise<RollupDelta[]>> =
    firstDay < lastDay
      ? [
          store.rollupTotals({ grain: 'day', from: firstDay, to: lastDay, ...filter }),
          store.rollupTotals({ grain: 'hour', from: alignedFrom, to: firstDay, ...filter }),
          store.rollupTotals({ grain: 'hour', from: lastDay, to: alignedTo, ...filter }),
        ]
      : [store.rollupTotals({ grain: 'hour', from: alignedFrom, to: alignedTo, ...filter })];
  const totals = new Map<string, RollupDelta>();
  const add = (row: RollupDelta): void => {
    const key = checkKey(row);
    const into = totals.get(key);
    if (into) addTotals(into, row);
    else totals.set(key, { ...row, ...cloneTotals(row) });
  };
  for (const rows of await Promise.all(ranges)) rows.forEach(add);
  if (alignedFrom === from && alignedTo === to) return totals;

  const states = await (options.states ?? store.checkStates({ status: false }));
  const wanted = checks ? new Set(checks.map(checkKey)) : undefined;
  for (const state of states) {
    if (wanted && !wanted.has(checkKey(state))) continue;
    const edges =
      alignedFrom < alignedTo
        ? [
            { from, to: alignedFrom },
            { from: alignedTo, to },
          ]
        : [{ from, to }];
    for (const edge of edges.filter((range) => range.to > range.from)) {
      const lookBack = coverMs(state.intervalS) * 2;
      const results = await store.results({ monitor: state.monitor, check: state.check, from: edge.from - lookBack, to: edge.to + lookBack });
      add({ monitor: state.monitor, tenant: state.tenant, check: state.check, bucket: edge.from, ...rawTotals(results, edge.from, edge.to, state) });
    }
  }
  return totals;
}

/**
 * What the rollups would hold for [from, to), rebuilt from raw results the way the recorder builds them. The
 * check's latest result is left out: its span is still open and the accounting adds it.
 */
export function rawTotals(results: readonly ResultRow[], from: number, to: number, state: Pick<CheckStateRow, 'lastAt'>): Totals {
  const totals = emptyTotals();
  results.forEach((result, i) => {
    const next = results[i + 1]?.startedAt;
    if (next === undefined && result.startedAt === state.lastAt) return;
    const span = overlap(result.startedAt, coveredUntil(result.startedAt, result.intervalS, next ?? Number.POSITIVE_INFINITY), from, to);
    if (result.ok) totals.okMs += span;
    else totals.failMs += span;
    if (result.startedAt < from || result.startedAt >= to) return;
    totals.runs += 1;
    if (!result.ok) totals.failures += 1;
    totals.durationMsSum += result.durationMs;
    const durationBucket = bucketIndex(DURATION_BOUNDS, result.durationMs / 1000);
    totals.durationBuckets[durationBucket] = (totals.durationBuckets[durationBucket] ?? 0) + 1;
    if (result.deliveryMs !== undefined) {
      totals.deliveries += 1;
      const deliveryBucket = bucketIndex(DELIVERY_BOUNDS, result.deliveryMs / 1000);
      totals.deliveryBuckets[deliveryBucket] = (totals.deliveryBuckets[deliveryBucket] ?? 0) + 1;
    }
  });
  return totals;
}

function cloneTotals(totals: Totals): Totals {
  const copy = emptyTotals();
  addTotals(copy, totals);
  return copy;
}

/** Rounds an instant up to the next whole hour (UTC hours; every zone in use today is whole-hour or half-hour). */
export function ceilHour(ms: number): number {
  return Math.ceil(ms / HOUR_MS) * HOUR_MS;
}

/**
 * Time no agent of this store was running within [from, to), from the recorded running periods. A period
 * still open and seen within a minute of `now` counts as running until now (heartbeats come every 15 s).
 */
export function agentDownIntervals(
  runs: ReadonlyArray<{ startedAt: number; lastSeenAt: number; stoppedAt?: number }>,
  from: number,
  to: number,
  now: number,
): Interval[] {
  const running = union(runs.map((run) => ({ from: run.startedAt, to: run.stoppedAt ?? (now - run.lastSeenAt < 60_000 ? now : run.lastSeenAt) })));
  return complement(running, from, Math.min(to, now));
}
