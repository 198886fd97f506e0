import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CHECK, type CheckKind } from '../src/core/checks.js';
import { defaultSecretValue } from '../src/sandbox/model.js';
import type { BaselineRequest, BaselineResult } from './baseline.js';
import { benchTenants, type BenchLayout, type ServersInfo, type ServersStats } from './layout.js';
import { cpuSeconds, eachLine, killAllChildren as killChildren, peakRssBytes, percentile, sleep, spawnTracked, stopChild, timedGet } from './proc.js';

// `npm run bench`: the agent as its own process against the emulators in another, N monitors (imap + smtp
// each) on one tenant and across 50; then a raw node:tls/net client on the same emulators as the yardstick.
// Figures, not assertions: targets are printed PASS/MISS and nothing fails the run.

interface BenchCase {
  name: string;
  monitors: number;
  tenants: number;
  schedule: string;
  intervalSeconds: number;
  /** The checks every monitor runs (default imap + smtp, as the baseline client does them). */
  checks?: readonly CheckKind[];
}

/** The agent's built-in default, written into the config so the baseline provably runs with the same. */
const CONCURRENCY = 32;
const CHECKS: readonly CheckKind[] = ['imap', 'smtp'];
/** A case with Graph beside IMAP and SMTP: two token resources per app (Exchange Online and Microsoft Graph). */
const GRAPH_CHECKS: readonly CheckKind[] = ['imap', 'smtp', 'graph'];

/** The token resources a case's checks ask for; the agent holds one token per app and resource. */
function resourcesOf(checks: readonly CheckKind[]): number {
  return new Set(checks.map((check) => CHECK[check].resource)).size;
}
const ROOT = process.cwd();
const DIST = resolve(ROOT, 'dist', 'bench');
const SCRAPES_PER_WINDOW = 4;

const TARGETS = { latenessP99Seconds: 5, peakRssBytes: 300 * 1024 * 1024, scrapeMs: 250, cpuRatio: 2, expositionBytesPerCheck: 700 } as const;

function cases(quick: boolean): BenchCase[] {
  // 30 s keeps the small cases affordable; the 10,000-monitor case is the target and runs at the real 5 minutes.
  const short = { schedule: '*/30 * * * * *', intervalSeconds: 30 };
  const real = { schedule: '*/5 * * * *', intervalSeconds: 300 };
  const list: BenchCase[] = [];
  for (const monitors of [100, 1000, 10000]) {
    if (quick && monitors === 10000) continue;
    for (const tenants of [1, 50]) list.push({ name: `${monitors}x${tenants}`, monitors, tenants, ...(monitors === 10000 ? real : short) });
  }
  // Token requests stay one per app per resource per lifetime with a second resource (Graph) in play: each app
  // asks Entra for an Exchange token and a Graph token once, whatever its number of monitors.
  list.push({ name: 'graph-200x20', monitors: 200, tenants: 20, ...short, checks: GRAPH_CHECKS });
  return list;
}

// ---------------------------------------------------------------- emulators

interface Servers {
  info: ServersInfo;
  child: ChildProcess;
  stats(): Promise<ServersStats>;
}

async function startServers(dir: string, layout: BenchLayout): Promise<Servers> {
  const child = spawnTracked(process.execPath, [join(DIST, 'servers.js'), dir, String(layout.tenants), String(layout.monitors)], { stdin: true });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const waiting: ((line: string) => void)[] = [];
  eachLine(child.stdout!, (line) => waiting.shift()?.(line));
  const nextLine = (): Promise<string> =>
    new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => reject(new Error('bench servers did not answer')), 60_000);
      waiting.push((line) => {
        clearTimeout(timer);
        resolveLine(line);
      });
    });
  const info = JSON.parse(await nextLine()) as ServersInfo;
  return {
    info,
    child,
    stats: async () => {
      const answer = nextLine();
      child.stdin?.write('stats\n');
      return JSON.parse(await answer) as ServersStats;
    },
  };
}

function writeConfig(dir: string, servers: ServersInfo, layout: BenchLayout, schedule: string, checks: readonly CheckKind[]): string {
  const tenants: Record<string, unknown> = {};
  const monitors: unknown[] = [];
  for (const [index, tenant] of benchTenants(layout).entries()) {
    const secretFile = join(dir, `${tenant.key}.secret`);
    writeFileSync(secretFile, defaultSecretValue(tenant.clientId), { mode: 0o600 });
    tenants[tenant.key] = {
      tenantId: servers.tenants[index]?.tenantId ?? tenant.domain,
      clientId: tenant.clientId,
      credential: { type: 'secret', secret: { file: secretFile } },
      authorityHost: servers.authorityHost,
    };
    for (const mailbox of tenant.mailboxes) monitors.push({ name: mailbox.split('@')[0], tenant: tenant.key, mailbox });
  }
  const file = join(dir, 'monitors.json');
  const config = {
    agent: { listen: '127.0.0.1:0', concurrency: CONCURRENCY, logLevel: 'info' },
    defaults: {
      schedule,
      checks,
      timeoutSeconds: 30,
      stepTimeoutSeconds: 10,
      // The smtp check alone, as the baseline does it: no IMAP sweep of older probe messages afterwards. The Graph
      // case deletes its probe messages as a real monitor does, and sends twice per interval (smtp and graph).
      ...(checks.some((check) => CHECK[check].resource !== 'exchange')
        ? { cleanup: true, sendBudget: { perMinute: 10, perDay: 10000 }, roundtrip: { pollSeconds: 1 } }
        : { cleanup: false }),
      tls: { caFile: servers.caFile },
      imap: servers.imap,
      smtp: servers.smtp,
      graph: servers.graph,
    },
    tenants,
    monitors,
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

// ---------------------------------------------------------------- the agent

interface CheckRecord {
  /** Epoch ms of the slot the check was due at. */
  slot: number;
  /** Epoch ms the result was logged (the check's end). */
  end: number;
  duration: number;
  lateness: number;
  ok: boolean;
  /** The job's first result: the run triggered at start-up, not a scheduled slot. */
  initial: boolean;
}

interface AgentProcess {
  child: ChildProcess;
  pid: number;
  metricsUrl: string;
  startedAt: number;
  records: CheckRecord[];
  skipped: number;
  errors: string[];
  /** Resolves once `count` results satisfy the filter. */
  until(count: number, filter: (record: CheckRecord) => boolean, timeoutMs: number): Promise<boolean>;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

interface Diagnostics {
  cpuProfDir?: string;
  /** Where the agent writes a heap snapshot when the measured interval starts (SIGUSR2). */
  heapSnapshotDir?: string;
}

async function startAgentProcess(configFile: string, diagnostics: Diagnostics): Promise<AgentProcess> {
  const { cpuProfDir, heapSnapshotDir } = diagnostics;
  const flags = [
    ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
    ...(heapSnapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapSnapshotDir}`] : []),
  ];
  const child = spawnTracked(process.execPath, [
    ...flags,
    join(ROOT, 'bin', 'mailprobe.js'),
    'run',
    '--config',
    configFile,
    '--listen',
    '127.0.0.1:0',
    '--log-format',
    'json',
  ]);
  child.stdout?.resume();
  const records: CheckRecord[] = [];
  const errors: string[] = [];
  let skipped = 0;
  const seen = new Set<string>();
  let watchers: (() => void)[] = [];
  let onStarted: ((url: string, at: number) => void) | undefined;
  const started = new Promise<{ url: string; at: number }>((resolveStart, reject) => {
    onStarted = (url, at) => resolveStart({ url, at });
    child.once('exit', (code) => reject(new Error(`agent exited with ${code ?? 'a signal'} before starting: ${errors.join(' | ')}`)));
  });
  eachLine(child.stderr!, (line) => {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      errors.push(line);
      return;
    }
    const message = field(entry, 'message');
    const at = Date.parse(String(field(entry, 'timestamp')));
    if (message === 'check passed' || message === 'check failed') {
      const duration = Number(field(entry, 'durationSeconds'));
      const lateness = Number(field(entry, 'latenessSeconds'));
      const key = `${String(field(entry, 'monitor'))}/${String(field(entry, 'check'))}`;
      const initial = !seen.has(key);
      seen.add(key);
      records.push({ end: at, duration, lateness, slot: at - (duration + lateness) * 1000, ok: message === 'check passed', initial });
      if (message === 'check failed' && errors.length < 5)
        errors.push(`${String(field(entry, 'reason'))}: ${String(field(entry, 'serverText') ?? field(entry, 'summary'))}`);
      for (const watcher of watchers) watcher();
    } else if (message === 'check skipped') skipped++;
    else if (message === 'mailprobe started') onStarted?.(String(field(entry, 'listen')), at);
    else if (field(entry, 'level') === 'error' && errors.length < 5) errors.push(line);
  });
  const { url, at } = await started;
  const agent: AgentProcess = {
    child,
    pid: child.pid!,
    metricsUrl: `${url}/metrics`,
    startedAt: at,
    records,
    errors,
    get skipped() {
      return skipped;
    },
    until: (count, filter, timeoutMs) =>
      new Promise((resolveWait) => {
        let seen = records.filter(filter).length;
        if (seen >= count) return resolveWait(true);
        const timer = setTimeout(() => finish(false), timeoutMs);
        const watcher = (): void => {
          const last = records.at(-1);
          if (last && filter(last)) seen++;
          if (seen >= count) finish(true);
        };
        const finish = (done: boolean): void => {
          clearTimeout(timer);
          watchers = watchers.filter((candidate) => candidate !== watcher);
          resolveWait(done);
        };
        watchers.push(watcher);
      }),
  };
  return agent;
}

// ---------------------------------------------------------------- measuring one case

interface Scrape {
  ms: number;
  bytes: number;
  gzipMs: number;
  gzipBytes: number;
}

export interface CaseResult {
  name: string;
  monitors: number;
  tenants: number;
  schedule: string;
  intervalSeconds: number;
  jobs: number;
  /** The first round every job runs at start-up, all at once behind the concurrency limit: saturated throughput. */
  initialRound: { seconds: number; checks: number; failures: number; checksPerSecond: number; cpuSecondsPerCheck: number; meanCheckSeconds: number };
  /** One full scheduled interval after the initial round. */
  interval: {
    expected: number;
    checks: number;
    failures: number;
    skipped: number;
    checksPerSecond: number;
    latenessP50Seconds: number;
    latenessP99Seconds: number;
    latenessMaxSeconds: number;
    cpuSecondsPerCheck: number;
    meanCheckSeconds: number;
    emulatorCpuSecondsPerCheck: number;
  };
  peakRssBytes: number;
  /** The agent's own process metrics at the end: where the resident memory is (V8 heap or Buffers). */
  memoryAtEnd: { residentBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number };
  scrapes: Scrape[];
  /** The agent's own figures about the scrape before the final one (mailprobe_exposition_*). */
  exposition: { bytes: number; samples: number; renderSeconds: number };
  tokenRequests: { emulatorTotal: number; perTenantMax: number; perTenantMin: number; tenantsSeen: number; allowedPerApp: number };
  errors: string[];
}

async function scrape(url: string): Promise<Scrape & { text?: string }> {
  const plain = await timedGet(url, { gzip: false, keepText: true });
  const gzip = await timedGet(url, { gzip: true });
  return { ms: plain.ms, bytes: plain.bytes, gzipMs: gzip.ms, gzipBytes: gzip.bytes, ...(plain.text !== undefined ? { text: plain.text } : {}) };
}

/** mailprobe_token_requests_total summed per tenant label. */
function tokenRequestsPerTenant(text: string): Map<string, number> {
  const perTenant = new Map<string, number>();
  for (const match of text.matchAll(/^mailprobe_token_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const tenant = /tenant="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '?';
    perTenant.set(tenant, (perTenant.get(tenant) ?? 0) + Number(match[2]));
  }
  return perTenant;
}

function gauge(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

function nextBoundary(atMs: number, intervalSeconds: number): number {
  const step = intervalSeconds * 1000;
  return Math.ceil(atMs / step) * step;
}

const mean = (values: readonly number[]): number => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length);

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Temp folders of cases in progress, removed even when the run is interrupted. */
const tempDirs = new Set<string>();

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mailprobe-bench-${name}-`));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function killAllChildren(): void {
  killChildren();
  for (const dir of tempDirs) removeTempDir(dir);
}

async function runCase(spec: BenchCase, diagnostics: Diagnostics): Promise<CaseResult> {
  const dir = tempDir(spec.name);
  const layout = { tenants: spec.tenants, monitors: spec.monitors };
  const checks = spec.checks ?? CHECKS;
  const jobs = spec.monitors * checks.length;
  let servers: Servers | undefined;
  let agent: AgentProcess | undefined;
  try {
    servers = await startServers(dir, layout);
    const configFile = writeConfig(dir, servers.info, layout, spec.schedule, checks);
    const cpuStart = { agent: 0, at: 0 };
    agent = await startAgentProcess(configFile, diagnostics);
    cpuStart.agent = cpuSeconds(agent.pid);
    cpuStart.at = Date.now();
    log(`${spec.name}: agent pid ${agent.pid} up at ${agent.metricsUrl}; initial round of ${jobs} checks`);

    // Initial round: every job is triggered at start-up, and a slot that comes while it is still queued or
    // running is skipped, so a job's first result is its start-up run.
    const startedAt = agent.startedAt;
    const initial = (record: CheckRecord): boolean => record.initial;
    const roundDone = await agent.until(jobs, initial, 30 * 60_000);
    const roundEnd = Date.now();
    const roundCpu = cpuSeconds(agent.pid) - cpuStart.agent;
    const round = agent.records.filter(initial);
    const roundSeconds = (Math.max(...round.map((r) => r.end)) - startedAt) / 1000;
    log(`${spec.name}: initial round ${roundDone ? 'done' : 'INCOMPLETE'}: ${round.length} checks in ${roundSeconds.toFixed(1)} s`);

    // One whole scheduled interval that starts after the initial round has drained.
    const windowStart = nextBoundary(roundEnd + 1000, spec.intervalSeconds);
    const windowEnd = windowStart + spec.intervalSeconds * 1000;
    log(`${spec.name}: measuring the interval ${new Date(windowStart).toISOString()} .. ${new Date(windowEnd).toISOString()}`);
    await sleep(windowStart - Date.now());
    // The snapshot stops the agent for seconds and its memory stays counted: that case's figures are for reading the snapshot only.
    if (diagnostics.heapSnapshotDir) agent.child.kill('SIGUSR2');
    const cpuAtStart = cpuSeconds(agent.pid);
    const emulatorAtStart = cpuSeconds(servers.child.pid!);
    const scrapes: Scrape[] = [];
    for (let k = 1; k < SCRAPES_PER_WINDOW; k++) {
      await sleep(windowStart + (k * spec.intervalSeconds * 1000) / SCRAPES_PER_WINDOW - Date.now());
      const { text: _text, ...figures } = await scrape(agent.metricsUrl);
      scrapes.push(figures);
    }
    await sleep(windowEnd - Date.now());
    const cpuWindow = cpuSeconds(agent.pid) - cpuAtStart;
    const emulatorWindow = cpuSeconds(servers.child.pid!) - emulatorAtStart;
    const inWindow = (record: CheckRecord): boolean => !record.initial && record.slot >= windowStart && record.slot < windowEnd;
    // Checks due in the window may still run a moment past its end; wait for them (bounded by the check deadline).
    await agent.until(jobs, inWindow, 35_000);
    const due = agent.records.filter(inWindow);
    const completedInWindow = agent.records.filter((record) => record.end >= windowStart && record.end < windowEnd).length;
    const lateness = due.map((record) => record.lateness).sort((a, b) => a - b);

    const final = await scrape(agent.metricsUrl);
    scrapes.push({ ms: final.ms, bytes: final.bytes, gzipMs: final.gzipMs, gzipBytes: final.gzipBytes });
    const perTenant = tokenRequestsPerTenant(final.text ?? '');
    const emulator = await servers.stats();
    const peak = peakRssBytes(agent.pid);
    const runSeconds = (Date.now() - startedAt) / 1000;

    return {
      name: spec.name,
      monitors: spec.monitors,
      tenants: spec.tenants,
      schedule: spec.schedule,
      intervalSeconds: spec.intervalSeconds,
      jobs,
      initialRound: {
        seconds: roundSeconds,
        checks: round.length,
        failures: round.filter((record) => !record.ok).length,
        checksPerSecond: round.length / roundSeconds,
        cpuSecondsPerCheck: roundCpu / round.length,
        meanCheckSeconds: mean(round.map((record) => record.duration)),
      },
      interval: {
        expected: jobs,
        checks: due.length,
        failures: due.filter((record) => !record.ok).length,
        skipped: agent.skipped,
        checksPerSecond: completedInWindow / spec.intervalSeconds,
        latenessP50Seconds: percentile(lateness, 50),
        latenessP99Seconds: percentile(lateness, 99),
        latenessMaxSeconds: lateness.at(-1) ?? NaN,
        cpuSecondsPerCheck: cpuWindow / completedInWindow,
        meanCheckSeconds: mean(due.map((record) => record.duration)),
        emulatorCpuSecondsPerCheck: emulatorWindow / completedInWindow,
      },
      peakRssBytes: peak,
      memoryAtEnd: {
        residentBytes: gauge(final.text ?? '', 'process_resident_memory_bytes'),
        heapUsedBytes: gauge(final.text ?? '', 'nodejs_heap_size_used_bytes'),
        heapTotalBytes: gauge(final.text ?? '', 'nodejs_heap_size_total_bytes'),
        externalBytes: gauge(final.text ?? '', 'nodejs_external_memory_bytes'),
      },
      scrapes,
      exposition: {
        bytes: gauge(final.text ?? '', 'mailprobe_exposition_bytes'),
        samples: gauge(final.text ?? '', 'mailprobe_exposition_samples'),
        renderSeconds: gauge(final.text ?? '', 'mailprobe_exposition_render_seconds'),
      },
      tokenRequests: {
        emulatorTotal: emulator.tokenRequests,
        perTenantMax: Math.max(...perTenant.values()),
        perTenantMin: Math.min(...perTenant.values()),
        tenantsSeen: perTenant.size,
        // The emulator's tokens live an hour: one request per app and token resource (the checks' descriptors)
        // per started hour of the run.
        allowedPerApp: Math.ceil(runSeconds / 3600) * resourcesOf(checks),
      },
      errors: agent.errors,
    };
  } finally {
    if (agent) await stopChild(agent.child, 45_000);
    if (servers) await stopChild(servers.child, 10_000, 'stdin');
    removeTempDir(dir);
  }
}

async function runBaselineCase(checks: number): Promise<BaselineResult & { concurrency: number }> {
  const dir = tempDir('baseline');
  const layout = { tenants: 1, monitors: 1000 };
  let servers: Servers | undefined;
  try {
    servers = await startServers(dir, layout);
    const request: BaselineRequest = { servers: servers.info, layout, checks, concurrency: CONCURRENCY };
    const child = spawnTracked(process.execPath, [join(DIST, 'baseline.js'), JSON.stringify(request)]);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    if (code !== 0) throw new Error(`baseline client exited with ${code ?? 'a signal'}`);
    return { ...(JSON.parse(out) as BaselineResult), concurrency: CONCURRENCY };
  } finally {
    if (servers) await stopChild(servers.child, 10_000, 'stdin');
    removeTempDir(dir);
  }
}

// ---------------------------------------------------------------- report

const ms = (seconds: number): string => (Number.isFinite(seconds) ? `${(seconds * 1000).toFixed(2)} ms` : 'n/a');
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a');
const verdict = (ok: boolean): 'PASS' | 'MISS' => (ok ? 'PASS' : 'MISS');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

interface Report {
  date: string;
  machine: { cpus: number; node: string };
  concurrency: number;
  quick: boolean;
  baseline?: BaselineResult & { concurrency: number };
  cases: (CaseResult & { ratios?: { cpuInterval: number; cpuInitialRound: number; wallInitialRound: number } })[];
  targets: { name: string; value: string; target: string; verdict: 'PASS' | 'MISS' }[];
}

/** Prometheus asks for gzip, a person with curl does not: the slower of the two counts. */
function slowestScrape(scrapes: readonly Scrape[]): number {
  return Math.max(...scrapes.flatMap((s) => [s.ms, s.gzipMs]));
}

function render(report: Report): string {
  const out: string[] = [];
  const base = report.baseline;
  if (base) {
    out.push(
      `Baseline (raw node:tls/net XOAUTH2 client, ${base.checks} checks imap+smtp, concurrency ${base.concurrency}): ` +
        `${ms(base.cpuSeconds / base.checks)} CPU/check, ${ms(base.meanCheckSeconds)} per check, ${(base.checks / base.wallSeconds).toFixed(0)} checks/s, ${base.failures} failures`,
      '',
    );
  }
  if (report.cases.length === 0) return out.join('\n');
  const header = [
    'case',
    'interval',
    'checks/s',
    'late p50',
    'late p99',
    'CPU/check',
    'vs base',
    'check wall',
    'vs base',
    'peak RSS',
    'scrape max',
    'size (gzip)',
    'samples',
    'render',
    'tokens/tenant',
    'done/due',
    'fail',
    'skips (run)',
  ];
  const rows = [header];
  for (const c of report.cases) {
    const maxScrape = slowestScrape(c.scrapes);
    const last = c.scrapes.at(-1);
    rows.push([
      c.name,
      `${c.intervalSeconds}s`,
      c.interval.checksPerSecond.toFixed(1),
      `${c.interval.latenessP50Seconds.toFixed(3)}s`,
      `${c.interval.latenessP99Seconds.toFixed(3)}s`,
      ms(c.interval.cpuSecondsPerCheck),
      ratio(c.ratios?.cpuInterval ?? NaN),
      ms(c.interval.meanCheckSeconds),
      ratio(base ? c.interval.meanCheckSeconds / base.meanCheckSeconds : NaN),
      mb(c.peakRssBytes),
      `${maxScrape.toFixed(0)} ms`,
      last ? `${mb(last.bytes)} (${mb(last.gzipBytes)})` : 'n/a',
      String(c.exposition.samples),
      ms(c.exposition.renderSeconds),
      `${c.tokenRequests.perTenantMin}..${c.tokenRequests.perTenantMax}`,
      `${c.interval.checks}/${c.interval.expected}`,
      String(c.interval.failures),
      String(c.interval.skipped),
    ]);
  }
  out.push('Scheduled interval (after the initial round):', table(rows), '');
  const roundRows = [['case', 'checks', 'seconds', 'checks/s', 'CPU/check', 'vs base', 'check wall', 'vs base', 'fail']];
  for (const c of report.cases) {
    const r = c.initialRound;
    roundRows.push([
      c.name,
      String(r.checks),
      r.seconds.toFixed(1),
      r.checksPerSecond.toFixed(1),
      ms(r.cpuSecondsPerCheck),
      ratio(c.ratios?.cpuInitialRound ?? NaN),
      ms(r.meanCheckSeconds),
      ratio(c.ratios?.wallInitialRound ?? NaN),
      String(r.failures),
    ]);
  }
  out.push(`Initial round (all checks at start-up, saturated at concurrency ${report.concurrency}):`, table(roundRows), '');
  if (report.targets.length > 0) {
    out.push('Targets:', table([['target', 'measured', 'goal', ''], ...report.targets.map((t) => [t.name, t.value, t.target, t.verdict])]));
  }
  return out.join('\n');
}

function targetsOf(report: Report): Report['targets'] {
  const targets: Report['targets'] = [];
  const big = report.cases.filter((c) => c.monitors === 10000);
  for (const c of big) {
    const maxScrape = slowestScrape(c.scrapes);
    targets.push(
      {
        name: `${c.name} p99 lateness`,
        value: `${c.interval.latenessP99Seconds.toFixed(3)} s`,
        target: '<= 5 s',
        verdict: verdict(c.interval.latenessP99Seconds <= TARGETS.latenessP99Seconds && c.interval.checks === c.interval.expected),
      },
      { name: `${c.name} peak RSS`, value: mb(c.peakRssBytes), target: '< 300 MB', verdict: verdict(c.peakRssBytes < TARGETS.peakRssBytes) },
      {
        name: `${c.name} /metrics scrape (slowest of plain and gzip)`,
        value: `${maxScrape.toFixed(0)} ms (plain ${Math.max(...c.scrapes.map((s) => s.ms)).toFixed(0)}, gzip ${Math.max(...c.scrapes.map((s) => s.gzipMs)).toFixed(0)})`,
        target: '< 250 ms',
        verdict: verdict(maxScrape < TARGETS.scrapeMs),
      },
      {
        name: `${c.name} exposition per check`,
        value: `${((c.scrapes.at(-1)?.bytes ?? NaN) / c.jobs).toFixed(0)} B`,
        target: '<= 700 B',
        verdict: verdict((c.scrapes.at(-1)?.bytes ?? Infinity) / c.jobs <= TARGETS.expositionBytesPerCheck),
      },
    );
  }
  for (const c of report.cases) {
    targets.push({
      name: `${c.name} token requests per app`,
      value: `max ${c.tokenRequests.perTenantMax} (${c.tokenRequests.tenantsSeen} apps, ${c.tokenRequests.emulatorTotal} at the emulator)`,
      target: `<= ${c.tokenRequests.allowedPerApp}`,
      verdict: verdict(
        c.tokenRequests.perTenantMax <= c.tokenRequests.allowedPerApp && c.tokenRequests.emulatorTotal <= c.tenants * c.tokenRequests.allowedPerApp,
      ),
    });
  }
  for (const c of report.cases) {
    if (!c.ratios || c.monitors < 1000) continue;
    targets.push(
      {
        name: `${c.name} CPU/check vs baseline, interval`,
        value: ratio(c.ratios.cpuInterval),
        target: '<= 2.00x',
        verdict: verdict(c.ratios.cpuInterval <= TARGETS.cpuRatio),
      },
      {
        name: `${c.name} CPU/check vs baseline, initial round`,
        value: ratio(c.ratios.cpuInitialRound),
        target: '<= 2.00x',
        verdict: verdict(c.ratios.cpuInitialRound <= TARGETS.cpuRatio),
      },
    );
  }
  return targets;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'heap-snapshot': { type: 'string' },
      'baseline-checks': { type: 'string' },
    },
  });
  const quick = values.quick === true || process.env.BENCH_QUICK === '1';
  const only = values.only?.split(',').map((name) => name.trim());
  const selected = cases(quick).filter((spec) => !only || only.includes(spec.name));
  const wantBaseline = !only || only.includes('baseline') || selected.length > 0;
  if (only && selected.length === 0 && !only.includes('baseline')) {
    throw new Error(
      `--only ${values.only ?? ''}: no such case; cases are baseline, ${cases(false)
        .map((spec) => spec.name)
        .join(', ')}`,
    );
  }
  const diagnostics: Diagnostics = {
    ...(values['cpu-prof'] ? { cpuProfDir: resolve(values['cpu-prof']) } : {}),
    ...(values['heap-snapshot'] ? { heapSnapshotDir: resolve(values['heap-snapshot']) } : {}),
  };

  const report: Report = {
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), node: process.version },
    concurrency: CONCURRENCY,
    quick,
    cases: [],
    targets: [],
  };
  if (wantBaseline) {
    const checks = Number(values['baseline-checks'] ?? (quick ? 500 : 2000));
    log(`baseline: ${checks} checks at concurrency ${CONCURRENCY}`);
    report.baseline = await runBaselineCase(checks);
  }
  for (const spec of selected) {
    log(`${spec.name}: ${spec.monitors} monitors on ${spec.tenants} tenant(s), ${spec.schedule}`);
    const result = await runCase(spec, diagnostics);
    const base = report.baseline;
    const perCheck = base ? base.cpuSeconds / base.checks : NaN;
    report.cases.push({
      ...result,
      // The baseline client speaks IMAP and SMTP only: a case with other checks is not compared with it.
      ...(base && !spec.checks
        ? {
            ratios: {
              cpuInterval: result.interval.cpuSecondsPerCheck / perCheck,
              cpuInitialRound: result.initialRound.cpuSecondsPerCheck / perCheck,
              wallInitialRound: result.initialRound.meanCheckSeconds / base.meanCheckSeconds,
            },
          }
        : {}),
    });
    process.stdout.write(`\n${render({ ...report, targets: [] })}\n\n`);
  }
  report.targets = targetsOf(report);
  process.stdout.write(`\n${render(report)}\n`);
  const results = join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(results, 'latest.json'), json);
  if (!quick && !only) writeFileSync(join(results, `${report.date.slice(0, 10)}.json`), json);
  log(`figures written to bench/results/latest.json${!quick && !only ? ` and bench/results/${report.date.slice(0, 10)}.json` : ''}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}
process.once('exit', killAllChildren);

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  killAllChildren();
  process.exit(1);
});
