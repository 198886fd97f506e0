import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckResult } from '../src/core/result.js';
import { foldInto, type CheckState, type ResultEvent } from '../src/core/state.js';
import { DEFAULT_POLICY } from '../src/history/accounting.js';
import { openSqliteStore } from '../src/history/backends/sqlite.js';
import { DAY_MS, HOUR_MS, monthRange } from '../src/history/calendar.js';
import { HistoryRecorder } from '../src/history/recorder.js';
import { buildReport, type ConfiguredCheck } from '../src/history/report.js';
import { bucketOf } from '../src/history/spans.js';
import { addTotals, emptyTotals, type CheckStateRow, type RollupDelta } from '../src/history/types.js';
import type { Logger } from '../src/log/logger.js';

// npm run bench:history — the history store's costs, printed with ratios (nothing here is a test):
// 1. recording: CPU per result of the recorder (listener + its share of the batched SQLite writes) for one
//    5-minute interval of 10,000 monitors x 2 checks, against the CPU of one check of the raw node:tls client
//    baseline measured by `npm run bench` (bench/results/*.json), the cheapest a check can be;
// 2. report: `mailprobe report`'s work (buildReport) for 10,000 monitors x 2 checks over a 30-day month from
//    the rollups, in UTC and in Europe/Berlin (hour edges);
// 3. size: the SQLite file per monitor-month (2 checks every 5 minutes, 45 days raw retention > one month).

const MONITORS = Number(process.env.BENCH_MONITORS ?? 10_000);
const CHECKS = ['imap', 'smtp'] as const;
const INTERVAL_S = 300;
const MONTH = monthRange('2030-11', 'UTC');
const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

function result(monitor: number, check: (typeof CHECKS)[number], at: number, ok: boolean): CheckResult {
  return {
    monitor: `monitor-${monitor}`,
    tenant: `tenant-${monitor % 50}`,
    mailbox: `probe${monitor}@contoso.com`,
    check,
    startedAt: at,
    durationSeconds: 0.4 + (monitor % 7) / 10,
    outcome: ok
      ? {
          ok: true,
          steps: [
            { step: 'connect', seconds: 0.01 },
            { step: 'tls', seconds: 0.03 },
            { step: 'auth', seconds: 0.2 },
          ],
          measured: {},
          facts: {},
        }
      : {
          ok: false,
          steps: [{ step: 'connect', seconds: 0.01 }],
          measured: {},
          facts: {},
          failure: { stage: 'auth', reason: 'auth_failed', serverText: 'NO AUTHENTICATE failed.', message: 'failed' },
        },
    ...(ok ? {} : { reason: 'auth_failed', diagnosis: { reason: 'auth_failed', summary: 'auth failed', candidates: [], fixes: [] } }),
  };
}

function baselineCheckCpuMs(): { ms: number; file: string } | undefined {
  const dir = join(process.cwd(), 'bench/results');
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .reverse();
  for (const file of files) {
    const data = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { baseline?: { checks: number; cpuSeconds: number } };
    if (data.baseline && data.baseline.checks > 0) return { ms: (data.baseline.cpuSeconds * 1000) / data.baseline.checks, file };
  }
  return undefined;
}

async function recordingCost(dir: string): Promise<{ cpuMsPerResult: number; wallMsPerFlush: number; results: number }> {
  const store = await openSqliteStore(join(dir, 'record.sqlite'), { now: MONTH.from });
  const clock = { time: MONTH.from, now: () => clock.time, monotonic: () => performance.now() };
  const recorder = new HistoryRecorder({ store, clock, logger: silent, flushMs: 3_600_000 });
  const job = { monitor: { intervalSeconds: INTERVAL_S } };
  const states = new Map<string, CheckState>();
  const fold = (checkResult: CheckResult): ResultEvent => foldInto(states, checkResult);
  // A first interval so every check has a previous result (the steady state: spans are closed each time).
  for (let m = 0; m < MONITORS; m++) for (const check of CHECKS) recorder.listener(fold(result(m, check, MONTH.from + (m % 300) * 1000, true)), job);
  await recorder.flush();
  const start = process.cpuUsage();
  let flushes = 0;
  let flushWall = 0;
  // One interval: results arrive spread over 300 s, flushed once a simulated second as the agent does.
  const perSecond = Math.ceil((MONITORS * CHECKS.length) / INTERVAL_S);
  let n = 0;
  for (let second = 0; second < INTERVAL_S; second++) {
    for (let i = 0; i < perSecond && n < MONITORS * CHECKS.length; i++, n++) {
      const m = Math.floor(n / CHECKS.length);
      const check = CHECKS[n % CHECKS.length] ?? 'imap';
      recorder.listener(fold(result(m, check, MONTH.from + INTERVAL_S * 1000 + second * 1000, m % 100 !== 0)), job);
    }
    clock.time = MONTH.from + INTERVAL_S * 1000 + second * 1000;
    const before = performance.now();
    await recorder.flush();
    flushWall += performance.now() - before;
    flushes++;
  }
  const used = process.cpuUsage(start);
  await recorder.close();
  await store.close();
  return { cpuMsPerResult: (used.user + used.system) / 1000 / n, wallMsPerFlush: flushWall / flushes, results: n };
}

async function reportCost(dir: string): Promise<{ utcMs: number; berlinMs: number; checks: number }> {
  const store = await openSqliteStore(join(dir, 'report.sqlite'), { now: MONTH.from });
  const daily: RollupDelta[] = [];
  const hourly: RollupDelta[] = [];
  const states: CheckStateRow[] = [];
  const perDay = DAY_MS / (INTERVAL_S * 1000);
  const totals = (okMs: number, failMs: number, runs: number): ReturnType<typeof emptyTotals> => {
    const t = emptyTotals();
    t.okMs = okMs;
    t.failMs = failMs;
    t.runs = runs;
    t.failures = failMs > 0 ? Math.round(failMs / (INTERVAL_S * 1000)) : 0;
    t.durationMsSum = runs * 600;
    t.durationBuckets[3] = runs;
    return t;
  };
  const configured: ConfiguredCheck[] = [];
  for (let m = 0; m < MONITORS; m++) {
    for (const check of CHECKS) {
      const identity = { monitor: `monitor-${m}`, tenant: `tenant-${m % 50}`, check };
      configured.push(identity);
      states.push({
        ...identity,
        mailbox: `probe${m}@contoso.com`,
        firstSeenAt: MONTH.from - 60 * DAY_MS,
        lastAt: MONTH.to - INTERVAL_S * 1000,
        lastOk: true,
        intervalS: INTERVAL_S,
        consecutiveFailures: 0,
        lastSuccessAt: MONTH.to - INTERVAL_S * 1000,
        status: '{}',
      });
      for (let day = MONTH.from - DAY_MS; day < MONTH.to + DAY_MS; day += DAY_MS) {
        const fail = m % 100 === 0 && day === MONTH.from + 9 * DAY_MS ? 2 * HOUR_MS : 0;
        daily.push({ ...identity, bucket: day, ...totals(DAY_MS - fail, fail, perDay) });
      }
      // Hourly rows around the month's edges, which a report in a zone other than UTC reads.
      for (const edge of [MONTH.from - DAY_MS, MONTH.to - DAY_MS]) {
        for (let hour = edge; hour < edge + 2 * DAY_MS; hour += HOUR_MS)
          hourly.push({ ...identity, bucket: hour, ...totals(HOUR_MS, 0, HOUR_MS / (INTERVAL_S * 1000)) });
      }
    }
  }
  // The monthly rows are the daily ones summed per UTC month, as the recorder writes them.
  const monthly = new Map<string, RollupDelta>();
  for (const row of daily) {
    const bucket = bucketOf(row.bucket, 'month');
    const key = `${row.monitor}\u0000${row.check}\u0000${bucket}`;
    const into = monthly.get(key) ?? { ...row, bucket, ...emptyTotals() };
    addTotals(into, row);
    monthly.set(key, into);
  }
  const chunk = 20_000;
  const none = { results: [], hourly: [], daily: [], monthly: [], incidents: [], checkStates: [] };
  for (let i = 0; i < daily.length; i += chunk) await store.write({ ...none, daily: daily.slice(i, i + chunk) });
  const months = [...monthly.values()];
  for (let i = 0; i < months.length; i += chunk) await store.write({ ...none, monthly: months.slice(i, i + chunk) });
  for (let i = 0; i < hourly.length; i += chunk) await store.write({ ...none, hourly: hourly.slice(i, i + chunk) });
  for (let i = 0; i < states.length; i += chunk) await store.write({ ...none, checkStates: states.slice(i, i + chunk) });
  const time = async (timeZone: string): Promise<number> => {
    const period = monthRange('2030-11', timeZone);
    const started = performance.now();
    const report = await buildReport(
      { store, policy: { ...DEFAULT_POLICY, timeZone }, configured },
      { ...period, now: MONTH.to + 5 * DAY_MS, label: '2030-11' },
    );
    const ms = performance.now() - started;
    if (report.checks.length !== MONITORS * CHECKS.length) throw new Error(`report has ${report.checks.length} checks`);
    return ms;
  };
  await time('UTC');
  const utcMs = await time('UTC');
  const berlinMs = await time('Europe/Berlin');
  await store.close();
  return { utcMs, berlinMs, checks: MONITORS * CHECKS.length };
}

async function sizePerMonitorMonth(dir: string): Promise<{ bytes: number; monitors: number }> {
  const monitors = 50;
  const file = join(dir, 'size.sqlite');
  const store = await openSqliteStore(file, { now: MONTH.from });
  const clock = { time: MONTH.from, now: () => clock.time, monotonic: () => performance.now() };
  const recorder = new HistoryRecorder({ store, clock, logger: silent, flushMs: 3_600_000 });
  const job = { monitor: { intervalSeconds: INTERVAL_S } };
  const states = new Map<string, CheckState>();
  const fold = (checkResult: CheckResult): ResultEvent => foldInto(states, checkResult);
  for (let t = MONTH.from; t < MONTH.to; t += INTERVAL_S * 1000) {
    clock.time = t;
    for (let m = 0; m < monitors; m++)
      for (const check of CHECKS) recorder.listener(fold(result(m, check, t + m * 1000, !(m === 0 && (t - MONTH.from) % DAY_MS < HOUR_MS))), job);
    if ((t - MONTH.from) % HOUR_MS === 0) await recorder.flush();
  }
  await recorder.close();
  await store.close();
  const bytes = ['', '-wal', '-shm'].reduce((sum, suffix) => {
    try {
      return sum + statSync(`${file}${suffix}`).size;
    } catch {
      return sum;
    }
  }, 0);
  return { bytes: bytes / monitors, monitors };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-bench-history-'));
  try {
    const baseline = baselineCheckCpuMs();
    const recording = await recordingCost(dir);
    const ratio = baseline ? recording.cpuMsPerResult / baseline.ms : undefined;
    console.log(`recording, ${MONITORS} monitors x 2 checks, one 5-minute interval (${recording.results} results, one batch a second):`);
    console.log(`  CPU per result ${recording.cpuMsPerResult.toFixed(4)} ms; batch write ${recording.wallMsPerFlush.toFixed(2)} ms wall per second of results`);
    if (baseline && ratio !== undefined) {
      console.log(
        `  = ${(ratio * 100).toFixed(2)} % of one baseline check's CPU (${baseline.ms.toFixed(2)} ms, raw node:tls client, ${baseline.file}); target <= 5 %: ${ratio <= 0.05 ? 'PASS' : 'MISS'}`,
      );
    }
    const report = await reportCost(dir);
    console.log(`report, ${MONITORS} monitors x 2 checks (${report.checks} rows), 30 days from the rollups:`);
    console.log(
      `  UTC month ${report.utcMs.toFixed(0)} ms, Europe/Berlin month ${report.berlinMs.toFixed(0)} ms; target <= 2000 ms: ${Math.max(report.utcMs, report.berlinMs) <= 2000 ? 'PASS' : 'MISS'}`,
    );
    const size = await sizePerMonitorMonth(dir);
    console.log(
      `store size (SQLite), 2 checks every 5 minutes for 30 days: ${(size.bytes / 1024 / 1024).toFixed(2)} MB per monitor-month (measured over ${size.monitors} monitors)`,
    );
    writeFileSync(
      join(process.cwd(), 'bench/results/history-latest.json'),
      `${JSON.stringify({ monitors: MONITORS, recording, baseline, recordingRatio: ratio, report, sizePerMonitorMonthBytes: size.bytes }, null, 2)}\n`,
    );
  } finally {
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

void main();
