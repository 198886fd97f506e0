import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RULE_FILES, repoPath } from './promtool.js';
import { spawnDaemon, tails, waitReady, withPortRetry, type Daemon } from './testbed/daemon.js';
import { pickPorts } from './testbed/ports.js';

// Private Prometheus and Alertmanager processes from Debian's packages (prometheus, prometheus-alertmanager),
// each in its own temporary directory, on a random loopback port, with second-scale intervals. Configs are
// written as JSON, which both read as YAML, so no value needs YAML quoting.

export const BINARIES = {
  prometheus: '/usr/bin/prometheus',
  alertmanager: '/usr/bin/prometheus-alertmanager',
} as const;

const START_TIMEOUT_MS = 20_000;
const PORT_ATTEMPTS = 5;
const HTTP_TIMEOUT_MS = 5000;
const POLL_MS = 250;

/** Throws a message that says how to get the binary when it is missing; never skips. */
function requireBinary(file: string, pkg: string): string {
  try {
    accessSync(file, constants.X_OK);
    return file;
  } catch {
    throw new Error(`${file} not found: the alerting end-to-end tests need Debian's ${pkg} package (bash .ci/install-packages.sh, as root)`);
  }
}

/** One sample of an instant query; a scalar result comes back as one sample without labels. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export class PrometheusQueryError extends Error {
  constructor(
    readonly expr: string,
    readonly detail: string,
  ) {
    super(`query failed: ${detail}\n${expr}`);
    this.name = 'PrometheusQueryError';
  }
}

export interface Prometheus {
  url: string;
  dir: string;
  /** Instant query through /api/v1/query; rejects with PrometheusQueryError when Prometheus refuses it. */
  query(expr: string): Promise<PromSample[]>;
  /** Alerts Prometheus itself holds (pending or firing), from /api/v1/alerts. */
  alerts(): Promise<Array<{ labels: Record<string, string>; state: string }>>;
  /** Polls until check() returns a value; on timeout the error carries the reason and Prometheus' log tail. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port of each mailprobe agent, scraped as job "mailprobe". */
  targets: string[];
  /** Absolute paths of rule files to load. */
  ruleFiles?: string[];
  /** host:port of an Alertmanager to send alerts to. */
  alertmanager?: string;
  /** Scrape and rule evaluation interval; default 1. */
  intervalSeconds?: number;
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
  startsAt: string;
  endsAt: string;
}

export interface Alertmanager {
  url: string;
  /** host:port, for Prometheus' alerting section. */
  address: string;
  dir: string;
  /** Active alerts (not resolved), from GET /api/v2/alerts. */
  alerts(): Promise<AlertmanagerAlert[]>;
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface AlertmanagerOptions {
  /** Every alert goes to this webhook (resolved ones too); without it, to a receiver that sends nothing. */
  webhookUrl?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringRecord(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`GET ${url}: HTTP ${response.status}, not JSON: ${text.slice(0, 300)}`);
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

function poller(name: string, logFile: string) {
  return async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const value = await check();
        if (value !== undefined) return value;
        last = '';
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() > deadline) {
        throw new Error(`${name}: timed out after ${timeoutMs} ms waiting for ${what}${last ? `\nlast error: ${last}` : ''}\n${await tails([logFile], 30)}`);
      }
      await sleep(POLL_MS);
    }
  };
}

/** Starts `binary` with the flags `args(port)` gives, retrying with a fresh port when the one picked was taken. */
async function startDaemon(
  name: string,
  binary: string,
  dir: string,
  args: (port: number) => string[],
): Promise<{ daemon: Daemon; port: number; logFile: string }> {
  const logFile = path.join(dir, `${name}.log`);
  return withPortRetry(PORT_ATTEMPTS, async () => {
    const [port] = (await pickPorts(1)) as [number];
    const daemon = spawnDaemon(name, binary, args(port), logFile);
    try {
      await waitReady(daemon, () => isReady(`http://127.0.0.1:${port}`), { timeoutMs: START_TIMEOUT_MS, logFiles: [logFile] });
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    return { daemon, port, logFile };
  });
}

/** Stops the process, then removes its directory unless MAILPROBE_PROMETHEUS_KEEP=1 asks to keep it for a look. */
function stopper(daemon: Daemon, dir: string): () => Promise<void> {
  return async () => {
    await daemon.stop();
    if (process.env.MAILPROBE_PROMETHEUS_KEEP !== '1') await rm(dir, { recursive: true, force: true });
  };
}

export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const binary = requireBinary(BINARIES.prometheus, 'prometheus');
  const interval = `${options.intervalSeconds ?? 1}s`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailprobe-prometheus-'));
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    ...(options.alertmanager
      ? { alerting: { alertmanagers: [{ api_version: 'v2', timeout: '2s', static_configs: [{ targets: [options.alertmanager] }] }] } }
      : {}),
    scrape_configs: [{ job_name: 'mailprobe', static_configs: [{ targets: options.targets }] }],
  };
  const configFile = path.join(dir, 'prometheus.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const { daemon, port, logFile } = await startDaemon('prometheus', binary, dir, (port) => [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Firing alerts are re-sent this often; the default minute would hide an Alertmanager that came up late.
    '--rules.alert.resend-delay=1s',
    '--log.level=info',
  ]).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const url = `http://127.0.0.1:${port}`;

  const api = async (apiPath: string, expr?: string): Promise<unknown> => {
    const body = await getJson(`${url}${apiPath}`);
    if (!isRecord(body) || body.status !== 'success') {
      const detail = isRecord(body) ? `${String(body.errorType)}: ${String(body.error)}` : 'unexpected answer';
      throw new PrometheusQueryError(expr ?? apiPath, detail);
    }
    return body.data;
  };

  return {
    url,
    dir,
    async query(expr) {
      const data = await api(`/api/v1/query?query=${encodeURIComponent(expr)}`, expr);
      if (!isRecord(data)) throw new PrometheusQueryError(expr, 'no data in the answer');
      if (data.resultType === 'scalar' && Array.isArray(data.result)) return [{ metric: {}, value: Number(data.result[1]) }];
      if (data.resultType !== 'vector' || !Array.isArray(data.result)) {
        throw new PrometheusQueryError(expr, `result type ${String(data.resultType)}, expected vector`);
      }
      return data.result.filter(isRecord).map((sample) => ({
        metric: stringRecord(sample.metric),
        value: Array.isArray(sample.value) ? Number(sample.value[1]) : Number.NaN,
      }));
    },
    async alerts() {
      const data = await api('/api/v1/alerts');
      const list = isRecord(data) && Array.isArray(data.alerts) ? data.alerts : [];
      return list.filter(isRecord).map((alert) => ({ labels: stringRecord(alert.labels), state: String(alert.state) }));
    },
    waitFor: poller('prometheus', logFile),
    logTail: (lines = 30) => tails([logFile], lines),
    stop: stopper(daemon, dir),
  };
}

export async function startAlertmanager(options: AlertmanagerOptions = {}): Promise<Alertmanager> {
  const binary = requireBinary(BINARIES.alertmanager, 'prometheus-alertmanager');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailprobe-alertmanager-'));
  const receiver = options.webhookUrl ? { name: 'sink', webhook_configs: [{ url: options.webhookUrl, send_resolved: true, max_alerts: 0 }] } : { name: 'sink' };
  const config = {
    // One group per alert ('...'), flushed within a second of any change, so notifications are per alert and fast.
    route: { receiver: 'sink', group_by: ['...'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
    receivers: [receiver],
  };
  const configFile = path.join(dir, 'alertmanager.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  await mkdir(path.join(dir, 'data'));
  const { daemon, port, logFile } = await startDaemon('alertmanager', binary, dir, (port) => [
    `--config.file=${configFile}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Clustering would listen on 0.0.0.0:9094 and gossip; a single private instance needs none of it.
    '--cluster.listen-address=',
    '--log.level=info',
  ]).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    address: `127.0.0.1:${port}`,
    dir,
    async alerts() {
      const body = await getJson(`${url}/api/v2/alerts`);
      if (!Array.isArray(body)) throw new Error(`alertmanager: GET /api/v2/alerts answered ${JSON.stringify(body).slice(0, 300)}`);
      return body.filter(isRecord).map((alert) => ({
        labels: stringRecord(alert.labels),
        annotations: stringRecord(alert.annotations),
        state: isRecord(alert.status) ? String(alert.status.state) : '',
        startsAt: String(alert.startsAt),
        endsAt: String(alert.endsAt),
      }));
    },
    waitFor: poller('alertmanager', logFile),
    logTail: (lines = 30) => tails([logFile], lines),
    stop: stopper(daemon, dir),
  };
}

export interface TestRuleOptions {
  /** Replaces every alert's `for:`, e.g. '2s'; kept as shipped when absent. */
  forDuration?: string;
}

/**
 * Copies of the shipped rule files for a test Prometheus, in `dir`. Two rewrites, nothing else: a group's own
 * `interval:` line is dropped so the group runs at the global evaluation interval (a 5m group would first run
 * minutes after start), and every alert's `for:` becomes `forDuration` when one is given. Expressions, windows
 * ([1h], [30d]) and thresholds stay as shipped.
 */
export async function writeTestRuleFiles(dir: string, options: TestRuleOptions = {}): Promise<string[]> {
  return Promise.all(
    RULE_FILES.map(async (relative) => {
      const text = await readFile(repoPath(relative), 'utf8');
      const ungrouped = text.replace(/^[ \t]+interval:[ \t]*\S+[ \t]*\n/gm, '');
      const rewritten = options.forDuration === undefined ? ungrouped : ungrouped.replace(/^([ \t]+)for:[ \t]*\S+[ \t]*$/gm, `$1for: ${options.forDuration}`);
      const file = path.join(dir, path.basename(relative));
      await writeFile(file, rewritten);
      return file;
    }),
  );
}
