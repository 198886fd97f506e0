import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseConfig } from '../src/config/load.js';
import type { LoadedConfig } from '../src/config/types.js';
import { foldInto, type CheckState } from '../src/core/state.js';
import { openPostgresStore } from '../src/history/backends/postgres.js';
import { openSqliteStore } from '../src/history/backends/sqlite.js';
import { monthRange } from '../src/history/calendar.js';
import { HistoryRecorder } from '../src/history/recorder.js';
import { buildReport, reportChecks } from '../src/history/report.js';
import { workerBrief, workerReportJson, type BriefRunner, type ReportJob } from '../src/history/report-runner.js';
import { accountingPolicy, configuredChecks, type ReportStore } from '../src/history/settings.js';
import { startOfUtcMonth } from '../src/history/spans.js';
import { StoreHistoryReader } from '../src/history/store-reader.js';
import type { HistoryStore } from '../src/history/types.js';
import { monitorRows, pageOf, type StatusSource } from '../src/http/status/model.js';
import { statusRoute } from '../src/http/status/routes.js';
import type { Logger } from '../src/log/logger.js';
import { jobsOf } from '../src/runner/scheduler.js';
import { StatusBoard } from '../src/runner/status.js';
import { digestOf, SUMMARY_TOP } from '../src/summary/digest.js';
import { startPostgres, type PrivatePostgres } from '../test/support/postgres.js';
import { backfill, dropFleet, prepareFleet, type BenchSql } from './fleet-backfill.js';
import { CHECKS, checkIndex, DAY_MS, HOUR_MS, INTERVAL_MS, maintenanceWindows, monitorName, resultAt, slotOf, TENANTS, tenantOf } from './fleet-data.js';
import type { ShardReport } from './fleet-shard.js';
import { eachLine, killAllChildren, percentile, spawnTracked, stopChild } from './proc.js';

// npm run bench:fleet — the documented fleet shape measured: S shard processes, each the project's history
// recorder for its share of M monitors x 2 checks every 5 minutes, writing one real PostgreSQL from Debian's
// packages; the read paths (SLA report, status page, badge, summary.json, retention, the monthly summary) over a
// backfilled 30- and 90-day history; each figure beside SQLite at 10,000 monitors in the same run. The probes are
// not run (`npm run bench` measures them): results are synthesised by bench/fleet-data.ts. Figures, not tests.

interface Options {
  monitors: number;
  shards: number;
  seconds: number;
  sqliteMonitors: number;
  days: number[];
  sampleMonitors: number;
  pool: number;
  runs: number;
  quick: boolean;
  /** Only the first history's backfill and the steady interval: the write path alone. */
  steadyOnly: boolean;
  /** The database's statements of the steady interval, costliest first (pg_stat_statements). */
  statements: boolean;
}

function options(argv: readonly string[]): Options {
  const quick = argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    const parsed = i >= 0 ? Number(argv[i + 1]) : fallback;
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} takes a positive number`);
    return parsed;
  };
  const daysAt = argv.indexOf('--days');
  return {
    quick,
    monitors: value('monitors', quick ? 10_000 : 100_000),
    shards: value('shards', quick ? 4 : 10),
    seconds: value('seconds', quick ? 30 : 120),
    sqliteMonitors: value('sqlite-monitors', quick ? 2_000 : 10_000),
    days: daysAt >= 0 ? (argv[daysAt + 1] ?? '').split(',').map(Number) : quick ? [7, 30] : [30, 90],
    sampleMonitors: value('sample-monitors', quick ? 5 : 10),
    pool: value('pool', 4),
    runs: value('runs', quick ? 5 : 10),
    steadyOnly: argv.includes('--steady-only'),
    statements: argv.includes('--statements'),
  };
}

// Monday 2 December 2030, 00:00 UTC: the history ends here and the steady interval starts here.
const NOW = Date.UTC(2030, 11, 2);
const REPORT_MONTH = '2030-11';
const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

/** The configuration of the fleet: what `mailprobe run` and `mailprobe report` would load. */
function fleetConfig(monitors: number, timeZone: string): LoadedConfig {
  const tenants: Record<string, unknown> = {};
  for (let t = 0; t < Math.min(TENANTS, monitors); t++) {
    tenants[tenantOf(t)] = {
      tenantId: `${tenantOf(t)}.onmicrosoft.com`,
      clientId: `00000000-0000-4000-8000-${String(t).padStart(12, '0')}`,
      credential: { type: 'secret', secret: 'x' },
    };
  }
  const list = Array.from({ length: monitors }, (_, m) => ({
    name: monitorName(m),
    tenant: tenantOf(m),
    mailbox: `probe${m}@${tenantOf(m)}.example`,
    checks: [...CHECKS],
  }));
  return parseConfig(JSON.stringify({ tenants, monitors: list, sla: { timeZone, maintenance: maintenanceWindows(NOW) } }), '/tmp/bench-fleet.json');
}

/** The status page of the whole fleet: a board with each check's last result, history from the store. */
function statusSource(config: LoadedConfig, store: HistoryStore | undefined): StatusSource {
  const board = new StatusBoard();
  const jobs = jobsOf(config.monitors);
  board.expect(jobs);
  const states = new Map<string, CheckState>();
  const checks = config.monitors.length * CHECKS.length;
  for (const job of jobs) {
    const m = Number(job.monitor.name.slice('monitor-'.length));
    const check = job.check as (typeof CHECKS)[number];
    const slot = slotOf(checkIndex(m, check), checks);
    board.update(foldInto(states, resultAt(m, check, NOW - INTERVAL_MS + slot, checks)));
  }
  return {
    settings: () => config.statusPage,
    monitors: () => config.monitors,
    checks: () => board.list(),
    ...(store ? { history: new StoreHistoryReader({ store, policy: accountingPolicy(config), configured: configuredChecks(config) }) } : {}),
    now: () => NOW,
  };
}

interface Timing {
  medianMs: number;
  p95Ms: number;
  runs: number;
}

async function timed(runs: number, fn: () => Promise<unknown>): Promise<Timing> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { medianMs: percentile(times, 50), p95Ms: percentile(times, 95), runs };
}

/** A report's runs, the first one included (a `mailprobe report` is a fresh process): the median judges. */
interface Sample {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  /**
   * Median kernel CPU time and minor page faults of a run, this process and its worker threads: on this machine
   * (a Firecracker VM) each page touched for the first time costs ~5 µs, and a report of 200,000 checks through
   * its worker touched ~1.3 GB, 1.5–1.8 s of kernel time (2026-12-07, late).
   */
  kernelMs: number;
  minorFaults: number;
}

const REPORT_RUNS = 3;

async function sampled(runs: number, fn: () => Promise<unknown>): Promise<Sample> {
  const times: number[] = [];
  const kernel: number[] = [];
  const faults: number[] = [];
  for (let i = 0; i < runs; i++) {
    const before = process.resourceUsage();
    times.push(await once(fn));
    const after = process.resourceUsage();
    kernel.push((after.systemCPUTime - before.systemCPUTime) / 1000);
    faults.push(after.minorPageFault - before.minorPageFault);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    medianMs: percentile(sorted, 50),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    runs,
    kernelMs: percentile(
      kernel.sort((a, b) => a - b),
      50,
    ),
    minorFaults: percentile(
      faults.sort((a, b) => a - b),
      50,
    ),
  };
}

async function once(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function route(source: StatusSource, pathAndQuery: string): Promise<string> {
  const [path = '', query = ''] = pathAndQuery.split('?');
  const found = statusRoute(source, path);
  if (!found) throw new Error(`no route ${path}`);
  const reply = await found.handle(new URLSearchParams(query));
  if (reply.status !== 200) throw new Error(`${pathAndQuery} answered ${reply.status}`);
  return reply.body;
}

interface Reads {
  reportUtc: Sample;
  reportBerlin: Sample;
  apiReportBerlin: Sample;
  monthlySummaryMs: number;
  statusFirstPage: Timing;
  search: Timing;
  badge: Timing;
  summaryJson: Timing;
  reportChecks: number;
  /** This thread's heap when the reads began: the in-thread reports collect it too, unlike `mailprobe report`'s. */
  callerHeapMb: number;
}

/** The two ways a report leaves its worker: /api/report's JSON text, and the monthly summary's brief. */
interface Runners {
  json: (job: ReportJob) => Promise<Buffer>;
  brief: BriefRunner;
}

async function reads(store: HistoryStore, runners: Runners, monitors: number, runs: number): Promise<Reads> {
  const callerHeapMb = process.memoryUsage().heapUsed / 1024 / 1024;
  let reportChecksSeen = 0;
  // One configuration at a time, as `mailprobe report` loads one: with both zones' configurations of 100,000
  // monitors alive, every collection during a report marked both.
  const reportIn = async (timeZone: string): Promise<Sample> => {
    const config = fleetConfig(monitors, timeZone);
    return sampled(REPORT_RUNS, async () => {
      const built = await buildReport(
        { store, policy: accountingPolicy(config), configured: reportChecks(config) },
        { ...monthRange(REPORT_MONTH, timeZone), now: NOW, label: REPORT_MONTH },
      );
      reportChecksSeen = built.checks.length;
    });
  };
  const reportUtc = await reportIn('UTC');
  const reportBerlin = await reportIn('Europe/Berlin');
  const berlin = fleetConfig(monitors, 'Europe/Berlin');
  const apiReportBerlin = await sampled(REPORT_RUNS, () =>
    runners.json({
      sla: berlin.sla,
      configured: reportChecks(berlin),
      query: { ...monthRange(REPORT_MONTH, 'Europe/Berlin'), now: NOW, label: REPORT_MONTH },
    }),
  );
  // What shard 0 does on the 1st: the previous month's report, summed up for the notifiers.
  const monthlySummaryMs = await once(async () => {
    const brief = await runners.brief(
      {
        sla: berlin.sla,
        configured: reportChecks(berlin),
        query: { ...monthRange(REPORT_MONTH, 'Europe/Berlin'), now: NOW, label: REPORT_MONTH },
      },
      SUMMARY_TOP,
    );
    digestOf(brief, { scheduledFor: NOW });
  });
  const source = statusSource(fleetConfig(monitors, 'UTC'), store);
  const last = monitorName(monitors - 1);
  return {
    reportUtc,
    reportBerlin,
    apiReportBerlin,
    monthlySummaryMs,
    statusFirstPage: await timed(runs, () => route(source, '/status')),
    search: await timed(runs, () => route(source, `/status?q=${encodeURIComponent(last)}`)),
    badge: await timed(runs, () => route(source, '/status/badge/monitor-0/imap/uptime-30d.svg')),
    summaryJson: await timed(Math.max(3, Math.floor(runs / 4)), () => route(source, '/status/summary.json')),
    reportChecks: reportChecksSeen,
    callerHeapMb,
  };
}

function runnersOf(target: ReportStore): Runners {
  return { json: workerReportJson(target), brief: workerBrief(target) };
}

/** The checks whose every hour the status page's first page and the badge read (hourly rows for them only). */
function pageChecks(monitors: number): number[] {
  const source = statusSource(fleetConfig(monitors, 'UTC'), undefined);
  const names = pageOf(monitorRows(source, 'public'), 1, source.settings().pageSize).rows.map((row) => row.monitor.name);
  const all = new Set([...names, monitorName(0)]);
  return [...all].flatMap((name) => CHECKS.map((check) => checkIndex(Number(name.slice('monitor-'.length)), check)));
}

/** Hours around each UTC month boundary in [fromDay, toDay): a report in a zone off UTC reads them. */
function edgeHours(fromDay: number, toDay: number): number[] {
  const hours: number[] = [];
  for (let month = startOfUtcMonth(fromDay * DAY_MS); month <= toDay * DAY_MS; month = startOfUtcMonth(month + 32 * DAY_MS)) {
    for (let hour = month - 3 * HOUR_MS; hour < month + 3 * HOUR_MS; hour += HOUR_MS) if (hour >= fromDay * DAY_MS && hour < toDay * DAY_MS) hours.push(hour);
  }
  return hours;
}

// --- the database's own costs, from /proc -----------------------------------------------------------------------

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

const TICKS = 100;

/** CPU seconds of the postmaster, its exited children (reaped into cutime/cstime) and its live children. */
function postgresCpuSeconds(pid: number): number {
  const own = statFields(pid);
  if (!own) return NaN;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const child of childrenOf(pid)) {
    const fields = statFields(child);
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS;
}

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) found.push(Number(entry));
  }
  return found;
}

/** Bytes the postmaster and its live children caused to be written to storage, and their write calls. */
function postgresWrites(pid: number): { bytes: number; calls: number } {
  let bytes = 0;
  let calls = 0;
  for (const process of [pid, ...childrenOf(pid)]) {
    try {
      const io = readFileSync(`/proc/${process}/io`, 'utf8');
      bytes += Number(/^write_bytes: (\d+)$/m.exec(io)?.[1] ?? 0);
      calls += Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return { bytes, calls };
}

async function walLsn(client: pg.Client): Promise<string> {
  return ((await client.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0] as { lsn: string }).lsn;
}

async function walBytes(client: pg.Client, from: string, to: string): Promise<number> {
  return Number(((await client.query('SELECT pg_wal_lsn_diff($1, $2) AS bytes', [to, from])).rows[0] as { bytes: string }).bytes);
}

async function tableBytes(client: pg.Client): Promise<Record<string, number>> {
  const rows = (
    await client.query(
      "SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
    )
  ).rows as Array<{ name: string; bytes: string }>;
  const sizes: Record<string, number> = {};
  for (const row of rows) {
    // A partitioned table's size is its partitions'.
    const parts = (
      await client.query('SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0) AS bytes FROM pg_inherits WHERE inhparent = $1::regclass', [row.name])
    ).rows as Array<{ bytes: string }>;
    sizes[row.name] = Number(row.bytes) + Number(parts[0]?.bytes ?? 0);
  }
  return sizes;
}

function sqliteBytes(file: string): number {
  return ['', '-wal', '-shm'].reduce((sum, suffix) => {
    try {
      return sum + statSync(`${file}${suffix}`).size;
    } catch {
      return sum;
    }
  }, 0);
}

/** The costliest statements since the reset, as pg_stat_statements counts them (planning and execution). */
async function printStatements(client: pg.Client): Promise<void> {
  const rows = (
    await client.query(
      `SELECT calls, rows, total_plan_time + total_exec_time AS total_ms, total_plan_time AS plan_ms, shared_blks_dirtied AS dirtied,
         wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
       FROM pg_stat_statements ORDER BY total_plan_time + total_exec_time DESC LIMIT 15`,
    )
  ).rows as Array<Record<string, string | number>>;
  console.log('  statements, costliest first (calls, rows, total ms, of which planning, blocks dirtied, WAL bytes, query):');
  for (const row of rows)
    console.log(
      `  ${row.calls}\t${row.rows}\t${fmt(Number(row.total_ms))}\t${fmt(Number(row.plan_ms))}\t${row.dirtied}\t${row.wal_bytes}\t${String(row.query)}`,
    );
}

// --- phases ---------------------------------------------------------------------------------------------------------

interface Steady {
  seconds: number;
  results: number;
  written: number;
  dropped: number;
  failedWrites: number;
  batchP50Ms: number;
  batchP99Ms: number;
  batchMaxMs: number;
  batches: number;
  restoreMsMax: number;
  dbCpuSeconds?: number;
  dbCores?: number;
  dbCpuMsPerResult?: number;
  walBytesPerResult?: number;
  diskWriteBytesPerSecond?: number;
  diskWriteCallsPerSecond?: number;
  shardCpuMsPerResult: number;
  shardPeakRssMb: number;
}

async function steady(
  job: { backend: 'postgres' | 'sqlite'; where: string; shards: number; monitors: number; seconds: number; pool: number },
  postgres?: { server: PrivatePostgres; client: pg.Client; statements?: boolean },
): Promise<Steady> {
  const shards = Array.from({ length: job.shards }, (_, shard) => {
    const child = spawnTracked(process.execPath, [join(import.meta.dirname, 'fleet-shard.js'), JSON.stringify({ ...job, shard, start: NOW })], { stdin: true });
    const lines: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    eachLine(child.stdout!, (line) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      waiters.shift()?.();
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const next = (): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const take = (): void => {
          const line = lines.shift();
          if (line) resolve(line);
          else waiters.push(take);
        };
        child.once('exit', (code) => (lines.length === 0 ? reject(new Error(`shard ${shard} exited (${code}): ${stderr}`)) : undefined));
        take();
      });
    return { child, next };
  });
  const ready = await Promise.all(shards.map((shard) => shard.next()));
  const restoreMsMax = Math.max(...ready.map((line) => Number(line.restoreMs)));
  const before = postgres
    ? { cpu: postgresCpuSeconds(postgres.server.pid), lsn: await walLsn(postgres.client), io: postgresWrites(postgres.server.pid) }
    : undefined;
  if (postgres?.statements) await postgres.client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()');
  const started = performance.now();
  for (const shard of shards) shard.child.stdin!.write('go\n');
  await new Promise((resolve) => setTimeout(resolve, job.seconds * 1000));
  const elapsed = (performance.now() - started) / 1000;
  const after = postgres
    ? { cpu: postgresCpuSeconds(postgres.server.pid), lsn: await walLsn(postgres.client), io: postgresWrites(postgres.server.pid) }
    : undefined;
  const reports = (await Promise.all(shards.map((shard) => shard.next()))).map((line) => line.done as ShardReport);
  if (postgres?.statements) await printStatements(postgres.client);
  await Promise.all(shards.map((shard) => stopChild(shard.child, 10_000)));
  const batches = reports.flatMap((report) => report.batchMs).sort((a, b) => a - b);
  const results = reports.reduce((sum, report) => sum + report.generated, 0);
  const figures: Steady = {
    seconds: elapsed,
    results,
    written: reports.reduce((sum, report) => sum + report.written, 0),
    dropped: reports.reduce((sum, report) => sum + report.dropped, 0),
    failedWrites: reports.reduce((sum, report) => sum + report.failedWrites, 0),
    batchP50Ms: percentile(batches, 50),
    batchP99Ms: percentile(batches, 99),
    batchMaxMs: batches[batches.length - 1] ?? NaN,
    batches: batches.length,
    restoreMsMax,
    shardCpuMsPerResult: (reports.reduce((sum, report) => sum + report.cpuSeconds, 0) * 1000) / results,
    shardPeakRssMb: Math.max(...reports.map((report) => report.peakRssBytes)) / 1024 / 1024,
  };
  if (postgres && before && after) {
    figures.dbCpuSeconds = after.cpu - before.cpu;
    figures.dbCores = figures.dbCpuSeconds / elapsed;
    figures.dbCpuMsPerResult = (figures.dbCpuSeconds * 1000) / results;
    figures.walBytesPerResult = (await walBytes(postgres.client, before.lsn, after.lsn)) / results;
    figures.diskWriteBytesPerSecond = (after.io.bytes - before.io.bytes) / elapsed;
    figures.diskWriteCallsPerSecond = (after.io.calls - before.io.calls) / elapsed;
  }
  return figures;
}

/**
 * A month of the real recorder's rows for a few monitors; bytes of every table and index per monitor-month.
 * `daily` runs after each simulated day: PostgreSQL's autovacuum would have run many times in a real month (the
 * sample's month takes half a minute), making the space of the rollups' old row versions free for new rows.
 */
async function sampleMonth(store: HistoryStore, monitors: number, daily?: () => Promise<void>): Promise<void> {
  const month = monthRange('2030-11', 'UTC');
  const clock = { time: month.from, now: () => clock.time, monotonic: () => performance.now() };
  const recorder = new HistoryRecorder({ store, clock, logger: silent, flushMs: 3_600_000, pruneEveryMs: 3_600_000 });
  const states = new Map<string, CheckState>();
  const checks = monitors * CHECKS.length;
  for (let cycle = month.from; cycle < month.to; cycle += INTERVAL_MS) {
    for (let m = 0; m < monitors; m++) {
      for (const check of CHECKS) {
        const t = cycle + slotOf(checkIndex(m, check), checks);
        clock.time = t;
        recorder.listener(foldInto(states, resultAt(m, check, t, checks)), { monitor: { intervalSeconds: INTERVAL_MS / 1000 } });
      }
    }
    if ((cycle - month.from) % HOUR_MS === 0) await recorder.flush();
    if ((cycle - month.from) % DAY_MS === 0) await daily?.();
  }
  await recorder.close();
}

/** Bytes of a store with no monitor: its schema and, on PostgreSQL, the sample month's (empty) partitions. */
async function emptyStoreBytes(server: PrivatePostgres, sqliteFile: string): Promise<{ postgres: number; sqlite: number }> {
  const url = await server.createDatabase('empty');
  const store = await openPostgresStore({ connectionString: url, now: NOW });
  const month = monthRange('2030-11', 'UTC');
  await store.preparePartitions(month.from, month.to);
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('VACUUM ANALYZE');
  const postgres = Object.values(await tableBytes(client)).reduce((sum, bytes) => sum + bytes, 0);
  await client.end();
  await (await openSqliteStore(sqliteFile, { now: NOW })).close();
  return { postgres, sqlite: sqliteBytes(sqliteFile) };
}

function pgSql(client: pg.Client): BenchSql {
  return {
    dialect: 'postgres',
    exec: async (sql, params = []) => {
      let n = 0;
      await client.query(
        sql.replace(/\?/g, () => `$${++n}`),
        [...params],
      );
    },
  };
}

function sqliteSql(db: Database.Database): BenchSql {
  return { dialect: 'sqlite', exec: async (sql, params = []) => void db.prepare(sql).run(...params) };
}

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits));
const sample = (s: Sample): string =>
  `${fmt(s.medianMs)} ms (${fmt(s.minMs)}–${fmt(s.maxMs)}; kernel ${fmt(s.kernelMs)} ms, ${fmt(s.minorFaults / 1000)}k page faults)`;

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  console.log(
    `fleet bench: ${opts.monitors} monitors x 2 checks every 5 min on ${opts.shards} shards (PostgreSQL), SQLite at ${opts.sqliteMonitors}; history ${opts.days.join(' and ')} days; steady interval ${opts.seconds} s`,
  );
  console.log(`load average at start: ${loadAtStart}`);
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-bench-fleet-'));
  const server = await startPostgres({
    durable: true,
    settings: {
      shared_buffers: '1GB',
      max_wal_size: '8GB',
      max_connections: String(20 + opts.shards * opts.pool * 2),
      ...(opts.statements ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on' } : {}),
    },
  });
  const figures: Record<string, unknown> = { options: opts, startedAt, loadAtStart, node: process.version };
  try {
    const url = await server.createDatabase('fleet');
    const client = new pg.Client({ connectionString: url });
    // The server going away is reported by the query that fails, not as an uncaught 'error' that hides the cause.
    client.on('error', () => undefined);
    await client.connect();
    const pgStore = await openPostgresStore({ connectionString: url, now: NOW, max: opts.pool });
    const sqliteFile = join(dir, 'history.sqlite');
    const sqliteStore = await openSqliteStore(sqliteFile, { now: NOW });
    const sqliteDb = new Database(sqliteFile);
    const stores = [
      { name: 'postgres', monitors: opts.monitors, store: pgStore, sql: pgSql(client), runners: runnersOf({ backend: 'postgres', connectionString: url }) },
      {
        name: 'sqlite',
        monitors: opts.sqliteMonitors,
        store: sqliteStore,
        sql: sqliteSql(sqliteDb),
        runners: runnersOf({ backend: 'sqlite', file: sqliteFile }),
      },
    ] as const;

    const history: Record<string, Record<string, unknown>> = {};
    const nowDay = NOW / DAY_MS;
    for (const side of stores) {
      const started = performance.now();
      await prepareFleet(side.sql, side.monitors);
      console.log(`${side.name}: fleet table of ${side.monitors} monitors in ${fmt((performance.now() - started) / 1000, 1)} s`);
    }
    // The steady interval runs on the first history (the figure that matters most comes early in a long run).
    let doneDays = 0;
    const days = [...opts.days].sort((x, y) => x - y);
    for (const [i, depth] of days.entries()) {
      for (const side of stores) {
        const started = performance.now();
        // PostgreSQL's results and rollups are partitioned by month: the backfill's months first.
        if (side.store === pgStore) await pgStore.preparePartitions((nowDay - depth) * DAY_MS, NOW + DAY_MS);
        await backfill(side.sql, {
          fromDay: nowDay - depth,
          toDay: nowDay - doneDays,
          now: NOW,
          edgeHours: edgeHours(nowDay - depth, nowDay - doneDays),
          hourlyChecks: pageChecks(side.monitors),
        });
        // What autovacuum and autoanalyze would have done over those days.
        await side.sql.exec(side.sql.dialect === 'postgres' ? 'VACUUM ANALYZE' : 'ANALYZE');
        // The reads are timed on a settled database, not while it writes out the backfill's gigabytes: a report
        // of 200,000 checks right after the 90-day backfill took 10-11 s, the same report later 6.7-7 s.
        if (side.sql.dialect === 'postgres') await side.sql.exec('CHECKPOINT');
        const backfillS = (performance.now() - started) / 1000;
        console.log(`${side.name}: ${depth} days of history backfilled in ${fmt(backfillS, 1)} s; reading…`);
        if (opts.steadyOnly) continue;
        const measured = await reads(side.store, side.runners, side.monitors, opts.runs);
        history[`${side.name}@${depth}d`] = { backfillS, ...measured };
        console.log(`  ${JSON.stringify(measured)}`);
      }
      doneDays = depth;
      figures.reads = history;
      if (i > 0) continue;
      await client.query('CHECKPOINT');
      console.log(`steady rate: ${opts.shards} shards for ${opts.seconds} s…`);
      const steadyPg = await steady(
        { backend: 'postgres', where: url, shards: opts.shards, monitors: opts.monitors, seconds: opts.seconds, pool: opts.pool },
        { server, client, statements: opts.statements },
      );
      console.log(`  ${JSON.stringify(steadyPg)}`);
      console.log(`steady rate, SQLite: 1 process for ${opts.seconds} s…`);
      const steadySqlite = await steady({ backend: 'sqlite', where: sqliteFile, shards: 1, monitors: opts.sqliteMonitors, seconds: opts.seconds, pool: 1 });
      console.log(`  ${JSON.stringify(steadySqlite)}`);
      figures.steady = { postgres: steadyPg, sqlite: steadySqlite };
      if (opts.steadyOnly) break;
    }
    if (opts.steadyOnly) return;

    // Retention: the oldest month of the history expires in one run of the job.
    const oldest = startOfUtcMonth(NOW - Math.max(...opts.days) * DAY_MS);
    const cutoff = startOfUtcMonth(oldest + 32 * DAY_MS);
    const cutoffs = { results: cutoff, hourly: cutoff, daily: cutoff, monthly: cutoff };
    const retention: Record<string, unknown> = {};
    for (const side of stores) {
      let removed: unknown;
      const ms = await once(async () => {
        removed = await side.store.prune(cutoffs);
      });
      retention[side.name] = { ms, removed };
      console.log(`${side.name}: retention job expiring ${new Date(oldest).toISOString().slice(0, 7)} took ${fmt(ms)} ms (${JSON.stringify(removed)})`);
    }
    figures.retention = retention;

    // Storage per monitor-month: the recorder's own rows for a month (fleet tables dropped first).
    const sampleUrl = await server.createDatabase('sample');
    const sampleClient = new pg.Client({ connectionString: sampleUrl });
    await sampleClient.connect();
    const samplePg = await openPostgresStore({ connectionString: sampleUrl, now: NOW });
    const sampleFile = join(dir, 'sample.sqlite');
    const sampleSqlite = await openSqliteStore(sampleFile, { now: NOW });
    const storage: Record<string, unknown> = {};
    for (const [name, store] of [
      ['postgres', samplePg],
      ['sqlite', sampleSqlite],
    ] as const) {
      const started = performance.now();
      const vacuum = store === samplePg ? async (): Promise<void> => void (await sampleClient.query('VACUUM')) : undefined;
      await sampleMonth(store, opts.sampleMonitors, vacuum);
      console.log(`${name}: a month of ${opts.sampleMonitors} monitors recorded in ${fmt((performance.now() - started) / 1000, 1)} s`);
    }
    await sampleClient.query('VACUUM ANALYZE');
    const pgTables = await tableBytes(sampleClient);
    const pgTotal = Object.values(pgTables).reduce((sum, bytes) => sum + bytes, 0);
    await sampleSqlite.close();
    // The same stores without a monitor (schema, the month's empty partitions): what a store costs whatever its
    // size, which 100,000 monitors share and a sample of ten would count ten times.
    const empty = await emptyStoreBytes(server, join(dir, 'empty.sqlite'));
    const perMonitor = (total: number, fixed: number): Record<string, number> => ({
      bytesPerMonitorMonth: (total - fixed) / opts.sampleMonitors,
      fixedBytes: fixed,
      sampleBytesPerMonitor: total / opts.sampleMonitors,
    });
    storage.postgres = { ...perMonitor(pgTotal, empty.postgres), tables: pgTables };
    storage.sqlite = perMonitor(sqliteBytes(sampleFile), empty.sqlite);
    figures.storage = storage;
    await samplePg.close();
    await sampleClient.end();
    await dropFleet(stores[0].sql);
    figures.fleetTables = await tableBytes(client);

    await pgStore.close();
    await sqliteStore.close();
    sqliteDb.close();
    await client.end();
    figures.loadAtEnd = loadAverage();
    printSummary(figures as unknown as Summary, opts);
    const out = join(process.cwd(), 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, opts.quick ? 'fleet-quick-latest.json' : 'fleet-latest.json'), `${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    killAllChildren();
    await server.close();
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

interface Summary {
  reads: Record<string, Reads & { backfillS: number }>;
  steady: { postgres: Steady; sqlite: Steady };
  retention: Record<string, { ms: number }>;
  storage: Record<string, { bytesPerMonitorMonth: number; fixedBytes: number; sampleBytesPerMonitor: number }>;
  loadAtStart: string;
  loadAtEnd: string;
}

function printSummary(figures: Summary, opts: Options): void {
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  const lastDays = Math.max(...opts.days);
  const rows: Array<[string, string, string, string]> = [];
  const pg = figures.steady.postgres;
  const lite = figures.steady.sqlite;
  const add = (what: string, pgValue: string, sqliteValue: string, pass: boolean | undefined): void => {
    rows.push([what, pgValue, sqliteValue, pass === undefined ? '—' : verdict(pass)]);
  };
  add(
    `database CPU at the steady rate (target <= 0.25 core)`,
    `${fmt(pg.dbCores, 3)} core (${fmt(pg.dbCpuMsPerResult, 3)} ms/result)`,
    `in process: ${fmt(lite.shardCpuMsPerResult, 3)} ms/result incl. the recorder`,
    pg.dbCores !== undefined && pg.dbCores <= 0.25,
  );
  add(
    'shard batch write p50 / p99 (target p99 <= 100 ms)',
    `${fmt(pg.batchP50Ms, 1)} / ${fmt(pg.batchP99Ms, 1)} ms`,
    `${fmt(lite.batchP50Ms, 1)} / ${fmt(lite.batchP99Ms, 1)} ms`,
    pg.batchP99Ms <= 100,
  );
  add('results dropped (target 0)', `${pg.dropped} of ${pg.results}`, `${lite.dropped} of ${lite.results}`, pg.dropped === 0 && pg.failedWrites === 0);
  add('WAL per result', `${fmt(pg.walBytesPerResult)} B`, '—', undefined);
  const storePg = figures.storage.postgres?.bytesPerMonitorMonth ?? NaN;
  const storeLite = figures.storage.sqlite?.bytesPerMonitorMonth ?? NaN;
  const mb = (bytes: number | undefined): string => `${fmt((bytes ?? NaN) / 1024 / 1024, 2)} MB`;
  add(
    'storage per monitor-month, beyond the store itself (target <= 2 MB)',
    `${mb(storePg)} (the store itself ${mb(figures.storage.postgres?.fixedBytes)}; ${mb(figures.storage.postgres?.sampleBytesPerMonitor)} a monitor of ${opts.sampleMonitors} with it)`,
    `${mb(storeLite)} (${mb(figures.storage.sqlite?.fixedBytes)}; ${mb(figures.storage.sqlite?.sampleBytesPerMonitor)})`,
    storePg <= 2 * 1024 * 1024,
  );
  for (const days of opts.days) {
    const p = figures.reads[`postgres@${days}d`];
    const s = figures.reads[`sqlite@${days}d`];
    if (!p || !s) continue;
    add(`[${days} d] report UTC month, median of ${REPORT_RUNS} (target <= 5 s)`, sample(p.reportUtc), sample(s.reportUtc), p.reportUtc.medianMs <= 5000);
    add(
      `[${days} d] report Europe/Berlin month, CLI, median of ${REPORT_RUNS} (target <= 5 s; SQLite <= 2 s)`,
      sample(p.reportBerlin),
      sample(s.reportBerlin),
      p.reportBerlin.medianMs <= 5000 && s.reportBerlin.medianMs <= 2000,
    );
    add(
      `[${days} d] report Europe/Berlin month, /api/report (its worker, to the JSON text), median of ${REPORT_RUNS}`,
      sample(p.apiReportBerlin),
      `${sample(s.apiReportBerlin)} (worker)`,
      p.apiReportBerlin.medianMs <= 5000,
    );
    add(
      `[${days} d] status page 1 p95 (target <= 300 ms)`,
      `${fmt(p.statusFirstPage.p95Ms)} ms`,
      `${fmt(s.statusFirstPage.p95Ms)} ms`,
      p.statusFirstPage.p95Ms <= 300,
    );
    add(`[${days} d] search p95`, `${fmt(p.search.p95Ms)} ms`, `${fmt(s.search.p95Ms)} ms`, undefined);
    add(`[${days} d] one badge, median (target <= 20 ms)`, `${fmt(p.badge.medianMs, 1)} ms`, `${fmt(s.badge.medianMs, 1)} ms`, p.badge.medianMs <= 20);
    add(
      `[${days} d] summary.json median (target <= 3 s)`,
      `${fmt(p.summaryJson.medianMs)} ms`,
      `${fmt(s.summaryJson.medianMs)} ms`,
      p.summaryJson.medianMs <= 3000,
    );
    add(`[${days} d] monthly summary build`, `${fmt(p.monthlySummaryMs)} ms`, `${fmt(s.monthlySummaryMs)} ms`, undefined);
    if (days === lastDays) {
      const rp = figures.retention.postgres?.ms ?? NaN;
      const rs = figures.retention.sqlite?.ms ?? NaN;
      add(`[${days} d] retention job, one month expired (target <= 1 s)`, `${fmt(rp)} ms`, `${fmt(rs)} ms`, rp <= 1000);
    }
  }
  add("shard restore at start (its own checks' states)", `${fmt(pg.restoreMsMax)} ms`, `${fmt(lite.restoreMsMax)} ms`, undefined);
  add(
    'shard CPU per result (recorder) / peak RSS',
    `${fmt(pg.shardCpuMsPerResult, 3)} ms / ${fmt(pg.shardPeakRssMb)} MB`,
    `${fmt(lite.shardCpuMsPerResult, 3)} ms / ${fmt(lite.shardPeakRssMb)} MB`,
    undefined,
  );
  add(
    'database disk writes at the steady rate',
    `${fmt((pg.diskWriteBytesPerSecond ?? NaN) / 1024)} KB/s, ${fmt(pg.diskWriteCallsPerSecond)} write calls/s`,
    '—',
    undefined,
  );
  console.log(`\n| figure | PostgreSQL, ${opts.monitors} monitors, ${opts.shards} shards | SQLite, ${opts.sqliteMonitors} monitors | |`);
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`\nload average at start ${figures.loadAtStart}; at end ${figures.loadAtEnd}`);
}

process.on('SIGINT', () => {
  killAllChildren();
  process.exit(130);
});
await main();
