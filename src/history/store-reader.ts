import type { CheckKind } from '../core/check.js';
import {
  accountCheck,
  agentDownIntervals,
  availabilityOf,
  ceilHour,
  checkKey,
  finishAccounting,
  planAccounting,
  type Accounted,
  type AccountingPolicy,
  type CheckBasis,
  type CheckIdentityRef,
} from './accounting.js';
import { addLocalDays, DAY_MS, HOUR_MS, localDayKey, startOfLocalDay } from './calendar.js';
import { CheckMap } from './check-map.js';
import { CheckRangeSums, readPlan, type TimeSums } from './range-sums.js';
import { clipIntervals, occurrences, union, type Interval } from './maintenance.js';
import {
  AVAILABILITY_WINDOWS,
  type AvailabilityWindow,
  type CheckHistorySummary,
  type DaySummary,
  type HistoryReader,
  type IncidentSummary,
} from './reader.js';
import type { CheckRef, HistoryStore, IncidentRow, ResultRow } from './types.js';

// Incidents overlapping 90 days of the checks asked for: far more than any page shows, bounded all the same.
const INCIDENTS_PER_QUERY = 100_000;
const WINDOW_MS: Record<AvailabilityWindow, number> = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS };

export interface StoreReaderOptions {
  store: HistoryStore;
  policy: AccountingPolicy;
  /** The checks configured when the reader was made (a reload makes a new reader); others are shown only while their history lasts. */
  configured?: readonly CheckIdentityRef[];
}

/** The HistoryReader contract on any HistoryStore backend, with the accounting rules of src/history/accounting.ts. */
export class StoreHistoryReader implements HistoryReader {
  readonly #options: StoreReaderOptions;
  // Looked up for the few checks a page asks for; built once, not for each of 20,000 checks per render.
  readonly #configured: ReadonlyMap<string, CheckIdentityRef>;

  constructor(options: StoreReaderOptions) {
    this.#options = options;
    this.#configured = new Map((options.configured ?? []).map((ref) => [checkKey(ref), ref]));
  }

  async checkSummaries(query: { now: number; days: number; checks?: ReadonlyArray<{ monitor: string; check: CheckKind }> }): Promise<CheckHistorySummary[]> {
    const { store, policy } = this.#options;
    const { now } = query;
    const days = Math.max(1, Math.floor(query.days));
    const tz = policy.timeZone;
    const today = startOfLocalDay(now, tz);
    const dayRanges = localDays(today, days, tz);
    const windowRanges = AVAILABILITY_WINDOWS.map((window) => ({ from: ceilHour(now - WINDOW_MS[window]), to: now + 1 }));
    const from = Math.min(dayRanges[0]?.from ?? today, ...windowRanges.map((range) => range.from));

    const configured = this.#configured;
    // Today's bar ends now: read (and sum) it by the hour so far, not as a whole UTC day.
    const known = (range: Interval): Interval => ({ from: range.from, to: Math.min(range.to, now + 1) });
    const plan = readPlan([...dayRanges, ...windowRanges].map(known));
    // For a page's checks, the whole hours of the maintenance windows are read with the other hourly rows, in the
    // same statement, instead of one query per distinct set of windows after the rest (six round trips a page).
    const windowHours = query.checks ? maintenanceHours(policy, from, now + 1) : [];
    const hours = union([...plan.hours, ...windowHours]);
    const filter = query.checks ? { checks: query.checks } : {};
    const [states, daily, hourly, incidents, runs] = await Promise.all([
      store.checkStates(filter),
      plan.days ? store.rollups({ grain: 'day', ...plan.days, ...filter }) : [],
      hours.length === 0 ? [] : store.rollups({ grain: 'hour', from: hours[0]?.from ?? 0, to: hours[hours.length - 1]?.to ?? 0, ranges: hours, ...filter }),
      store.incidents({ from, to: now + 1, limit: INCIDENTS_PER_QUERY, ...filter }),
      store.agentRuns({ from, to: now + 1 }),
    ]);
    const wanted = query.checks ?? [
      ...new Map([...configured.values(), ...states].map((ref) => [checkKey(ref), { monitor: ref.monitor, check: ref.check }])).values(),
    ];
    const stateOf = new Map(states.map((state) => [checkKey(state), state]));
    const sumsOf = new Map<string, CheckRangeSums>();
    const sumsFor = (ref: CheckRef): CheckRangeSums => {
      const key = checkKey(ref);
      let found = sumsOf.get(key);
      if (!found) sumsOf.set(key, (found = new CheckRangeSums()));
      return found;
    };
    for (const row of daily) sumsFor(row).addDay(row.bucket, row);
    for (const row of hourly) sumsFor(row).addHour(row.bucket, row);
    const incidentsOf = groupBy(incidents, checkKey);
    const agentDown = agentDownIntervals(runs, from, now + 1, now);
    // The same periods for every check: the agent's down time in each is cut once, not once per check.
    const dayDown = dayRanges.map((range) => clipIntervals(agentDown, range.from, range.to));
    const windowDown = windowRanges.map((range) => clipIntervals(agentDown, range.from, range.to));
    const hoursOf = query.checks ? undefined : memoHours(store);

    return Promise.all(
      wanted.map(async (ref) => {
        const key = checkKey(ref);
        const state = stateOf.get(key);
        const check: CheckIdentityRef = { ...ref, tenant: configured.get(key)?.tenant ?? state?.tenant ?? '' };
        const sums = sumsOf.get(key) ?? new CheckRangeSums();
        const resultsIn = memoResults(store, ref);
        // Planned without the store; only windows over part of an hour (raw results), or a call for all checks
        // (hourly sums asked per set of windows), wait for a read. 100 checks x 94 periods made as many promises.
        const incidentsOfCheck = incidentsOf.get(key) ?? [];
        const account = (range: Interval, down: readonly Interval[]): Accounted | Promise<Accounted> => {
          const input: CheckBasis = {
            check,
            from: range.from,
            to: range.to,
            now,
            totals: sums.sum(known(range)),
            ...(state ? { state } : {}),
            configured: configured.size === 0 || configured.has(key),
            incidents:
              incidentsOfCheck.length === 0
                ? incidentsOfCheck
                : incidentsOfCheck.filter((incident) => incident.startedAt < range.to && (incident.endedAt ?? now) > range.from),
            agentDown: down,
          };
          const planned = planAccounting(input, policy);
          if (planned.done) return planned.done;
          const { hours, partial } = planned.maintenance;
          if (!hoursOf && partial.length === 0) return finishAccounting(planned, hours.length > 0 ? sums.hoursIn(hours) : undefined, [], policy);
          return accountCheck({ ...input, resultsIn, hoursIn: hoursOf ? hoursOf(ref) : async (ranges) => sums.hoursIn(ranges) }, policy);
        };
        const found = dayRanges.map((range, i) => account(range, dayDown[i] ?? []));
        const accounted = found.some((day) => day instanceof Promise) ? await Promise.all(found.map(async (day) => day)) : (found as Accounted[]);
        const daySummaries = dayRanges.map((range, i): DaySummary => {
          const day = accounted[i] as Accounted;
          // A day (or its part) before the check's first result has no data: all unknown, as the contract says.
          const unaccounted = Math.max(0, Math.min(range.to, now) - range.from - (day.accountedTo - day.accountedFrom));
          return {
            day: range.day,
            okSeconds: seconds(day.okMs),
            failSeconds: seconds(day.failMs),
            maintenanceSeconds: seconds(day.maintenanceMs),
            unknownSeconds: seconds(day.unknownMs + unaccounted),
          };
        });
        const availability = {} as Record<AvailabilityWindow, number | null>;
        for (const [i, window] of AVAILABILITY_WINDOWS.entries()) {
          const range = windowRanges[i];
          const found = range ? account(range, windowDown[i] ?? []) : undefined;
          availability[window] = found ? availabilityOf(found instanceof Promise ? await found : found, policy) : null;
        }
        return { monitor: ref.monitor, check: ref.check, days: daySummaries, availability };
      }),
    );
  }

  async incidents(query: { from: number; to: number; limit: number; monitor?: string }): Promise<IncidentSummary[]> {
    const rows = await this.#options.store.incidents(query);
    return rows.map(incidentSummary);
  }
}

export function incidentSummary(row: IncidentRow): IncidentSummary {
  return {
    monitor: row.monitor,
    tenant: row.tenant,
    check: row.check,
    startedAt: row.startedAt,
    ...(row.endedAt !== undefined ? { endedAt: row.endedAt } : {}),
    reason: row.reason,
    stage: row.stage,
    ...(row.serverText !== undefined ? { serverText: row.serverText } : {}),
    ...(row.cause !== undefined ? { cause: row.cause } : {}),
    ...(row.diagnosis !== undefined ? { diagnosis: row.diagnosis } : {}),
  };
}

// The page asks for the same 90 local days on every request until the day turns: they are worked out (with Intl
// off UTC) once per day and zone.
let daysKept: { key: string; days: ReadonlyArray<Interval & { day: string }> } | undefined;

function localDays(today: number, days: number, tz: string): ReadonlyArray<Interval & { day: string }> {
  const key = `${today}:${days}:${tz}`;
  if (daysKept?.key === key) return daysKept.days;
  const starts = Array.from({ length: days }, (_, i) => addLocalDays(today, i - (days - 1), tz));
  const found = starts.map((start, i) => ({ from: start, to: starts[i + 1] ?? addLocalDays(start, 1, tz), day: localDayKey(start, tz) }));
  daysKept = { key, days: found };
  return found;
}

/** The whole hours of every maintenance window's occurrences in [from, to), whoever they apply to. */
function maintenanceHours(policy: AccountingPolicy, from: number, to: number): Interval[] {
  return union(policy.maintenance.flatMap((window) => occurrences(window, from, to)))
    .map((window) => ({ from: ceilHour(window.from), to: Math.floor(window.to / HOUR_MS) * HOUR_MS }))
    .filter((hours) => hours.from < hours.to);
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}

export function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const group = groups.get(k);
    if (group) group.push(row);
    else groups.set(k, [row]);
  }
  return groups;
}

/**
 * OK and FAIL time in hour buckets for the checks asked: one store query per distinct set of ranges, shared by
 * every check that asks for the same set (a fleet-wide maintenance window is one query, not one per check).
 */
export function memoHours(
  store: HistoryStore,
  checks?: readonly CheckRef[],
): (ref: CheckRef) => (ranges: readonly Interval[]) => Promise<TimeSums | undefined> {
  const sums = memoHourSums(store, checks);
  return (ref) => async (ranges) => (await sums(ranges)).get(ref);
}

/** Every check's OK and FAIL time in hour buckets within the ranges, by check; one store query per set of ranges. */
export function memoHourSums(store: HistoryStore, checks?: readonly CheckRef[]): (ranges: readonly Interval[]) => Promise<CheckMap<TimeSums>> {
  const cache = new Map<string, Promise<CheckMap<TimeSums>>>();
  return (ranges) => {
    const key = ranges.map((range) => `${range.from}:${range.to}`).join(',');
    let found = cache.get(key);
    if (!found) {
      found = store.hourTime({ ranges, ...(checks ? { checks } : {}) }).then((rows) => {
        const sums = new CheckMap<TimeSums>();
        for (const row of rows) sums.set(row, row);
        return sums;
      });
      cache.set(key, found);
    }
    return found;
  };
}

/** Raw results of one check, fetched once per range asked (maintenance windows ask per day). */
export function memoResults(store: HistoryStore, ref: { monitor: string; check: CheckKind }): (from: number, to: number) => Promise<ResultRow[]> {
  const cache = new Map<string, Promise<ResultRow[]>>();
  return (from, to) => {
    const key = `${from}:${to}`;
    let found = cache.get(key);
    if (!found) {
      found = store.results({ ...ref, from, to });
      cache.set(key, found);
    }
    return found;
  };
}
