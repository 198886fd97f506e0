import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { backfill, prepareFleet, type BenchSql } from '../../bench/fleet-backfill.js';
import { CHECKS, DAY_MS, INTERVAL_MS, checkIndex, monitorName, monitorsOf, resultAt, slotOf, streakOn } from '../../bench/fleet-data.js';
import { foldInto, type CheckState } from '../../src/core/state.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { FakeClock, MemoryLogger } from '../alerting/support.js';

// The fleet benchmark's own logic: the SQL backfill writes what the recorder writes for the same synthetic
// results, and the shards split the monitors without overlap. Figures are the benchmark's business, not this test's.

const dir = mkdtempSync(join(tmpdir(), 'mailprobe-fleet-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MONITORS = 7;
const CHECK_COUNT = MONITORS * CHECKS.length;
const FIRST_DAY = 20_000;
const DAYS = 200;

function sqlOf(db: Database.Database): BenchSql {
  return { dialect: 'sqlite', exec: async (sql, params = []) => void db.prepare(sql).run(...params) };
}

test('shards cover every monitor exactly once', () => {
  for (const [shards, monitors] of [
    [10, 100_000],
    [3, 10],
    [4, 3],
  ] as const) {
    const all = Array.from({ length: shards }, (_, shard) => monitorsOf(shard, shards, monitors)).flat();
    assert.equal(all.length, monitors);
    assert.equal(new Set(all).size, monitors);
    assert.ok(all.every((m) => m >= 0 && m < monitors));
  }
});

test('the backfill writes one streak per failing check-day, as the live results fail', async () => {
  const file = join(dir, 'backfill.sqlite');
  const store = await openSqliteStore(file, { now: 0 });
  const db = new Database(file);
  const sql = sqlOf(db);
  await prepareFleet(sql, MONITORS);
  const now = (FIRST_DAY + DAYS) * DAY_MS;
  await backfill(sql, { fromDay: FIRST_DAY + 100, toDay: FIRST_DAY + DAYS, now, edgeHours: [now - 3_600_000], hourlyChecks: [3] });
  await backfill(sql, { fromDay: FIRST_DAY, toDay: FIRST_DAY + 100, now, edgeHours: [], hourlyChecks: [] });
  const daily = db.prepare('SELECT monitor, check_kind, bucket, fail_ms, ok_ms, runs, failures FROM rollup_daily').all() as Array<
    Record<string, number | string>
  >;
  assert.equal(daily.length, CHECK_COUNT * DAYS);
  let streaks = 0;
  for (const row of daily) {
    const m = Number(String(row.monitor).slice('monitor-'.length));
    const j = checkIndex(m, row.check_kind as (typeof CHECKS)[number]);
    const streak = streakOn(j, Number(row.bucket) / DAY_MS, slotOf(j, CHECK_COUNT));
    if (streak) streaks++;
    assert.equal(row.fail_ms, (streak?.failures ?? 0) * INTERVAL_MS, `${String(row.monitor)} ${String(row.check_kind)} ${row.bucket}`);
    assert.equal(Number(row.ok_ms) + Number(row.fail_ms), DAY_MS);
    // The live model agrees: the streak's results fail, the ones around it pass.
    if (streak) {
      const check = row.check_kind as (typeof CHECKS)[number];
      assert.equal(resultAt(m, check, streak.startedAt, CHECK_COUNT).outcome.ok, false);
      assert.equal(resultAt(m, check, streak.startedAt + (streak.failures - 1) * INTERVAL_MS, CHECK_COUNT).outcome.ok, false);
      assert.equal(resultAt(m, check, streak.startedAt + streak.failures * INTERVAL_MS, CHECK_COUNT).outcome.ok, true);
      assert.equal(resultAt(m, check, streak.startedAt - INTERVAL_MS, CHECK_COUNT).outcome.ok, true);
    }
  }
  assert.ok(streaks > 10, `only ${streaks} failing check-days in the sample`);
  const incidents = db.prepare('SELECT COUNT(*) AS n FROM incidents').get() as { n: number };
  assert.equal(incidents.n, streaks);
  const monthly = db.prepare('SELECT SUM(fail_ms) AS fail, SUM(runs) AS runs FROM rollup_monthly').get() as { fail: number; runs: number };
  const sums = db.prepare('SELECT SUM(fail_ms) AS fail, SUM(runs) AS runs FROM rollup_daily').get() as { fail: number; runs: number };
  assert.deepEqual(monthly, sums);
  // The listed check's hours add up to its days.
  const hours = db.prepare("SELECT SUM(fail_ms) AS fail, COUNT(*) AS n FROM rollup_hourly WHERE monitor = 'monitor-1' AND check_kind = 'smtp'").get() as {
    fail: number;
    n: number;
  };
  const days = db
    .prepare("SELECT SUM(fail_ms) AS fail FROM rollup_daily WHERE monitor = 'monitor-1' AND check_kind = 'smtp' AND bucket >= ?")
    .get((FIRST_DAY + 100) * DAY_MS) as {
    fail: number;
  };
  assert.deepEqual(hours, { fail: days.fail, n: 100 * 24 });
  const states = await store.checkStates();
  assert.equal(states.length, CHECK_COUNT);
  for (const state of states) {
    assert.ok(state.lastAt < now && now - state.lastAt <= INTERVAL_MS);
    assert.equal(state.firstSeenAt, FIRST_DAY * DAY_MS);
  }
  db.close();
  await store.close();
});

test('the recorder, fed the live results, writes the days the backfill writes', async () => {
  const monitors = 3;
  const checks = monitors * CHECKS.length;
  // A day on which one of these checks has a streak, so that failed time is compared too.
  let day = FIRST_DAY;
  while (!Array.from({ length: checks }, (_, j) => streakOn(j, day, slotOf(j, checks))).some(Boolean)) day++;
  const recorded = await openSqliteStore(join(dir, 'recorded.sqlite'), { now: 0 });
  const clock = new FakeClock();
  clock.time = day * DAY_MS;
  const recorder = new HistoryRecorder({ store: recorded, clock, logger: new MemoryLogger(), flushMs: 3_600_000, pruneEveryMs: 3_600_000 });
  const states = new Map<string, CheckState>();
  // From the day before to the day after, so the day in the middle is whole.
  for (let t = (day - 1) * DAY_MS; t < (day + 2) * DAY_MS; t += INTERVAL_MS) {
    for (let m = 0; m < monitors; m++) {
      for (const check of CHECKS) {
        const j = checkIndex(m, check);
        recorder.listener(foldInto(states, resultAt(m, check, t + slotOf(j, checks), checks)), { monitor: { intervalSeconds: INTERVAL_MS / 1000 } });
      }
    }
  }
  await recorder.close();
  const file = join(dir, 'backfilled.sqlite');
  const backfilled = await openSqliteStore(file, { now: 0 });
  const db = new Database(file);
  await prepareFleet(sqlOf(db), monitors);
  await backfill(sqlOf(db), { fromDay: day, toDay: day + 1, now: (day + 1) * DAY_MS, edgeHours: [], hourlyChecks: [] });
  db.close();
  const read = (store: typeof recorded) => store.rollupTotals({ grain: 'day', from: day * DAY_MS, to: (day + 1) * DAY_MS });
  const strip = (rows: Awaited<ReturnType<typeof read>>) =>
    rows.map((row) => [row.monitor, row.check, row.okMs, row.failMs, row.runs, row.failures, row.durationBuckets.join(',')]);
  const expected = strip(await read(recorded));
  assert.equal(expected.length, checks);
  assert.deepEqual(strip(await read(backfilled)), expected);
  assert.ok(expected.some((row) => monitorName(0) === row[0]));
  assert.ok(
    expected.some((row) => Number(row[3]) > 0),
    'a streak on the day',
  );
  await recorded.close();
  await backfilled.close();
});
