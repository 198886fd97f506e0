import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createPki } from '../src/sandbox/certs.js';
import { startEntra } from '../src/sandbox/entra.js';
import { startExchange } from '../src/sandbox/exchange.js';
import { defaultFaults, defaultSecretValue, SandboxModel } from '../src/sandbox/model.js';
import { startPostgres, type PrivatePostgres } from '../test/support/postgres.js';

// `npm run soak [-- --minutes N]`: the agent as its own process against the Entra ID and Exchange Online
// emulators for a bounded time, with faults rotating (hangs, resets, throttling, tokens without their roles),
// the configuration replaced by rename every few seconds, and scrapes in parallel. It reports the agent's RSS and
// open file descriptors over time as a slope, unhandled rejections, and every check that ran past its deadline.
// Figures, not assertions: targets are printed PASS/MISS and the exit code is 0 unless the agent died.
// --store-outage: the history goes to a private PostgreSQL that is stopped from 25 % to 50 % of the run (a database
// outage), then started again; the run prints what the recorder wrote, kept pending and dropped (its counters).

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    monitors: { type: 'string', default: '40' },
    'reload-seconds': { type: 'string', default: '5' },
    'fault-seconds': { type: 'string', default: '15' },
    'store-outage': { type: 'boolean', default: false },
  },
});
const STORE_OUTAGE = values['store-outage'];
const MINUTES = Number(values.minutes);
const MONITORS = Number(values.monitors);
const RELOAD_MS = Number(values['reload-seconds']) * 1000;
const FAULT_MS = Number(values['fault-seconds']) * 1000;
const SAMPLE_MS = 5_000;
// Early samples include module loading and the first TLS contexts; the slope is taken after them.
const WARMUP_MS = 30_000;
const TIMEOUT_SECONDS = 8;
const ROUNDTRIP_DEADLINE_SECONDS = 10;
// Teardown after an abort (closing sockets, the last log line) may add a little; more than this is an overrun.
const DEADLINE_GRACE_SECONDS = 0.5;
const TARGETS = { rssSlopeMbPerMin: 1, fdSlopePerMin: 1 } as const;

let soakRejections = 0;
process.on('unhandledRejection', (reason) => {
  soakRejections += 1;
  console.error('soak harness: unhandled rejection', reason);
});

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  return typeof address === 'object' && address ? address.port : 0;
}

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
const loadAtStart = load();
const pki = await createPki();
const domain = 'contoso.onmicrosoft.com';
const model = SandboxModel.fromSpec([{ domain, mailboxes: Array.from({ length: MONITORS }, (_, i) => ({ address: `probe${i}@${domain}` })) }]);
// msal renews 300 s before expiry: tokens are then fetched again every 5 s, so role changes show within the fault.
model.tokenLifetimeSeconds = 305;
const entra = await startEntra({ model, tls: pki.server });
const exchange = await startExchange({ model, tls: pki.server });
const tenant = model.tenants()[0]!;
const clientId = [...tenant.apps.keys()][0]!;

const dir = mkdtempSync(join(tmpdir(), 'mailprobe-soak-'));
writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
writeFileSync(join(dir, 'client.secret'), defaultSecretValue(clientId), { mode: 0o600 });
const file = join(dir, 'monitors.json');
const postgres: PrivatePostgres | undefined = STORE_OUTAGE ? await startPostgres() : undefined;
if (postgres) writeFileSync(join(dir, 'pg.url'), await postgres.createDatabase('soak'), { mode: 0o600 });

function config(generation: number): string {
  // Every reload changes something real: one monitor in turn comes and goes, the others stay.
  const monitors = Array.from({ length: MONITORS }, (_, i) => ({
    name: `soak-${i}`,
    tenant: 'soak',
    mailbox: `probe${i}@${domain}`,
    checks: i % 4 === 0 ? ['imap', 'pop3', 'smtp', 'roundtrip'] : ['imap', 'pop3', 'smtp'],
    schedule: '*/5 * * * * *',
  })).filter((_, i) => i !== generation % MONITORS);
  return JSON.stringify({
    agent: { concurrency: 32, stateDir: 'state' },
    ...(postgres ? { history: { backend: 'postgres', postgresUrl: { file: 'pg.url' }, flushSeconds: 5 } } : {}),
    defaults: {
      timeoutSeconds: TIMEOUT_SECONDS,
      stepTimeoutSeconds: 3,
      tls: { caFile: 'ca.pem' },
      imap: exchange.imap,
      pop3: exchange.pop3,
      smtp: exchange.smtp,
      roundtrip: { deadlineSeconds: ROUNDTRIP_DEADLINE_SECONDS, pollSeconds: 0.5 },
      sendBudget: { perMinute: 30, perDay: 10000 },
    },
    tenants: {
      soak: { tenantId: tenant.tenantId, clientId, credential: { type: 'secret', secret: { file: 'client.secret' } }, authorityHost: entra.authorityHost },
    },
    monitors,
  });
}
writeFileSync(file, config(0));

const port = await freePort();
const agent = spawn(process.execPath, [resolve('bin/mailprobe.js'), 'run', '--config', file, '--listen', `127.0.0.1:${port}`, '--log-format', 'json'], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { PATH: process.env.PATH },
});
const pid = agent.pid!;
let exited: number | null | undefined;
agent.once('exit', (code) => (exited = code));

interface Finished {
  check: string;
  ok: boolean;
  durationSeconds: number;
  reason?: string;
}
const finished: Finished[] = [];
const agentErrors: string[] = [];
let buffered = '';
const onOutput = (chunk: Buffer): void => {
  buffered += chunk.toString('utf8');
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const line of lines) {
    if (/Unhandled|unhandledRejection|uncaught/i.test(line)) agentErrors.push(line);
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { message?: string; check?: string; result?: string; durationSeconds?: number; reason?: string };
      if ((entry.message === 'check passed' || entry.message === 'check failed') && entry.check && typeof entry.durationSeconds === 'number') {
        finished.push({
          check: entry.check,
          ok: entry.result === 'success',
          durationSeconds: entry.durationSeconds,
          ...(entry.reason ? { reason: entry.reason } : {}),
        });
      }
    } catch {
      // A line that is not one of the agent's JSON log lines.
    }
  }
};
agent.stdout.on('data', onOutput);
agent.stderr.on('data', onOutput);

const url = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
  const ready = await fetch(`${url}/readyz`)
    .then((r) => r.ok)
    .catch(() => false);
  if (ready) break;
  await sleep(200);
}

interface Sample {
  atMs: number;
  rssMb: number;
  fds: number;
}
const samples: Sample[] = [];
const started = Date.now();
const sample = (): void => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    samples.push({ atMs: Date.now() - started, rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length });
  } catch {
    // The agent is gone; the exit code says so.
  }
};

// Faults in turn, each for FAULT_MS, then a quiet phase: every kind of trouble a real tenant has.
const roles = ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp'];
const FAULTS: Array<{ name: string; on: () => void }> = [
  { name: 'none', on: () => undefined },
  { name: 'imap hang', on: () => (model.faults.hang.imap = true) },
  { name: 'pop3 and smtp reset', on: () => Object.assign(model.faults.reset, { pop3: true, smtp: true }) },
  { name: 'imap throttled', on: () => (model.faults.imapThrottleMs = 2000) },
  { name: 'smtp throttled', on: () => (model.faults.smtpThrottle = true) },
  { name: 'token endpoint throttled', on: () => (model.faults.tokenThrottleSeconds = 3) },
  { name: 'tokens without mail roles', on: () => model.setRoles(tenant.tenantId, clientId, []) },
  { name: 'smtp hang', on: () => (model.faults.hang.smtp = true) },
  { name: 'token endpoint hangs', on: () => (model.faults.tokenHang = true) },
];
const clearFaults = (): void => {
  Object.assign(model.faults, defaultFaults());
  model.setRoles(tenant.tenantId, clientId, roles);
};
const faultLog: string[] = [];
let faultIndex = 0;
const faultTimer = setInterval(() => {
  clearFaults();
  faultIndex = (faultIndex + 1) % FAULTS.length;
  FAULTS[faultIndex]!.on();
  faultLog.push(FAULTS[faultIndex]!.name);
}, FAULT_MS);

let generation = 0;
let reloads = 0;
const reloadTimer = setInterval(() => {
  generation += 1;
  // As an editor saves: a new file renamed over the old one.
  writeFileSync(`${file}.tmp`, config(generation));
  renameSync(`${file}.tmp`, file);
  reloads += 1;
}, RELOAD_MS);

let scrapes = 0;
let scrapeFailures = 0;
const scrapeTimer = setInterval(() => {
  for (const path of ['/metrics', '/metrics', '/api/status', '/api/status', '/readyz', '/healthz']) {
    fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) })
      .then(async (response) => {
        await response.arrayBuffer();
        scrapes += 1;
        if (!response.ok && response.status !== 503) scrapeFailures += 1;
      })
      .catch(() => (scrapeFailures += 1));
  }
}, 1_000);

const outage = { from: 0.25 * MINUTES * 60_000, to: 0.5 * MINUTES * 60_000, log: [] as string[] };
const outageTimers = postgres
  ? [
      setTimeout(() => void postgres.stopServer().then(() => outage.log.push(`stopped at ${Math.round(outage.from / 1000)} s`)), outage.from),
      setTimeout(() => void postgres.startServer().then(() => outage.log.push(`started at ${Math.round(outage.to / 1000)} s`)), outage.to),
    ]
  : [];

sample();
const sampleTimer = setInterval(sample, SAMPLE_MS);
await new Promise<void>((done) => {
  const end = setTimeout(done, MINUTES * 60_000);
  agent.once('exit', () => {
    clearTimeout(end);
    done();
  });
});
clearInterval(faultTimer);
clearInterval(reloadTimer);
clearInterval(scrapeTimer);
clearInterval(sampleTimer);
for (const timer of outageTimers) clearTimeout(timer);
sample();
const loadAtEnd = load();
const historyFigures = postgres ? await historyCounters() : undefined;

/**
 * The recorder's counters from the agent's /metrics: written, dropped, pending, store up. The last scrape burst may
 * still hold the agent's heavy-request slots (503), so the read waits for them instead of printing nothing.
 */
async function historyCounters(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (let attempt = 1; attempt <= 10; attempt += 1) {
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    if (response?.ok === true) {
      const text = await response.text();
      for (const match of text.matchAll(/^(mailprobe_history_[a-z_]+)\{[^}]*\} (\S+)$/gm)) figures[match[1]!] = (figures[match[1]!] ?? 0) + Number(match[2]);
      return figures;
    }
    await response?.arrayBuffer();
    await new Promise((done) => setTimeout(done, 1_000));
  }
  return figures;
}

agent.kill('SIGTERM');
await new Promise((done) => (exited === undefined ? agent.once('exit', done) : done(undefined)));
await Promise.allSettled([entra.close(), exchange.close(), postgres?.close()]);
rmSync(dir, { recursive: true, force: true });

/** Least-squares slope of y over x, per minute. */
function slopePerMinute(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60_000;
}

const steady = samples.filter((s) => s.atMs >= WARMUP_MS);
const rssSlope = slopePerMinute(steady.map((s) => [s.atMs, s.rssMb]));
const fdSlope = slopePerMinute(steady.map((s) => [s.atMs, s.fds]));
// Heap growth to its working size can take minutes; the second half shows whether it levels off.
const lateHalf = samples.filter((s) => s.atMs >= (samples.at(-1)?.atMs ?? 0) / 2);
const lateRss = slopePerMinute(lateHalf.map((s) => [s.atMs, s.rssMb]));
// Hang faults hold sockets until their deadline; the fewest open fds in each third is the level between faults.
const thirds = [0, 1, 2].map((k) =>
  samples.filter((s) => s.atMs >= WARMUP_MS && Math.floor(((s.atMs - WARMUP_MS) * 3) / Math.max(1, (samples.at(-1)?.atMs ?? 1) - WARMUP_MS)) === k),
);
const fdFloors = thirds.map((part) => (part.length > 0 ? Math.min(...part.map((s) => s.fds)) : NaN));
const deadlineOf = (check: string): number => TIMEOUT_SECONDS + (check === 'roundtrip' ? ROUNDTRIP_DEADLINE_SECONDS : 0);
const overruns = finished.filter((f) => f.durationSeconds > deadlineOf(f.check) + DEADLINE_GRACE_SECONDS);
const maxRatio = finished.reduce((max, f) => Math.max(max, f.durationSeconds / deadlineOf(f.check)), 0);
const reasons = new Map<string, number>();
for (const f of finished) if (!f.ok) reasons.set(f.reason ?? 'unknown', (reasons.get(f.reason ?? 'unknown') ?? 0) + 1);
const mark = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
const first = steady[0];
const last = steady.at(-1);

console.log(`soak: ${MINUTES} min, ${MONITORS} monitors, agent pid ${pid}, load average at start ${loadAtStart}, at end ${loadAtEnd} (1/5/15 min)`);
console.log(
  `  checks finished          ${finished.length} (${finished.filter((f) => f.ok).length} passed, ${finished.length - finished.filter((f) => f.ok).length} failed under faults)`,
);
console.log(
  `  failure reasons          ${
    [...reasons]
      .sort((a, b) => b[1] - a[1])
      .map(([r, n]) => `${r} ${n}`)
      .join(', ') || 'none'
  }`,
);
console.log(`  faults rotated           ${faultLog.length} (${[...new Set(faultLog)].join(', ')}), every ${FAULT_MS / 1000} s`);
console.log(`  reloads (rename)         ${reloads}, every ${RELOAD_MS / 1000} s`);
console.log(`  scrapes                  ${scrapes} answered, ${scrapeFailures} failed`);
console.log(
  `  RSS after warm-up        ${first?.rssMb.toFixed(1)} -> ${last?.rssMb.toFixed(1)} MB, slope ${rssSlope.toFixed(2)} MB/min  ${mark(Math.abs(rssSlope) <= TARGETS.rssSlopeMbPerMin)} (|slope| <= ${TARGETS.rssSlopeMbPerMin})`,
);
console.log(
  `  open fds after warm-up   ${first?.fds} -> ${last?.fds}, slope ${fdSlope.toFixed(2)} /min  ${mark(Math.abs(fdSlope) <= TARGETS.fdSlopePerMin)} (|slope| <= ${TARGETS.fdSlopePerMin})`,
);
console.log(`  RSS slope, second half   ${lateRss.toFixed(2)} MB/min`);
console.log(`  fewest open fds by third ${fdFloors.join(', ')} (between faults)`);
console.log(`  unhandled rejections     agent ${agentErrors.length}, harness ${soakRejections}  ${mark(agentErrors.length === 0 && soakRejections === 0)}`);
console.log(`  checks past deadline     ${overruns.length} (longest ${(maxRatio * 100).toFixed(0)} % of its deadline)  ${mark(overruns.length === 0)}`);
console.log(`  agent exit               ${exited === 0 ? '0 after SIGTERM' : `${String(exited)}`}  ${mark(exited === 0)}`);
for (const line of agentErrors.slice(0, 5)) console.log(`    ${line.slice(0, 300)}`);
for (const overrun of overruns.slice(0, 5)) console.log(`    overrun: ${overrun.check} ${overrun.durationSeconds} s (${overrun.reason ?? 'ok'})`);
if (historyFigures) {
  console.log(`  history store outage     PostgreSQL ${outage.log.join(', ') || 'not stopped'}`);
  console.log(
    `  history rows             ${
      Object.entries(historyFigures)
        .map(([name, n]) => `${name.replace('mailprobe_history_', '')} ${n}`)
        .join(', ') || 'not read: /metrics did not answer 200 in 10 tries'
    }`,
  );
}
console.log(`  samples (s: MB, fds)     ${samples.map((s) => `${Math.round(s.atMs / 1000)}: ${s.rssMb.toFixed(0)}, ${s.fds}`).join(' | ')}`);
process.exitCode = exited === 0 ? 0 : 1;
