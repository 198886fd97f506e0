import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { CheckResult } from '../../src/core/result.js';
import { DEFAULT_POLICY, periodTotals } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { monthRange } from '../../src/history/calendar.js';
import { buildReport, type ConfiguredCheck } from '../../src/history/report.js';
import type { Grain, HistoryStore, RollupDelta, RollupQuery, RollupSumsQuery, Totals } from '../../src/history/types.js';
import { checkResult } from '../alerting/support.js';
import { delegatingStore } from '../support/delegating-store.js';
import { playHistory } from '../support/played-history.js';

// The monthly rollups are a shortcut, not a second truth: a period read as whole UTC months plus or minus the
// days and hours at its ends must give exactly what the daily and hourly rows (and raw results at unaligned
// edges) give.

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const STEP = 10 * MIN;
const FROM = Date.UTC(2030, 1, 24);
const TO = Date.UTC(2030, 4, 8);
const DURATIONS = [0.05, 0.25, 0.5, 1.5, 3, 12, 45, 75];
const DELIVERIES = [0.5, 4, 16, 250, 700];
// Failing across the Berlin and St John's month edges (the corrections), and short streaks everywhere.
const OUTAGES = [
  { from: Date.UTC(2030, 1, 28, 21), to: Date.UTC(2030, 2, 1, 4) },
  { from: Date.UTC(2030, 2, 31, 20), to: Date.UTC(2030, 3, 1, 5) },
  { from: Date.UTC(2030, 3, 30, 21, 40), to: Date.UTC(2030, 4, 1, 3, 10) },
];

function resultAt(t: number, monitor: string, check: 'imap' | 'smtp'): CheckResult {
  const i = Math.round((t - FROM) / STEP);
  // Up to 7 minutes late, so spans cross hour edges anywhere and some leave uncovered (unknown) time.
  const startedAt = t + ((i * 97 + (check === 'smtp' ? 31 : 0)) % 420) * 1000;
  const failing = OUTAGES.some((outage) => startedAt >= outage.from && startedAt < outage.to) || i % 211 < 3;
  const base = checkResult({ monitor, check, at: startedAt, ...(failing ? { failure: { reason: 'auth_failed' } } : {}) });
  const deliverySeconds = check === 'smtp' && i % 3 === 0 ? DELIVERIES[i % DELIVERIES.length] : undefined;
  return {
    ...base,
    durationSeconds: DURATIONS[(i + monitor.length) % DURATIONS.length] ?? 1,
    outcome: { ...base.outcome, measured: deliverySeconds === undefined ? {} : { deliverySeconds } },
  };
}

/**
 * Counts the rows answered from each grain (a summed query's rows count for each grain it read) and the queries,
 * and can answer month queries from hourly rows instead.
 */
function observed(store: HistoryStore, monthsFromHours = false): HistoryStore & { rows: Record<Grain, number>; queries: number[] } {
  const rows: Record<Grain, number> = { hour: 0, day: 0, month: 0 };
  const queries: number[] = [];
  const grain = (asked: Grain): Grain => (monthsFromHours && asked === 'month' ? 'hour' : asked);
  return delegatingStore(store, {
    rows,
    queries,
    rollupTotals: async (query: RollupQuery) => {
      const answer = await store.rollupTotals({ ...query, grain: grain(query.grain) });
      rows[query.grain] += answer.length;
      queries.push(1);
      return answer;
    },
    rollupSums: async (query: RollupSumsQuery) => {
      const answer = await store.rollupSums({ ...query, parts: query.parts.map((part) => ({ ...part, grain: grain(part.grain) })) });
      for (const read of new Set(query.parts.map((part) => part.grain))) rows[read] += answer.length;
      queries.push(query.parts.length);
      return answer;
    },
    checkSpans: async (query: RollupSumsQuery) => {
      const answer = await store.checkSpans({ ...query, parts: query.parts.map((part) => ({ ...part, grain: grain(part.grain) })) });
      for (const read of new Set(query.parts.map((part) => part.grain))) rows[read] += answer.length;
      queries.push(query.parts.length);
      return answer;
    },
  });
}

function comparable(totals: Map<string, RollupDelta>): Record<string, Totals> {
  return Object.fromEntries(
    [...totals].map(([key, row]) => [
      key,
      {
        okMs: row.okMs,
        failMs: row.failMs,
        runs: row.runs,
        failures: row.failures,
        durationMsSum: row.durationMsSum,
        durationBuckets: row.durationBuckets,
        deliveries: row.deliveries,
        deliveryBuckets: row.deliveryBuckets,
      },
    ]),
  );
}

const configured: ConfiguredCheck[] = ['probe-a', 'probe-bb'].flatMap((monitor) =>
  (['imap', 'smtp'] as const).map((check) => ({
    monitor,
    tenant: 'contoso',
    check,
    mailbox: `${monitor}@contoso.com`,
    tenantId: '11111111-2222-3333-4444-555555555555',
    clientId: '10e1f456-3921-1234-1234-105af0774c61',
  })),
);

const CASES: Array<{ name: string; from: number; to: number; months: boolean }> = [
  { name: 'a UTC month', ...monthRange('2030-04', 'UTC'), months: true },
  { name: 'a Europe/Berlin month with the change to summer time', ...monthRange('2030-03', 'Europe/Berlin'), months: true },
  { name: 'a America/St_Johns month (UTC-2:30, half hours)', ...monthRange('2030-04', 'America/St_Johns'), months: true },
  {
    name: 'from 10:17 on the 2nd to 18:43 on the 29th (raw results at both edges)',
    from: Date.UTC(2030, 3, 2, 10, 17),
    to: Date.UTC(2030, 3, 29, 18, 43),
    months: true,
  },
  { name: 'from 10:17 on the 5th, a month long (not near a month edge)', from: Date.UTC(2030, 2, 5, 10, 17), to: Date.UTC(2030, 3, 5, 10, 17), months: false },
  { name: 'three days across a month edge', from: Date.UTC(2030, 2, 30, 6), to: Date.UTC(2030, 3, 2, 6), months: false },
  { name: 'two months in Europe/Berlin', from: monthRange('2030-03', 'Europe/Berlin').from, to: monthRange('2030-04', 'Europe/Berlin').to, months: true },
];

describe('period totals from monthly rollups equal those from daily and hourly ones', () => {
  let store: HistoryStore;
  before(async () => {
    store = await openSqliteStore(':memory:', { now: FROM });
    await playHistory(store, {
      from: FROM,
      to: TO,
      stepMs: STEP,
      intervalSeconds: 600,
      stop: { from: Date.UTC(2030, 3, 10, 8), to: Date.UTC(2030, 3, 10, 14) },
      results: (t) => configured.map((check) => resultAt(t, check.monitor, check.check as 'imap' | 'smtp')),
    });
  });

  for (const range of CASES) {
    test(range.name, async () => {
      const viaMonths = observed(store);
      const monthly = await periodTotals(viaMonths, range.from, range.to);
      const direct = await periodTotals(store, range.from, range.to, { months: false });
      assert.equal(viaMonths.rows.month > 0, range.months, 'read from the monthly rollups');
      assert.equal(direct.size, configured.length);
      assert.deepEqual(comparable(monthly), comparable(direct));
      const sample = [...direct.values()];
      assert.ok(
        sample.every((row) => row.failures > 0 && row.okMs > 0 && row.failMs > 0),
        'the period has failures',
      );
      assert.ok(
        sample.some((row) => row.deliveries > 0),
        'the period has deliveries',
      );
      if (range.from % HOUR === 0 && range.to % HOUR === 0) {
        const hours = await store.rollupTotals({ grain: 'hour', from: range.from, to: range.to });
        assert.deepEqual(comparable(monthly), comparable(new Map(hours.map((row) => [`${row.monitor}\u0000${row.check}`, row]))), 'the hourly rows summed');
      }
    });
  }

  test('a month in Europe/Berlin is one query: the monthly rows and two hourly corrections, no daily ones', async () => {
    const viaMonths = observed(store);
    await periodTotals(viaMonths, ...(Object.values(monthRange('2030-03', 'Europe/Berlin')) as [number, number]));
    assert.deepEqual(viaMonths.queries, [3], 'one query of three parts');
    assert.deepEqual(viaMonths.rows, { month: configured.length, day: 0, hour: configured.length });
  });

  test("the report of a Europe/Berlin and a St John's month is the same as from hourly rows alone", async () => {
    for (const timeZone of ['Europe/Berlin', 'America/St_Johns']) {
      const period = monthRange('2030-03', timeZone);
      const query = { ...period, now: TO + DAY, label: '2030-03' };
      const policy = { ...DEFAULT_POLICY, timeZone };
      const viaMonths = observed(store);
      const viaHours = observed(store, true);
      const fromMonths = await buildReport({ store: viaMonths, policy, configured }, query);
      const fromHours = await buildReport({ store: viaHours, policy, configured }, query);
      assert.ok(viaMonths.rows.month > 0 && viaHours.rows.month > 0, `${timeZone}: the report read the monthly rollups (or hourly rows in their place)`);
      assert.deepEqual({ ...fromMonths, generatedAt: '' }, { ...fromHours, generatedAt: '' });
      assert.ok(
        fromMonths.checks.every((check) => check.failures > 0 && check.availability !== null && check.availability < 1),
        timeZone,
      );
      assert.ok(
        fromMonths.checks.some((check) => check.deliverySeconds !== null),
        timeZone,
      );
    }
  });
});
