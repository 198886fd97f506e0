import type { CheckKind } from '../core/check.js';
import { accountCheck, agentDownIntervals, availabilityOf, ceilHour, checkKey, type AccountingPolicy, type CheckIdentityRef } from './accounting.js';
import { addLocalDays, DAY_MS, localDayKey, startOfLocalDay } from './calendar.js';
import type { Interval } from './maintenance.js';
import { AVAILABILITY_WINDOWS, type AvailabilityWindow, type CheckHistorySummary, type DaySummary, type HistoryReader, type IncidentSummary } from './reader.js';
import { addTotals, emptyTotals, type HistoryStore, type IncidentRow, type ResultRow, type Totals } from './types.js';

const WINDOW_MS: Record<AvailabilityWindow, number> = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS };

export interface StoreReaderOptions {
  store: HistoryStore;
  policy: AccountingPolicy;
  /** The checks configured now (with tenants); others are shown only while their history lasts. */
  configured?: () => readonly CheckIdentityRef[];
}

/** The HistoryReader contract on any HistoryStore backend, with the accounting rules of src/history/accounting.ts. */
export class StoreHistoryReader implements HistoryReader {
  readonly #options: StoreReaderOptions;

  constructor(options: StoreReaderOptions) {
    this.#options = options;
  }

  async checkSummaries(query: { now: number; days: number; checks?: ReadonlyArray<{ monitor: string; check: CheckKind }> }): Promise<CheckHistorySummary[]> {
    const { store, policy } = this.#options;
    const { now } = query;
    const days = Math.max(1, Math.floor(query.days));
    const tz = policy.timeZone;
    const today = startOfLocalDay(now, tz);
    const dayStarts = Array.from({ length: days }, (_, i) => addLocalDays(today, i - (days - 1), tz));
    const from = Math.min(dayStarts[0] ?? today, ceilHour(now - WINDOW_MS['90d']));

    const states = await store.checkStates();
    const configured = this.#options.configured?.() ?? [];
    const configuredKeys = new Set(configured.map(checkKey));
    const wanted = query.checks ?? [...new Map([...configured, ...states].map((ref) => [checkKey(ref), { monitor: ref.monitor, check: ref.check }])).values()];
    const stateOf = new Map(states.map((state) => [checkKey(state), state]));
    const tenantOf = new Map([...states, ...configured].map((ref) => [checkKey(ref), ref.tenant]));

    const [hourly, incidents, runs] = await Promise.all([
      store.rollups({ grain: 'hour', from, to: now + 1, checks: wanted }),
      store.incidents({ from, to: now + 1, limit: 1_000_000 }),
      store.agentRuns({ from, to: now + 1 }),
    ]);
    const hoursOf = groupBy(hourly, checkKey);
    const incidentsOf = groupBy(incidents, checkKey);
    const agentDown = agentDownIntervals(runs, from, now + 1, now);

    return Promise.all(
      wanted.map(async (ref) => {
        const key = checkKey(ref);
        const check: CheckIdentityRef = { ...ref, tenant: tenantOf.get(key) ?? '' };
        const hours = hoursOf.get(key) ?? [];
        const state = stateOf.get(key);
        const resultsIn = memoResults(store, ref);
        const account = (start: number, end: number) =>
          accountCheck(
            {
              check,
              from: start,
              to: end,
              now,
              totals: sumHours(hours, start, end),
              ...(state ? { state } : {}),
              configured: configuredKeys.size === 0 || configuredKeys.has(key),
              incidents: (incidentsOf.get(key) ?? []).filter((incident) => incident.startedAt < end && (incident.endedAt ?? now) > start),
              agentDown: clipIntervals(agentDown, start, end),
              resultsIn,
            },
            policy,
          );
        const daySummaries: DaySummary[] = await Promise.all(
          dayStarts.map(async (start, i) => {
            const end = dayStarts[i + 1] ?? addLocalDays(start, 1, tz);
            const accounted = await account(start, end);
            // A day (or its part) before the check's first result has no data: all unknown, as the contract says.
            const unaccounted = Math.max(0, Math.min(end, now) - start - (accounted.accountedTo - accounted.accountedFrom));
            return {
              day: localDayKey(start, tz),
              okSeconds: seconds(accounted.okMs),
              failSeconds: seconds(accounted.failMs),
              maintenanceSeconds: seconds(accounted.maintenanceMs),
              unknownSeconds: seconds(accounted.unknownMs + unaccounted),
            };
          }),
        );
        const availability = {} as Record<AvailabilityWindow, number | null>;
        for (const window of AVAILABILITY_WINDOWS) {
          availability[window] = availabilityOf(await account(ceilHour(now - WINDOW_MS[window]), now + 1), policy);
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
  };
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}

function sumHours(hours: readonly (Totals & { bucket: number })[], from: number, to: number): Totals {
  const totals = emptyTotals();
  for (const hour of hours) if (hour.bucket >= from && hour.bucket < to) addTotals(totals, hour);
  return totals;
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

export function clipIntervals(intervals: readonly Interval[], from: number, to: number): Interval[] {
  return intervals.flatMap((interval) => (interval.to > from && interval.from < to ? [{ from: Math.max(from, interval.from), to: Math.min(to, interval.to) }] : []));
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

