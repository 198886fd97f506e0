import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_POLICY, type AccountingPolicy } from '../../src/history/accounting.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, ROLLUP_SUMS } from '../../src/history/migrations.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import type { SqlDriver } from '../../src/history/sql.js';
import { StoreHistoryReader } from '../../src/history/store-reader.js';
import { emptyTotals, type HistoryStore, type RollupDelta, type RollupPart, type WriteBatch } from '../../src/history/types.js';
import { failed, FakeClock, MemoryLogger, passed } from '../alerting/support.js';
import { record, restore } from '../support/fold.js';

// One contract for every HistoryStore backend (as gatus runs storage/store/store_test.go on each): the same
// cases against SQLite (unit) and a real PostgreSQL (integration).

// A fixed instant, not the calendar: Monday 2030-01-07 00:00 UTC.
export const BASE = Date.UTC(2030, 0, 7);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export interface StoreFactory {
  /** A new, empty store. */
  open(): Promise<HistoryStore>;
  /** The same data opened again (a restart). */
  reopen(store: HistoryStore): Promise<HistoryStore>;
  readonly dialect: SqlDriver['dialect'];
  /** A store opened on a new database first prepared by running these statements raw (an older release's schema and rows). */
  openPrepared(statements: readonly string[]): Promise<HistoryStore>;
}

function delta(overrides: Partial<RollupDelta>): RollupDelta {
  return { monitor: 'm1', tenant: 't1', check: 'imap', bucket: BASE, ...emptyTotals(), ...overrides };
}

function batch(overrides: Partial<WriteBatch>): WriteBatch {
  return { results: [], hourly: [], daily: [], monthly: [], incidents: [], checkStates: [], ...overrides };
}

function recorderOn(store: HistoryStore, clock: FakeClock, logger = new MemoryLogger()): HistoryRecorder {
  return new HistoryRecorder({ store, clock, logger, flushMs: 3_600_000, pruneEveryMs: 3_600_000 });
}

const job = (intervalSeconds: number) => ({ monitor: { intervalSeconds } });

export function storeContract(factory: StoreFactory): void {
  test('migrations: a new store is at the latest schema version, and opening it again applies nothing twice', async () => {
    const store = await factory.open();
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const again = await factory.reopen(store);
    assert.equal(await again.schemaVersion(), LATEST_SCHEMA_VERSION);
    await again.close();
  });

  test('migrations: a version 1 store upgrades in place, its monthly rollups filled from the daily ones', async () => {
    const v1 = MIGRATIONS.find((migration) => migration.version === 1);
    assert.ok(v1);
    const big = factory.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
    const dailyRow = (monitor: string, tenant: string, day: number, okMs: number, failMs: number, d3: number): string => {
      const values = Object.fromEntries(ROLLUP_SUMS.map((column) => [column, 0]));
      Object.assign(values, { ok_ms: okMs, fail_ms: failMs, runs: d3, failures: failMs > 0 ? 1 : 0, duration_ms_sum: d3 * 500, d3 });
      return `INSERT INTO rollup_daily (monitor, check_kind, bucket, tenant, ${ROLLUP_SUMS.join(', ')}) VALUES ('${monitor}', 'imap', ${day}, '${tenant}', ${ROLLUP_SUMS.map((column) => values[column]).join(', ')})`;
    };
    // 2029-12-31, 2030-01-01, 2030-01-31 and 2030-02-01 (UTC midnights on both sides of two month boundaries).
    const days = [Date.UTC(2029, 11, 31), Date.UTC(2030, 0, 1), Date.UTC(2030, 0, 31), Date.UTC(2030, 1, 1)];
    const store = await factory.openPrepared([
      `CREATE TABLE schema_migrations (version ${big} PRIMARY KEY, description TEXT NOT NULL, applied_at ${big} NOT NULL)`,
      ...v1.statements(factory.dialect),
      `INSERT INTO schema_migrations (version, description, applied_at) VALUES (1, '${v1.description}', ${BASE})`,
      ...days.map((day, i) => dailyRow('m1', 't1', day, 1000 * (i + 1), 10 * (i + 1), i + 1)),
      dailyRow('m2', 't2', Date.UTC(2030, 0, 15), 7, 0, 2),
    ]);
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const monthly = await store.rollupTotals({ grain: 'month', from: 0, to: Date.UTC(2031, 0, 1), checks: [{ monitor: 'm1', check: 'imap' }] });
    assert.equal(monthly.length, 1);
    const months = await store.rollups({ grain: 'month', from: 0, to: Date.UTC(2031, 0, 1) });
    assert.deepEqual(
      months.map((row) => [row.monitor, row.bucket, row.okMs, row.failMs]),
      [
        ['m1', Date.UTC(2029, 11, 1), 1000, 10],
        ['m1', Date.UTC(2030, 0, 1), 2000 + 3000, 20 + 30],
        ['m1', Date.UTC(2030, 1, 1), 4000, 40],
        ['m2', Date.UTC(2030, 0, 1), 7, 0],
      ],
    );
    const january = await store.rollupTotals({
      grain: 'month',
      from: Date.UTC(2030, 0, 1),
      to: Date.UTC(2030, 1, 1),
      checks: [{ monitor: 'm1', check: 'imap' }],
    });
    assert.deepEqual(
      january.map((row) => [row.tenant, row.runs, row.failures, row.durationMsSum, row.durationBuckets[3]]),
      [['t1', 2 + 3, 2, 2500, 5]],
    );
    // New writes add to the backfilled rows.
    await store.write(batch({ monthly: [delta({ bucket: Date.UTC(2030, 0, 1), okMs: 1 })] }));
    assert.equal(
      (await store.rollups({ grain: 'month', from: Date.UTC(2030, 0, 1), to: Date.UTC(2030, 1, 1), checks: [{ monitor: 'm1', check: 'imap' }] }))[0]?.okMs,
      5001,
    );
    const again = await factory.reopen(store);
    assert.equal((await again.rollups({ grain: 'month', from: 0, to: Date.UTC(2031, 0, 1) })).length, 4, 'the backfill ran once');
    await again.close();
  });

  test('migrations: a version 4 store upgrades in place to slim results (and PostgreSQL partitions), losing no field', async () => {
    const big = factory.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
    const v4 = MIGRATIONS.filter((migration) => migration.version <= 4);
    const quote = (value: string | null): string => (value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`);
    const oldResult = (monitor: string, check: string, at: number, ok: boolean, extra: { serverText?: string; deliveryMs?: number } = {}): string =>
      `INSERT INTO results (monitor, check_kind, started_at, tenant, mailbox, duration_ms, ok, stage, reason, category, server_text, steps, delivery_ms, interval_s)
        VALUES ('${monitor}', '${check}', ${at}, 't1', 'a@x', 812.5, ${ok ? 1 : 0}, ${ok ? 'NULL' : "'auth'"}, ${ok ? 'NULL' : "'auth_failed'"}, ${ok ? 'NULL' : "'auth'"},
        ${quote(extra.serverText ?? null)}, '[{"step":"connect","seconds":0.012},{"step":"auth","seconds":0.2}]', ${extra.deliveryMs ?? 'NULL'}, 60)`;
    const hourly = (bucket: number, okMs: number): string =>
      `INSERT INTO rollup_hourly (monitor, check_kind, bucket, tenant, ${ROLLUP_SUMS.join(', ')}) VALUES ('m1', 'imap', ${bucket}, 't1', ${ROLLUP_SUMS.map(
        (column) => (column === 'ok_ms' ? okMs : column === 'runs' || column === 'd3' ? 2 : 0),
      ).join(', ')})`;
    const december = Date.UTC(2029, 11, 20);
    const store = await factory.openPrepared([
      `CREATE TABLE schema_migrations (version ${big} PRIMARY KEY, description TEXT NOT NULL, applied_at ${big} NOT NULL)`,
      ...v4.flatMap((migration) => [
        ...migration.statements(factory.dialect),
        `INSERT INTO schema_migrations (version, description, applied_at) VALUES (${migration.version}, ${quote(migration.description)}, ${BASE})`,
      ]),
      oldResult('m1', 'imap', december, true, { deliveryMs: 1500 }),
      oldResult('m1', 'imap', BASE + MIN, false, { serverText: "NO AUTHENTICATE failed. It's \u00e9" }),
      oldResult('m1', 'imap', BASE + 2 * MIN, false, { serverText: "NO AUTHENTICATE failed. It's \u00e9" }),
      oldResult('m1', 'smtp', BASE + MIN, true),
      hourly(december, 1000),
      hourly(BASE, 3600_000),
    ]);
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const imap = await store.results({ monitor: 'm1', check: 'imap', from: 0, to: BASE + DAY });
    assert.deepEqual(imap[0], {
      monitor: 'm1',
      tenant: 't1',
      mailbox: 'a@x',
      check: 'imap',
      startedAt: december,
      durationMs: 812.5,
      ok: true,
      steps: [
        { step: 'connect', seconds: 0.012 },
        { step: 'auth', seconds: 0.2 },
      ],
      deliveryMs: 1500,
      intervalS: 60,
    });
    assert.deepEqual(
      imap.slice(1).map((row) => [row.startedAt, row.ok, row.stage, row.reason, row.category, row.serverText]),
      [
        [BASE + MIN, false, 'auth', 'auth_failed', 'auth', "NO AUTHENTICATE failed. It's \u00e9"],
        [BASE + 2 * MIN, false, 'auth', 'auth_failed', 'auth', "NO AUTHENTICATE failed. It's \u00e9"],
      ],
    );
    assert.equal((await store.results({ monitor: 'm1', check: 'smtp', from: 0, to: BASE + DAY })).length, 1);
    const [totals] = await store.rollupTotals({ grain: 'hour', from: 0, to: BASE + DAY });
    assert.deepEqual([totals?.okMs, totals?.runs, totals?.durationBuckets[3]], [3601_000, 4, 4]);
    // New rows go beside the copied ones, and a month past its cutoff goes whole.
    await store.write(
      batch({
        results: [{ monitor: 'm1', tenant: 't1', mailbox: 'a@x', check: 'imap', startedAt: BASE + 3 * MIN, durationMs: 5, ok: true, steps: [], intervalS: 60 }],
        hourly: [delta({ bucket: BASE, okMs: 1 })],
      }),
    );
    assert.equal((await store.results({ monitor: 'm1', check: 'imap', from: 0, to: BASE + DAY })).length, 4);
    const january = Date.UTC(2030, 0, 1);
    const counts = await store.prune({ results: january, hourly: january, daily: 0, monthly: 0 });
    assert.deepEqual([counts.results, counts.hourly], [1, 1]);
    assert.deepEqual(
      (await store.results({ monitor: 'm1', check: 'imap', from: 0, to: BASE + DAY })).map((row) => row.startedAt),
      [BASE + MIN, BASE + 2 * MIN, BASE + 3 * MIN],
    );
    assert.deepEqual(
      (await store.rollups({ grain: 'hour', from: 0, to: BASE + DAY })).map((row) => [row.bucket, row.okMs]),
      [[BASE, 3600_001]],
    );
    const again = await factory.reopen(store);
    assert.equal((await again.results({ monitor: 'm1', check: 'imap', from: 0, to: BASE + DAY })).length, 3, 'the copy ran once');
    await again.close();
  });

  test('migrations: a version 5 store upgrades in place, sums kept as zero before adding up with those kept after', async () => {
    const big = factory.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
    const v5 = MIGRATIONS.filter((migration) => migration.version <= 5);
    const january = Date.UTC(2030, 0, 1);
    const february = Date.UTC(2030, 1, 1);
    const tables = ['rollup_hourly', 'rollup_daily', 'rollup_monthly'];
    const bucketOf: Record<string, number> = { rollup_hourly: BASE, rollup_daily: BASE, rollup_monthly: january };
    // Rows as schema 5 wrote them: every sum a number, zeros included.
    const oldRow = (table: string, okMs: number): string =>
      `INSERT INTO ${table} (monitor, check_kind, bucket, tenant, ${ROLLUP_SUMS.join(', ')}) VALUES ('m1', 'imap', ${bucketOf[table]}, 't1', ${ROLLUP_SUMS.map(
        (column) => (column === 'ok_ms' ? okMs : column === 'runs' || column === 'd3' ? 2 : 0),
      ).join(', ')})`;
    const store = await factory.openPrepared([
      `CREATE TABLE schema_migrations (version ${big} PRIMARY KEY, description TEXT NOT NULL, applied_at ${big} NOT NULL)`,
      ...v5.flatMap((migration) => [
        ...migration.statements(factory.dialect),
        `INSERT INTO schema_migrations (version, description, applied_at) VALUES (${migration.version}, '${migration.description.replace(/'/g, "''")}', ${BASE})`,
      ]),
      ...(factory.dialect === 'postgres'
        ? tables.map((table) => `CREATE TABLE ${table}_203001 PARTITION OF ${table} FOR VALUES FROM (${january}) TO (${february})`)
        : []),
      oldRow('rollup_hourly', 1000),
      oldRow('rollup_daily', 2000),
      oldRow('rollup_monthly', 3000),
    ]);
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const d3 = (n: number): number[] => emptyTotals().durationBuckets.map((_, i) => (i === 3 ? n : 0));
    const added = (bucket: number): RollupDelta => delta({ bucket, okMs: 5, failMs: 7, runs: 1, failures: 1, durationBuckets: d3(1) });
    await store.write(batch({ hourly: [added(BASE)], daily: [added(BASE)], monthly: [added(january)] }));
    const [day] = await store.rollupTotals({ grain: 'day', from: january, to: february });
    assert.deepEqual(
      [day?.okMs, day?.failMs, day?.runs, day?.failures, day?.deliveries, day?.durationBuckets[3], day?.durationBuckets[0], day?.deliveryBuckets[0]],
      [2005, 7, 3, 1, 0, 3, 0, 0],
    );
    // The month less its first hour, in one query: old zeros, new NULLs and a sign all add up.
    const [rest] = await store.rollupSums({
      parts: [
        { grain: 'month', from: january, to: february, sign: 1 },
        { grain: 'hour', from: BASE, to: BASE + HOUR, sign: -1 },
      ],
    });
    assert.deepEqual([rest?.okMs, rest?.failMs, rest?.runs, rest?.failures, rest?.durationBuckets[3], rest?.durationBuckets[1]], [2000, 0, 0, 0, 0, 0]);
    assert.deepEqual(
      (await store.hourTime({ ranges: [{ from: BASE, to: BASE + HOUR }] })).map((row) => [row.okMs, row.failMs]),
      [[1005, 7]],
    );
    assert.deepEqual(
      (await store.rollups({ grain: 'hour', from: january, to: february })).map((row) => [row.okMs, row.failMs]),
      [[1005, 7]],
    );
    // A bucket written only after the upgrade: its zero sums read back as zeros.
    await store.write(batch({ hourly: [delta({ bucket: BASE + HOUR, okMs: 9 })] }));
    const [later] = await store.rollupTotals({ grain: 'hour', from: BASE + HOUR, to: BASE + 2 * HOUR });
    assert.deepEqual(
      [later?.okMs, later?.failMs, later?.runs, later?.durationMsSum, later?.durationBuckets.length],
      [9, 0, 0, 0, emptyTotals().durationBuckets.length],
    );
    assert.ok(later?.durationBuckets.every((count) => count === 0));
    await store.close();
  });

  test('results are kept with every field and read back in time order', async () => {
    const store = await factory.open();
    const serverText = 'NO AUTHENTICATE failed.';
    await store.write(
      batch({
        results: [
          {
            monitor: 'm1',
            tenant: 't1',
            mailbox: 'a@x',
            check: 'imap',
            startedAt: BASE + 2 * MIN,
            durationMs: 812.5,
            ok: false,
            stage: 'auth',
            reason: 'auth_failed',
            category: 'auth',
            serverText,
            // Step times of one, two and three bytes each as stored (below 128 ms, below 16,384, above).
            steps: [
              { step: 'connect', seconds: 0.01 },
              { step: 'tls', seconds: 0.128 },
              { step: 'auth', seconds: 95.123 },
            ],
            intervalS: 60,
          },
          {
            monitor: 'm1',
            tenant: 't1',
            mailbox: 'a@x',
            check: 'imap',
            startedAt: BASE + MIN,
            durationMs: 100,
            ok: true,
            steps: [],
            deliveryMs: 1500,
            intervalS: 60,
          },
          { monitor: 'm1', tenant: 't1', mailbox: 'a@x', check: 'smtp', startedAt: BASE + MIN, durationMs: 100, ok: true, steps: [], intervalS: 60 },
        ],
      }),
    );
    const rows = await store.results({ monitor: 'm1', check: 'imap', from: BASE, to: BASE + HOUR });
    assert.deepEqual(
      rows.map((row) => [row.startedAt, row.ok]),
      [
        [BASE + MIN, true],
        [BASE + 2 * MIN, false],
      ],
    );
    assert.deepEqual(rows[1], {
      monitor: 'm1',
      tenant: 't1',
      mailbox: 'a@x',
      check: 'imap',
      startedAt: BASE + 2 * MIN,
      durationMs: 812.5,
      ok: false,
      stage: 'auth',
      reason: 'auth_failed',
      category: 'auth',
      serverText,
      steps: [
        { step: 'connect', seconds: 0.01 },
        { step: 'tls', seconds: 0.128 },
        { step: 'auth', seconds: 95.123 },
      ],
      intervalS: 60,
    });
    assert.equal(rows[0]?.deliveryMs, 1500);
    await store.close();
  });

  test('rollups add up across batches, per bucket and summed per check', async () => {
    const store = await factory.open();
    const buckets = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    await store.write(batch({ hourly: [delta({ okMs: 1000, runs: 1, durationBuckets: buckets }), delta({ okMs: 500, bucket: BASE + HOUR })] }));
    await store.write(
      batch({ hourly: [delta({ failMs: 250, runs: 2, failures: 1, durationMsSum: 30, durationBuckets: buckets }), delta({ monitor: 'm2', okMs: 7 })] }),
    );
    const m1 = [{ monitor: 'm1', check: 'imap' as const }];
    const rows = await store.rollups({ grain: 'hour', from: BASE, to: BASE + 2 * HOUR, checks: m1 });
    assert.deepEqual(
      rows.map((row) => [row.bucket, row.okMs, row.failMs]),
      [
        [BASE, 1000, 250],
        [BASE + HOUR, 500, 0],
      ],
    );
    const [first] = await store.rollupTotals({ grain: 'hour', from: BASE, to: BASE + HOUR, checks: m1 });
    assert.deepEqual([first?.runs, first?.failures, first?.durationMsSum, first?.durationBuckets[0]], [3, 1, 30, 2]);
    const totals = await store.rollupTotals({ grain: 'hour', from: BASE, to: BASE + 2 * HOUR });
    assert.deepEqual(
      totals.map((row) => [row.monitor, row.okMs, row.failMs, row.runs]),
      [
        ['m1', 1500, 250, 3],
        ['m2', 7, 0, 0],
      ],
    );
    assert.deepEqual(await store.rollups({ grain: 'day', from: BASE, to: BASE + DAY }), [], 'hourly and daily rollups are apart');
    const spans = await store.rollups({ grain: 'hour', from: BASE, to: BASE + 3 * HOUR, ranges: [{ from: BASE + HOUR, to: BASE + 3 * HOUR }] });
    assert.deepEqual(
      spans.map((row) => [row.monitor, row.bucket]),
      [['m1', BASE + HOUR]],
      'only the buckets inside the ranges',
    );
    await store.close();
  });

  test('rollup sums: signed ranges of several grains summed per check in one query', async () => {
    const store = await factory.open();
    const buckets = [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
    await store.write(
      batch({
        monthly: [
          delta({ bucket: Date.UTC(2030, 0, 1), okMs: 10_000, runs: 5, durationBuckets: buckets }),
          delta({ monitor: 'm2', bucket: Date.UTC(2030, 0, 1), okMs: 3 }),
        ],
        hourly: [
          delta({ bucket: Date.UTC(2029, 11, 31, 23), okMs: 100, failMs: 7, runs: 1 }),
          delta({ bucket: Date.UTC(2030, 0, 31, 23), okMs: 1000, runs: 2, durationBuckets: buckets }),
        ],
        daily: [delta({ bucket: Date.UTC(2030, 0, 15), okMs: 99_999 })],
      }),
    );
    const rows = await store.rollupSums({
      parts: [
        { grain: 'month', from: Date.UTC(2030, 0, 1), to: Date.UTC(2030, 1, 1), sign: 1 },
        { grain: 'hour', from: Date.UTC(2029, 11, 31, 23), to: Date.UTC(2030, 0, 1), sign: 1 },
        { grain: 'hour', from: Date.UTC(2030, 0, 31, 23), to: Date.UTC(2030, 1, 1), sign: -1 },
      ],
    });
    assert.deepEqual(
      rows.map((row) => [row.monitor, row.tenant, row.okMs, row.failMs, row.runs, row.durationBuckets[3]]),
      [
        ['m1', 't1', 10_000 + 100 - 1000, 7, 5 + 1 - 2, 0],
        ['m2', 't1', 3, 0, 0, 0],
      ],
    );
    const m2 = await store.rollupSums({ parts: [{ grain: 'month', from: 0, to: Date.UTC(2031, 0, 1), sign: 1 }], checks: [{ monitor: 'm2', check: 'imap' }] });
    assert.deepEqual(
      m2.map((row) => row.okMs),
      [3],
    );
    await store.close();
  });

  test('check spans: every state with its rollup sums, joined by the store as checkStates and rollupSums answer apart', async () => {
    const store = await factory.open();
    const stateOf = (monitor: string, check: 'imap' | 'smtp', lastOk: boolean) => ({
      monitor,
      tenant: `tenant of ${monitor}`,
      mailbox: `${monitor}@x`,
      check,
      firstSeenAt: Date.UTC(2029, 11, 20),
      lastAt: Date.UTC(2030, 0, 31, 23, 30),
      lastOk,
      intervalS: 300,
      consecutiveFailures: lastOk ? 0 : 2,
      status: '{}',
    });
    const buckets = [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0];
    await store.write(
      batch({
        checkStates: [stateOf('m1', 'imap', true), stateOf('m1', 'smtp', false), stateOf('m3', 'imap', true)],
        monthly: [
          delta({ bucket: Date.UTC(2030, 0, 1), okMs: 10_000, failMs: 50, runs: 5, failures: 1, durationBuckets: buckets }),
          delta({ check: 'smtp', bucket: Date.UTC(2030, 0, 1), okMs: 7, deliveries: 2, deliveryBuckets: [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0] }),
          // A check with rollups and no state has no span.
          delta({ monitor: 'm2', bucket: Date.UTC(2030, 0, 1), okMs: 3 }),
        ],
        hourly: [delta({ bucket: Date.UTC(2030, 0, 31, 23), okMs: 1000, runs: 2, durationBuckets: buckets })],
      }),
    );
    const parts = [
      { grain: 'month' as const, from: Date.UTC(2030, 0, 1), to: Date.UTC(2030, 1, 1), sign: 1 as const },
      { grain: 'hour' as const, from: Date.UTC(2030, 0, 31, 23), to: Date.UTC(2030, 1, 1), sign: -1 as const },
    ];
    // What checkStates and rollupSums answer apart, joined here.
    const joined = async (asked: RollupPart[]) => {
      const sums = new Map((await store.rollupSums({ parts: asked })).map((row) => [`${row.monitor}/${row.check}`, row]));
      return (await store.checkStates({ status: false })).map((state) => {
        const found = sums.get(`${state.monitor}/${state.check}`);
        const { monitor, tenant, check, firstSeenAt, lastAt, lastOk, intervalS } = state;
        const span = { monitor, tenant, check, firstSeenAt, lastAt, lastOk, intervalS };
        if (!found) return span;
        const { okMs, failMs, runs, failures, durationMsSum, deliveries, durationBuckets, deliveryBuckets } = found;
        return { ...span, totals: { okMs, failMs, runs, failures, durationMsSum, deliveries, durationBuckets, deliveryBuckets } };
      });
    };
    // In no particular order: compared by monitor and check.
    const byCheck = <T extends { monitor: string; check: string }>(list: T[]): T[] =>
      [...list].sort((a, b) => a.monitor.localeCompare(b.monitor) || a.check.localeCompare(b.check));
    const spans = byCheck(await store.checkSpans({ parts }));
    assert.deepEqual(spans, byCheck(await joined(parts)));
    // Parts of several buckets each (summed per check before the join) and of none.
    const wide: RollupPart[] = [
      { grain: 'month', from: Date.UTC(2029, 11, 1), to: Date.UTC(2030, 2, 1), sign: 1 },
      { grain: 'hour', from: Date.UTC(2030, 0, 31, 20), to: Date.UTC(2030, 1, 1), sign: -1 },
      { grain: 'day', from: Date.UTC(2031, 0, 1), to: Date.UTC(2031, 0, 2), sign: 1 },
    ];
    assert.deepEqual(byCheck(await store.checkSpans({ parts: wide })), byCheck(await joined(wide)));
    assert.deepEqual(
      spans.map((span) => [
        span.monitor,
        span.check,
        span.lastOk,
        span.totals?.okMs,
        span.totals?.runs,
        span.totals?.durationBuckets[3],
        span.totals?.deliveryBuckets[2],
      ]),
      [
        ['m1', 'imap', true, 10_000 - 1000, 5 - 2, 0, 0],
        ['m1', 'smtp', false, 7, 0, 0, 2],
        ['m3', 'imap', true, undefined, undefined, undefined, undefined],
      ],
    );
    assert.deepEqual(
      (await store.checkSpans({ parts, checks: [{ monitor: 'm1', check: 'smtp' }] })).map((span) => [span.monitor, span.check, span.totals?.okMs]),
      [['m1', 'smtp', 7]],
      'only the checks asked for',
    );
    assert.deepEqual(
      byCheck(await store.checkSpans({ parts: [] })).map((span) => [span.monitor, span.check, span.totals]),
      [
        ['m1', 'imap', undefined],
        ['m1', 'smtp', undefined],
        ['m3', 'imap', undefined],
      ],
      'no parts, no sums',
    );
    await store.close();
  });

  test('incidents: a later write of the same streak replaces it; queries overlap the range, newest first', async () => {
    const store = await factory.open();
    const open = {
      monitor: 'm1',
      tenant: 't1',
      check: 'imap' as const,
      startedAt: BASE,
      reason: 'auth_failed',
      stage: 'auth',
      serverText: 'NO AUTHENTICATE failed.',
      failures: 1,
      failMs: 0,
      lastFailureAt: BASE,
    };
    await store.write(batch({ incidents: [open, { ...open, monitor: 'm2', tenant: 't2', startedAt: BASE + 3 * HOUR }] }));
    await store.write(batch({ incidents: [{ ...open, failures: 3, failMs: 120_000, lastFailureAt: BASE + 2 * MIN, endedAt: BASE + 3 * MIN }] }));
    const all = await store.incidents({ from: BASE, to: BASE + DAY, limit: 10 });
    assert.deepEqual(
      all.map((row) => [row.monitor, row.startedAt, row.endedAt, row.failures]),
      [
        ['m2', BASE + 3 * HOUR, undefined, 1],
        ['m1', BASE, BASE + 3 * MIN, 3],
      ],
    );
    assert.equal(all[1]?.serverText, 'NO AUTHENTICATE failed.');
    assert.deepEqual(
      (await store.incidents({ from: BASE + HOUR, to: BASE + DAY, limit: 10 })).map((row) => row.monitor),
      ['m2'],
      'an incident that ended before the range is not in it',
    );
    assert.deepEqual(
      (await store.incidents({ from: BASE, to: BASE + DAY, limit: 10, monitor: 'm1' })).map((row) => row.monitor),
      ['m1'],
    );
    assert.deepEqual(
      (await store.incidents({ from: BASE, to: BASE + DAY, limit: 10, tenant: 't2' })).map((row) => row.monitor),
      ['m2'],
    );
    assert.equal((await store.incidents({ from: BASE, to: BASE + DAY, limit: 1 })).length, 1);
    await store.close();
  });

  test('an incident keeps what was diagnosed at its first failure (schema 3); one recorded before has none', async () => {
    const store = await factory.open();
    const incident = {
      monitor: 'm1',
      tenant: 't1',
      check: 'imap' as const,
      startedAt: BASE,
      reason: 'connect_refused',
      stage: 'connect',
      failures: 1,
      failMs: 0,
      lastFailureAt: BASE,
    };
    const diagnosis = {
      summary: 'Nothing listens on outlook-dod.office365.us:993',
      fix: 'openssl s_client -connect outlook-dod.office365.us:993',
      protocol: 'imap' as const,
      cloud: 'usgovdod' as const,
    };
    await store.write(
      batch({
        incidents: [
          { ...incident, diagnosis, cause: 'protocol:imap' as const },
          { ...incident, monitor: 'm2' },
        ],
      }),
    );
    const rows = await store.incidents({ from: BASE, to: BASE + DAY, limit: 10 });
    assert.deepEqual(rows.find((row) => row.monitor === 'm1')?.diagnosis, diagnosis);
    assert.equal(rows.find((row) => row.monitor === 'm2')?.diagnosis, undefined);
    // the cause (schema 4) is stored with the incident; one recorded before has none
    assert.equal(rows.find((row) => row.monitor === 'm1')?.cause, 'protocol:imap');
    assert.equal(rows.find((row) => row.monitor === 'm2')?.cause, undefined);
    await store.close();
  });

  test('check state and agent running periods are replaced by key', async () => {
    const store = await factory.open();
    const state = {
      monitor: 'm1',
      tenant: 't1',
      mailbox: 'a@x',
      check: 'imap' as const,
      firstSeenAt: BASE,
      lastAt: BASE,
      lastOk: true,
      intervalS: 60,
      consecutiveFailures: 0,
      lastSuccessAt: BASE,
      status: '{}',
    };
    await store.write(batch({ checkStates: [state], agentRun: { id: 'run-1', startedAt: BASE, lastSeenAt: BASE } }));
    await store.write(
      batch({
        checkStates: [{ ...state, lastAt: BASE + MIN, lastOk: false, consecutiveFailures: 1, openIncidentAt: BASE + MIN }],
        agentRun: { id: 'run-1', startedAt: BASE, lastSeenAt: BASE + MIN, stoppedAt: BASE + 2 * MIN },
      }),
    );
    const [saved] = await store.checkStates();
    assert.deepEqual(saved, { ...state, lastAt: BASE + MIN, lastOk: false, consecutiveFailures: 1, openIncidentAt: BASE + MIN });
    assert.deepEqual(await store.checkStates({ status: false }), [{ ...saved, status: '' }], 'the lean read leaves only the status out');
    assert.deepEqual(await store.agentRuns({ from: BASE, to: BASE + DAY }), [
      { id: 'run-1', startedAt: BASE, lastSeenAt: BASE + MIN, stoppedAt: BASE + 2 * MIN },
    ]);
    assert.deepEqual(await store.agentRuns({ from: BASE + HOUR, to: BASE + DAY }), []);
    await store.close();
  });

  test("check states: a shard's long list of checks reads only those (one statement, any length)", async () => {
    const store = await factory.open();
    const state = (monitor: string, check: 'imap' | 'smtp') => ({
      monitor,
      tenant: 't1',
      mailbox: 'a@x',
      check,
      firstSeenAt: BASE,
      lastAt: BASE,
      lastOk: true,
      intervalS: 60,
      consecutiveFailures: 0,
      status: '{}',
    });
    const names = Array.from({ length: 1200 }, (_, i) => `m${i}`);
    await store.write(batch({ checkStates: names.flatMap((name) => [state(name, 'imap'), state(name, 'smtp')]) }));
    const mine = names.filter((_, i) => i % 2 === 0).map((monitor) => ({ monitor, check: 'imap' as const }));
    const read = await store.checkStates({ checks: mine, status: false });
    assert.deepEqual(read.map((row) => `${row.monitor}/${row.check}`).sort(), mine.map((ref) => `${ref.monitor}/${ref.check}`).sort());
    // A shard's restart: the read for its writes (dictionary ids loaded with the states), then its results.
    const result = (monitor: string, startedAt: number) => ({
      monitor,
      tenant: 't1',
      mailbox: 'a@x',
      check: 'imap' as const,
      startedAt,
      durationMs: 5,
      ok: true,
      steps: [],
      intervalS: 60,
    });
    await store.write(batch({ results: mine.map((ref) => result(ref.monitor, BASE)) }));
    const again = await factory.reopen(store);
    assert.equal((await again.checkStates({ checks: mine, forWrites: true })).length, mine.length);
    await again.write(batch({ results: mine.map((ref) => result(ref.monitor, BASE + MIN)) }));
    const last = mine[mine.length - 1]?.monitor ?? '';
    assert.deepEqual(
      (await again.results({ monitor: last, check: 'imap', from: 0, to: BASE + HOUR })).map((row) => [row.monitor, row.startedAt]),
      [
        [last, BASE],
        [last, BASE + MIN],
      ],
    );
    await again.close();
  });

  test('retention: rows older than their cutoff go, open incidents and newer rows stay', async () => {
    const store = await factory.open();
    const result = { monitor: 'm1', tenant: 't1', mailbox: 'a@x', check: 'imap' as const, durationMs: 1, ok: true, steps: [], intervalS: 60 };
    const incident = { monitor: 'm1', tenant: 't1', check: 'imap' as const, reason: 'auth_failed', stage: 'auth', failures: 1, failMs: 0 };
    await store.write(
      batch({
        results: [
          { ...result, startedAt: BASE },
          { ...result, startedAt: BASE + 10 * DAY },
        ],
        hourly: [delta({ bucket: BASE }), delta({ bucket: BASE + 10 * DAY })],
        daily: [delta({ bucket: BASE }), delta({ bucket: BASE + 10 * DAY })],
        monthly: [delta({ bucket: Date.UTC(2029, 11, 1) }), delta({ bucket: Date.UTC(2030, 0, 1) }), delta({ bucket: Date.UTC(2030, 1, 1) })],
        incidents: [
          { ...incident, startedAt: BASE, endedAt: BASE + MIN, lastFailureAt: BASE },
          { ...incident, check: 'smtp', startedAt: BASE, lastFailureAt: BASE },
        ],
      }),
    );
    const counts = await store.prune({ results: BASE + DAY, hourly: BASE + DAY, daily: BASE + DAY, monthly: Date.UTC(2030, 0, 1) });
    assert.deepEqual(counts, { results: 1, hourly: 1, daily: 1, monthly: 1, incidents: 1, agentRuns: 0 });
    assert.deepEqual(
      (await store.rollups({ grain: 'month', from: 0, to: BASE + 100 * DAY })).map((row) => row.bucket),
      [Date.UTC(2030, 0, 1), Date.UTC(2030, 1, 1)],
    );
    assert.equal((await store.results({ monitor: 'm1', check: 'imap', from: 0, to: BASE + 20 * DAY })).length, 1);
    assert.deepEqual(
      (await store.incidents({ from: 0, to: BASE + 20 * DAY, limit: 10 })).map((row) => row.check),
      ['smtp'],
    );
    await store.close();
  });

  test('the recorder writes monthly rollups like the daily ones, spans cut at the UTC month boundary', async () => {
    const store = await factory.open();
    const clock = new FakeClock();
    const feb = Date.UTC(2030, 1, 1);
    clock.time = feb - 2 * HOUR;
    const recorder = recorderOn(store, clock);
    // Every 10 minutes from 22:00 on January 31 to 02:00 on February 1; failing from 23:40 to 00:20.
    for (let t = feb - 2 * HOUR; t < feb + 2 * HOUR; t += 10 * MIN) {
      const failing = t >= feb - 20 * MIN && t < feb + 20 * MIN;
      record(recorder, failing ? failed({ monitor: 'm1', at: t }) : passed({ monitor: 'm1', at: t }), job(600));
      if (t === feb) await recorder.flush();
    }
    clock.time = feb + 2 * HOUR;
    await recorder.flush();
    const checks = [{ monitor: 'm1', check: 'imap' as const }];
    const months = await store.rollupTotals({ grain: 'month', from: 0, to: Date.UTC(2031, 0, 1), checks });
    const days = await store.rollupTotals({ grain: 'day', from: 0, to: Date.UTC(2031, 0, 1), checks });
    assert.deepEqual({ ...months[0], bucket: 0 }, { ...days[0], bucket: 0 }, 'months hold what the days hold');
    const byMonth = await store.rollups({ grain: 'month', from: 0, to: Date.UTC(2031, 0, 1), checks });
    assert.deepEqual(
      byMonth.map((row) => [row.bucket, row.okMs, row.failMs]),
      [
        [Date.UTC(2030, 0, 1), 100 * MIN, 20 * MIN],
        // The last result's span is still open: it ends with the next result.
        [feb, 90 * MIN, 20 * MIN],
      ],
    );
    const january = await store.rollupTotals({ grain: 'month', from: Date.UTC(2030, 0, 1), to: feb, checks });
    assert.deepEqual(
      january.map((row) => [row.runs, row.failures, row.durationBuckets[2]]),
      [[12, 2, 12]],
    );
    await recorder.close();
    await store.close();
  });

  test('recorded results become day summaries, availability and incidents through the HistoryReader', async () => {
    const store = await factory.open();
    const clock = new FakeClock();
    clock.time = BASE;
    const recorder = recorderOn(store, clock);
    // Day 1 (BASE): every minute ok for 12 hours, then 30 failed minutes, then ok until midnight. Day 2: ok.
    for (let t = BASE; t < BASE + 2 * DAY; t += MIN) {
      const failing = t >= BASE + 12 * HOUR && t < BASE + 12 * HOUR + 30 * MIN;
      record(
        recorder,
        failing ? failed({ monitor: 'm1', at: t, reason: 'auth_failed', serverText: 'NO AUTHENTICATE failed.' }) : passed({ monitor: 'm1', at: t }),
        job(60),
      );
    }
    clock.time = BASE + 2 * DAY;
    await recorder.flush();
    const reader = new StoreHistoryReader({ store, policy: DEFAULT_POLICY });
    const [summary] = await reader.checkSummaries({ now: BASE + 2 * DAY - 1, days: 3, checks: [{ monitor: 'm1', check: 'imap' }] });
    assert.ok(summary);
    assert.deepEqual(summary.days, [
      { day: '2030-01-06', okSeconds: 0, failSeconds: 0, maintenanceSeconds: 0, unknownSeconds: 86_400 },
      { day: '2030-01-07', okSeconds: 86_400 - 1800, failSeconds: 1800, maintenanceSeconds: 0, unknownSeconds: 0 },
      { day: '2030-01-08', okSeconds: 86_400, failSeconds: 0, maintenanceSeconds: 0, unknownSeconds: 0 },
    ]);
    assert.equal(summary.availability['24h'], 1);
    assert.ok(Math.abs((summary.availability['7d'] ?? 0) - (1 - 1800 / (2 * 86_400))) < 1e-6, String(summary.availability['7d']));
    const incidents = await reader.incidents({ from: BASE, to: BASE + 2 * DAY, limit: 10 });
    assert.deepEqual(incidents, [
      {
        monitor: 'm1',
        tenant: 'contoso',
        check: 'imap',
        startedAt: BASE + 12 * HOUR,
        endedAt: BASE + 12 * HOUR + 30 * MIN,
        reason: 'auth_failed',
        stage: 'auth',
        serverText: 'NO AUTHENTICATE failed.',
        // What was diagnosed and attributed at the time, for the status page to print as stored.
        cause: 'protocol:imap',
        diagnosis: { summary: 'summary of auth_failed', fix: 'fix for auth_failed' },
      },
    ]);
    await recorder.close();
    await store.close();
  });

  test('time the agent was stopped is unknown; maintenance is excluded; unknown-as-down lowers availability', async () => {
    const store = await factory.open();
    const clock = new FakeClock();
    clock.time = BASE;
    const first = recorderOn(store, clock);
    first.start();
    for (let t = BASE; t < BASE + 6 * HOUR; t += 5 * MIN) record(first, passed({ monitor: 'm1', at: t }), job(300));
    clock.time = BASE + 6 * HOUR;
    await first.close();
    // Stopped for six hours, then back for the rest of the day.
    clock.time = BASE + 12 * HOUR;
    const second = recorderOn(store, clock);
    await restore(second);
    second.start();
    for (let t = BASE + 12 * HOUR; t < BASE + DAY; t += 5 * MIN) record(second, passed({ monitor: 'm1', at: t }), job(300));
    clock.time = BASE + DAY;
    await second.close();

    const check = [{ monitor: 'm1', check: 'imap' as const }];
    const now = BASE + DAY - 1;
    const [plain] = await new StoreHistoryReader({ store, policy: DEFAULT_POLICY }).checkSummaries({ now, days: 1, checks: check });
    // The last result before the stop covers its interval plus 10 % grace (330 s, 30 s more than its
    // neighbours); the rest of the stop is unknown.
    const covered = (6 * HOUR + 30_000 + 12 * HOUR) / 1000;
    assert.deepEqual(plain?.days, [{ day: '2030-01-07', okSeconds: covered, failSeconds: 0, maintenanceSeconds: 0, unknownSeconds: 86_400 - covered }]);
    assert.equal(plain?.availability['24h'], 1, 'unknown is not down by default');

    const policy: AccountingPolicy = {
      ...DEFAULT_POLICY,
      unknownCountsAsDown: true,
      maintenance: [{ name: 'patch', timeZone: 'UTC', recurring: { at: '01:00', durationMinutes: 60 } }],
    };
    const [strict] = await new StoreHistoryReader({ store, policy }).checkSummaries({ now, days: 1, checks: check });
    assert.equal(strict?.days[0]?.maintenanceSeconds, 3600);
    assert.equal(strict?.days[0]?.okSeconds, covered - 3600);
    const expected = (covered - 3600) / (86_400 - 3600);
    assert.ok(Math.abs((strict?.availability['24h'] ?? 0) - expected) < 1e-4, `${strict?.availability['24h']} vs ${expected}`);
    await store.close();
  });

  test('maintenance over whole hours is read from the hourly rollups, even once the raw results have aged out', async () => {
    const store = await factory.open();
    const clock = new FakeClock();
    clock.time = BASE;
    const recorder = recorderOn(store, clock);
    recorder.start();
    // Failing 02:00-02:30 (inside the window) and 04:00-04:30 (outside it).
    const failing = (t: number): boolean =>
      (t >= BASE + 2 * HOUR && t < BASE + 2 * HOUR + 30 * MIN) || (t >= BASE + 4 * HOUR && t < BASE + 4 * HOUR + 30 * MIN);
    for (let t = BASE; t < BASE + DAY; t += 5 * MIN)
      record(recorder, failing(t) ? failed({ monitor: 'm1', at: t }) : passed({ monitor: 'm1', at: t }), job(300));
    clock.time = BASE + DAY;
    await recorder.close();
    const check = [{ monitor: 'm1', check: 'imap' as const }];
    const now = BASE + DAY - 1;
    const summary = async (at: string, durationMinutes: number) => {
      const policy: AccountingPolicy = { ...DEFAULT_POLICY, maintenance: [{ name: 'patch', timeZone: 'UTC', recurring: { at, durationMinutes } }] };
      const reader = new StoreHistoryReader({ store, policy });
      const [found] = await reader.checkSummaries({ now, days: 1, checks: check });
      // A page's checks read the windows' hours with the rest; all checks ask the store per set of windows: the same time.
      assert.deepEqual(found, (await reader.checkSummaries({ now, days: 1 }))[0]);
      return found?.days[0];
    };
    // 01:30-03:00: the half hour from raw results, 02:00-03:00 from the hourly row; only the outside streak counts.
    assert.deepEqual(await summary('01:30', 90), {
      day: '2030-01-07',
      okSeconds: 86_400 - 5400 - 1800,
      failSeconds: 1800,
      maintenanceSeconds: 5400,
      unknownSeconds: 0,
    });
    await store.prune({ results: BASE + DAY, hourly: 0, daily: 0, monthly: 0 });
    assert.deepEqual(await summary('02:00', 60), {
      day: '2030-01-07',
      okSeconds: 86_400 - 3600 - 1800,
      failSeconds: 1800,
      maintenanceSeconds: 3600,
      unknownSeconds: 0,
    });
    // Without the hourly rows either, the window's hour gets the day's shares pro rata.
    await store.prune({ results: BASE + DAY, hourly: BASE + DAY, daily: 0, monthly: 0 });
    assert.equal((await summary('02:00', 60))?.maintenanceSeconds, 3600);
    await store.close();
  });

  test('daily bars and windows are the same time in any zone: whole UTC days from daily rows, the rest by the hour', async () => {
    const store = await factory.open();
    const clock = new FakeClock();
    clock.time = BASE;
    const recorder = recorderOn(store, clock);
    // Ten days every 5 minutes; m1 fails for two hours across the UTC midnight that starts day 4, m2 never.
    const outage = { from: BASE + 4 * DAY - HOUR, to: BASE + 4 * DAY + HOUR };
    for (let t = BASE; t < BASE + 10 * DAY; t += 5 * MIN) {
      const failing = t >= outage.from && t < outage.to;
      record(recorder, failing ? failed({ monitor: 'm1', at: t, reason: 'timeout', stage: 'connect' }) : passed({ monitor: 'm1', at: t }), job(300));
      record(recorder, passed({ monitor: 'm2', at: t }), job(300));
      if (t >= BASE + 9 * DAY && t < BASE + 9 * DAY + 12 * HOUR) record(recorder, passed({ monitor: 'm3', at: t }), job(300));
    }
    clock.time = BASE + 10 * DAY;
    await recorder.flush();
    const now = BASE + 10 * DAY - 1;
    const asked = [{ monitor: 'm1', check: 'imap' as const }];
    const failDays = async (timeZone: string) => {
      const [summary, ...others] = await new StoreHistoryReader({ store, policy: { ...DEFAULT_POLICY, timeZone } }).checkSummaries({
        now,
        days: 12,
        checks: asked,
      });
      assert.equal(others.length, 0, 'only the check asked for');
      assert.equal(summary?.days.length, 12);
      return { days: (summary?.days ?? []).filter((day) => day.failSeconds > 0).map((day) => [day.day, day.failSeconds]), summary };
    };
    const utc = await failDays('UTC');
    assert.deepEqual(utc.days, [
      ['2030-01-10', 3600],
      ['2030-01-11', 3600],
    ]);
    // 00:00–02:00 in Berlin (UTC+1 in January) and 04:30–06:30 in Kolkata (UTC+5:30): one local day each.
    assert.deepEqual((await failDays('Europe/Berlin')).days, [['2030-01-11', 7200]]);
    assert.deepEqual((await failDays('Asia/Kolkata')).days, [['2030-01-11', 7200]]);
    // The 7-day window is read as whole UTC days plus hours; the 30-day one starts before the first result.
    assert.ok(Math.abs((utc.summary?.availability['7d'] ?? 0) - (1 - 7200 / ((7 * DAY - 1) / 1000))) < 1e-6, String(utc.summary?.availability['7d']));
    assert.ok(Math.abs((utc.summary?.availability['30d'] ?? 0) - (1 - 7200 / ((10 * DAY - 1) / 1000))) < 1e-6, String(utc.summary?.availability['30d']));
    assert.equal(utc.summary?.availability['24h'], 1);
    // Today so far: a check that began at today's UTC midnight, read at noon, has its rollup hours counted.
    const [noon] = await new StoreHistoryReader({ store, policy: DEFAULT_POLICY }).checkSummaries({
      now: BASE + 9 * DAY + 12 * HOUR - 1,
      days: 2,
      checks: [{ monitor: 'm3', check: 'imap' }],
    });
    assert.deepEqual(
      noon?.days.map((day) => [day.day, day.okSeconds, day.failSeconds]),
      [
        ['2030-01-15', 0, 0],
        ['2030-01-16', 43_200, 0],
      ],
    );
    // The filtered reads the reader relies on.
    assert.deepEqual(
      (await store.checkStates({ checks: asked })).map((state) => state.monitor),
      ['m1'],
    );
    assert.deepEqual((await store.incidents({ from: BASE, to: now, limit: 10, checks: [{ monitor: 'm2', check: 'imap' }] })).length, 0);
    assert.equal((await store.incidents({ from: BASE, to: now, limit: 10, checks: asked })).length, 1);
    await recorder.close();
    await store.close();
  });

  test('a restart continues the streak and the open incident, and the status view of the last result', async () => {
    const store = await factory.open();
    const clock = new FakeClock();
    clock.time = BASE;
    const first = recorderOn(store, clock);
    record(first, passed({ monitor: 'm1', at: BASE }), job(60));
    record(first, failed({ monitor: 'm1', at: BASE + MIN, reason: 'token_secret_expired', stage: 'token' }), job(60));
    record(first, failed({ monitor: 'm1', at: BASE + 2 * MIN, reason: 'token_secret_expired', stage: 'token' }), job(60));
    await first.close();

    const reopened = await factory.reopen(store);
    const second = recorderOn(reopened, clock);
    const restored = await restore(second);
    assert.equal(restored.length, 1);
    assert.equal(restored[0]?.status.state, 'failing');
    assert.equal(restored[0]?.status.consecutiveFailures, 2);
    assert.equal(restored[0]?.status.last?.reason, 'token_secret_expired');
    assert.equal(restored[0]?.status.lastSuccessAt, new Date(BASE).toISOString());
    record(second, failed({ monitor: 'm1', at: BASE + 3 * MIN, reason: 'token_secret_expired', stage: 'token' }), job(60));
    record(second, passed({ monitor: 'm1', at: BASE + 4 * MIN }), job(60));
    await second.close();
    const incidents = await reopened.incidents({ from: BASE, to: BASE + HOUR, limit: 10 });
    assert.deepEqual(
      incidents.map((row) => [row.startedAt, row.endedAt, row.failures, row.failMs, row.reason]),
      [[BASE + MIN, BASE + 4 * MIN, 3, 3 * MIN, 'token_secret_expired']],
      'one incident across the restart, with all its failed time',
    );
    const [state] = await reopened.checkStates();
    assert.equal(state?.consecutiveFailures, 0);
    assert.equal(state?.firstSeenAt, BASE);
    await reopened.close();
  });
}

export { recorderOn, job };
