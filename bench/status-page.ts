import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { parseConfig } from '../src/config/load.js';
import type { LoadedConfig } from '../src/config/types.js';
import type { CheckKind } from '../src/core/check.js';
import type { CheckResult } from '../src/core/result.js';
import { foldInto, type CheckState, type ResultEvent } from '../src/core/state.js';
import { openSqliteStore } from '../src/history/backends/sqlite.js';
import { accountingPolicy, configuredChecks } from '../src/history/settings.js';
import { StoreHistoryReader } from '../src/history/store-reader.js';
import { DURATION_BOUNDS, DELIVERY_BOUNDS, type HistoryStore, type RollupDelta } from '../src/history/types.js';
import { monitorRows, pageOf, type StatusSource } from '../src/http/status/model.js';
import { statusRoute } from '../src/http/status/routes.js';
import { jobsOf } from '../src/runner/scheduler.js';
import { StatusBoard } from '../src/runner/status.js';
import { MemoryHistory } from '../test/support/memory-history.js';

// `npm run bench:status`: the status page's renders at 10,000 monitors x 2 checks (50 tenants, 1% failing,
// 90 days of history per check from an in-memory reader), timed in process. The yardstick in the same run is
// what /api/status does with the same board: JSON.stringify of every check. A second set reads the real
// SQLite history store (check states of all 20,000 checks, the last day's hourly and daily rows for all of them,
// 90 days of them for the checks of page 1) through the real reader. Figures only, no assertions.

const MONITORS = Number(process.env.BENCH_STATUS_MONITORS ?? 10_000);
const TENANTS = 50;
const RUNS = Number(process.env.BENCH_STATUS_RUNS ?? 30);
const NOW = Date.parse('2031-05-14T12:00:00Z');
const DAY_S = 86_400;

function buildSource(): { source: StatusSource; config: LoadedConfig } {
  const tenants: Record<string, unknown> = {};
  for (let t = 0; t < TENANTS; t++) {
    tenants[`tenant${t}`] = {
      tenantId: `tenant${t}.onmicrosoft.com`,
      clientId: `00000000-0000-4000-8000-${String(t).padStart(12, '0')}`,
      credential: { type: 'secret', secret: 'x' },
    };
  }
  const monitors = Array.from({ length: MONITORS }, (_, i) => ({
    name: `mailbox-${i}`,
    displayName: `Mailbox ${i}`,
    group: `Region ${i % TENANTS}`,
    tenant: `tenant${i % TENANTS}`,
    mailbox: `probe${i}@tenant${i % TENANTS}.onmicrosoft.com`,
    checks: ['imap', 'smtp'],
  }));
  const config = parseConfig(JSON.stringify({ tenants, monitors }), '/tmp/bench-monitors.json');
  const board = new StatusBoard();
  const states = new Map<string, CheckState>();
  const fold = (result: CheckResult): ResultEvent => foldInto(states, result);
  const jobs = jobsOf(config.monitors);
  board.expect(jobs);
  jobs.forEach((job, index) => {
    const failing = index % 100 === 0;
    board.update(
      fold({
        monitor: job.monitor.name,
        tenant: job.monitor.tenant.key,
        mailbox: job.monitor.mailbox,
        check: job.check,
        startedAt: NOW - 60_000,
        durationSeconds: 0.3,
        outcome: failing
          ? {
              ok: false,
              steps: [{ step: 'auth', seconds: 0.1 }],
              measured: {},
              facts: {},
              failure: { stage: 'auth', reason: 'auth_failed', message: 'rejected', serverText: 'NO AUTHENTICATE failed.' },
            }
          : { ok: true, steps: [{ step: 'auth', seconds: 0.1 }], measured: { folderCount: 12 }, facts: {} },
        ...(failing
          ? {
              reason: 'auth_failed' as const,
              diagnosis: {
                reason: 'auth_failed' as const,
                summary: 'Exchange refused the login',
                candidates: ['no service principal'],
                fixes: ['Get-ServicePrincipal'],
              },
            }
          : {}),
      }),
    );
  });
  const history = new MemoryHistory(
    (check, ago) => {
      const seed = (check.monitor.length * 31 + ago * 7) % 97;
      if (ago > 80) return {};
      if (seed === 0) return { okSeconds: DAY_S - 1800, failSeconds: 1800 };
      if (seed === 1) return { okSeconds: DAY_S - 3600, maintenanceSeconds: 3600 };
      return { okSeconds: DAY_S };
    },
    Array.from({ length: 400 }, (_, i) => ({
      monitor: `mailbox-${i * 25}`,
      tenant: 't',
      check: 'imap' as const,
      startedAt: NOW - i * 3_600_000,
      endedAt: NOW - i * 3_600_000 + 600_000,
      reason: 'timeout',
      stage: 'connect',
    })),
  );
  return { source: { settings: () => config.statusPage, monitors: () => config.monitors, checks: () => board.list(), history, now: () => NOW }, config };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function hour(monitor: string, tenant: string, check: CheckKind, bucket: number, failMs: number): RollupDelta {
  return {
    monitor,
    tenant,
    check,
    bucket,
    okMs: HOUR_MS - failMs,
    failMs,
    runs: 12,
    failures: failMs > 0 ? 1 : 0,
    durationMsSum: 12 * 300,
    durationBuckets: [0, 0, 12, ...Array<number>(DURATION_BOUNDS.length - 2).fill(0)],
    deliveries: 0,
    deliveryBuckets: Array<number>(DELIVERY_BOUNDS.length + 1).fill(0),
  };
}

/** The real store, filled in large batches as the recorder would have over 90 days. */
async function seedStore(store: HistoryStore, source: StatusSource, config: LoadedConfig): Promise<void> {
  const checks = source.checks();
  const pageOne = new Set(pageOf(monitorRows(source, 'public'), 1, config.statusPage.pageSize).rows.map((row) => row.monitor.name));
  await store.write({
    results: [],
    hourly: [],
    daily: [],
    monthly: [],
    incidents: [],
    checkStates: checks.map((status) => ({
      monitor: status.monitor,
      tenant: status.tenant,
      mailbox: status.mailbox,
      check: status.check,
      firstSeenAt: NOW - 90 * 86_400_000,
      lastAt: NOW - 60_000,
      lastOk: status.state === 'ok',
      intervalS: 300,
      consecutiveFailures: status.consecutiveFailures,
      status: JSON.stringify(status),
    })),
    agentRun: { id: 'bench', startedAt: NOW - 91 * 86_400_000, lastSeenAt: NOW },
  });
  const start = NOW - (NOW % HOUR_MS);
  let hourly: RollupDelta[] = [];
  let daily: RollupDelta[] = [];
  const flush = async (): Promise<void> => {
    await store.write({ results: [], hourly, daily, monthly: [], incidents: [], checkStates: [] });
    hourly = [];
    daily = [];
  };
  for (const status of checks) {
    const hours = pageOne.has(status.monitor) ? 90 * 24 : 24;
    for (let h = 1; h <= hours; h++) {
      const row = hour(status.monitor, status.tenant, status.check, start - h * HOUR_MS, h % 97 === 0 ? 600_000 : 0);
      hourly.push(row);
      // The recorder adds every span to its UTC day's row as well; the store merges the deltas of one day.
      daily.push({ ...row, bucket: row.bucket - (row.bucket % DAY_MS) });
      if (hourly.length >= 20_000) await flush();
    }
  }
  await flush();
}

interface Figure {
  case: string;
  medianMs: number;
  p95Ms: number;
  firstMs: number;
  bytes: number;
  gzipBytes: number;
}

async function measure(name: string, render: () => Promise<string> | string): Promise<Figure> {
  const times: number[] = [];
  let body = '';
  for (let run = 0; run <= RUNS; run++) {
    const started = performance.now();
    body = await render();
    times.push(performance.now() - started);
  }
  const first = times.shift() ?? 0;
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return {
    case: name,
    medianMs: round(at(0.5)),
    p95Ms: round(at(0.95)),
    firstMs: round(first),
    bytes: Buffer.byteLength(body),
    gzipBytes: gzipSync(body).length,
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

async function route(source: StatusSource, pathAndQuery: string): Promise<string> {
  const [path = '', query = ''] = pathAndQuery.split('?');
  const found = statusRoute(source, path);
  if (!found) throw new Error(`no route ${path}`);
  return (await found.handle(new URLSearchParams(query))).body;
}

async function main(): Promise<void> {
  const buildStarted = performance.now();
  const { source, config } = buildSource();
  console.log(
    `status page bench: ${MONITORS} monitors x 2 checks, ${TENANTS} groups, ${RUNS} runs per case (board built in ${Math.round(performance.now() - buildStarted)} ms)`,
  );
  const lastPage = Math.ceil(MONITORS / source.settings().pageSize);
  const figures: Figure[] = [];
  figures.push(await measure('baseline: JSON.stringify of every check (/api/status)', () => JSON.stringify({ checks: source.checks() }, null, 2)));
  for (const [name, path] of [
    ['/status (page 1 of the public view)', '/status'],
    [`/status?page=${lastPage} (last page)`, `/status?page=${lastPage}`],
    ['/status?state=failing', '/status?state=failing'],
    ['/status?q=mailbox+9999 (search)', '/status?q=mailbox+9999'],
    ['/status?group=Region+7', '/status?group=Region+7'],
    ['/status/detail (page 1)', '/status/detail'],
    ['/status/summary.json (all monitors)', '/status/summary.json'],
    ['/status/feed.atom', '/status/feed.atom'],
    ['/status/badge/mailbox-42/imap/uptime-30d.svg', '/status/badge/mailbox-42/imap/uptime-30d.svg'],
  ] as const) {
    figures.push(await measure(name, () => route(source, path)));
  }
  const storeDir = mkdtempSync(join(tmpdir(), 'mailprobe-bench-status-'));
  try {
    const store = await openSqliteStore(join(storeDir, 'history.sqlite'), { now: NOW });
    const seedStarted = performance.now();
    await seedStore(store, source, config);
    console.log(`SQLite store seeded in ${Math.round(performance.now() - seedStarted)} ms`);
    const reader = new StoreHistoryReader({ store, policy: accountingPolicy(config), configured: configuredChecks(config) });
    const real: StatusSource = { ...source, history: reader };
    for (const [name, path] of [
      ['SQLite: /status (page 1, 90 days of hourly and daily rows per check)', '/status'],
      ['SQLite: /status/detail (page 1)', '/status/detail'],
      ['SQLite: /status/feed.atom', '/status/feed.atom'],
      ['SQLite: /status/badge/mailbox-0/imap/uptime-90d.svg', '/status/badge/mailbox-0/imap/uptime-90d.svg'],
    ] as const) {
      figures.push(await measure(name, () => route(real, path)));
    }
    await store.close();
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
  const baseline = figures[0]?.medianMs ?? 1;
  console.log('\ncase | median ms | p95 ms | first ms | KB | gzip KB | median vs baseline');
  console.log('--- | --- | --- | --- | --- | --- | ---');
  for (const figure of figures) {
    console.log(
      `${figure.case} | ${figure.medianMs} | ${figure.p95Ms} | ${figure.firstMs} | ${Math.round(figure.bytes / 1024)} | ${Math.round(figure.gzipBytes / 1024)} | ${(figure.medianMs / baseline).toFixed(2)}x`,
    );
  }
  const dir = join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'status-page-latest.json'),
    `${JSON.stringify({ monitors: MONITORS, checks: MONITORS * 2, runs: RUNS, node: process.version, figures }, null, 2)}\n`,
  );
  console.log(`\nfigures written to bench/results/status-page-latest.json`);
}

await main();
