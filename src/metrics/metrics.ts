import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { reasonCategory, type ReasonCategory, type ReasonCode } from '../diagnose/reasons.js';
import type { Stage } from '../probes/types.js';
import type { CheckIdentity, CheckResult } from '../runner/result.js';

export type SkipReason = 'overlap' | 'concurrency' | 'backoff' | 'budget';
export type CredentialType = 'client_secret' | 'certificate';
const RESULTS = ['success', 'failure'] as const;
export type TokenRequestResult = (typeof RESULTS)[number];

// Roles a mail check needs. Losing one must stay visible as 0 (an alert can fire on it); any other role is
// just dropped when the token no longer carries it, so foreign roles cannot grow the series count.
export const KNOWN_ROLES: readonly string[] = ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp'];

// Runs take from tens of milliseconds (a cached token and one IMAP login) to the one-minute check deadline.
// Few buckets on purpose: this histogram is per check, so each bucket is 20,000 more samples at 10,000 monitors.
const CHECK_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
// Exchange usually delivers within seconds; the tail up to the delivery timeout is what alerts care about.
const DELIVERY_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600];

interface HistogramState {
  /** Non-cumulative counts per bucket, plus one trailing slot for +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

interface FailureSeries {
  stage: Stage;
  reason: ReasonCode;
  category: ReasonCategory;
}

// Everything exported for one check. Its exposition text is rendered when it changes, not on scrape:
// 20,000 checks are about 500,000 samples, and prom-client re-serialising each of them took seconds.
interface CheckSeries {
  /** `monitor="…",tenant="…",mailbox="…",check="…"`, escaped once. */
  labels: string;
  success?: number;
  duration: HistogramState;
  steps: Map<Stage, number>;
  runs: Record<TokenRequestResult, number>;
  failures: Map<ReasonCode, number>;
  currentFailure?: FailureSeries;
  consecutiveFailures: number;
  lastSuccess?: number;
  lastRun?: number;
  interval?: number;
  skipped: Map<SkipReason, number>;
  /**
   * All of the check's samples in one exactly-sized buffer, family after family; `offsets[i]` is where
   * CHECK_FAMILIES[i] starts. One unpooled buffer per check, because pooled small Buffers pin whole 8 KB slabs
   * and concatenated strings stay as rope trees — either doubled resident memory at 10,000 monitors.
   */
  rendered: Buffer;
  offsets: number[];
}

interface DeliverySeries {
  labels: string;
  latency: HistogramState;
  /** The check that records it, so forgetting that check drops it. */
  owner: string;
  rendered: string;
}

interface Family<T> {
  name: string;
  type: 'gauge' | 'counter' | 'histogram';
  help: string;
  render(series: T, name: string): string;
}

// The per-check metric families, in exposition order. Names are a contract with the alert rules and
// dashboards: never rename one.
const CHECK_FAMILIES: ReadonlyArray<Family<CheckSeries>> = [
  {
    name: 'mailprobe_check_success',
    type: 'gauge',
    help: 'Whether the latest run of the check succeeded (1) or failed (0).',
    render: (s, name) => optionalSample(name, s.labels, s.success),
  },
  {
    name: 'mailprobe_check_duration_seconds',
    type: 'histogram',
    help: 'Wall time of a whole check run, token through logout.',
    render: (s, name) => histogramSamples(name, s.labels, CHECK_DURATION_BUCKETS, s.duration),
  },
  {
    name: 'mailprobe_check_step_duration_seconds',
    type: 'gauge',
    help: 'Time the latest run spent in each step; steps the latest run did not reach are absent.',
    render: (s, name) => mapSamples(name, s.labels, 'step', s.steps),
  },
  {
    name: 'mailprobe_checks_total',
    type: 'counter',
    help: 'Check runs by result (success or failure).',
    render: (s, name) => RESULTS.map((result) => sample(name, `${s.labels},result="${result}"`, s.runs[result])).join(''),
  },
  {
    name: 'mailprobe_check_failures_total',
    type: 'counter',
    help: 'Failed check runs by reason code and reason category.',
    render: (s, name) =>
      [...s.failures]
        .map(([reason, n]) => sample(name, `${s.labels},reason="${esc(reason)}",category="${reasonCategory(reason)}"`, n))
        .join(''),
  },
  {
    name: 'mailprobe_check_failure_reason',
    type: 'gauge',
    help: 'Set to 1 for the stage and reason of the current failure; absent while the check succeeds.',
    render: (s, name) => {
      const f = s.currentFailure;
      if (f === undefined) return '';
      return sample(name, `${s.labels},stage="${esc(f.stage)}",reason="${esc(f.reason)}",category="${f.category}"`, 1);
    },
  },
  {
    name: 'mailprobe_check_consecutive_failures',
    type: 'gauge',
    help: 'Failed runs in a row since the last success.',
    render: (s, name) => (s.lastRun === undefined ? '' : sample(name, s.labels, s.consecutiveFailures)),
  },
  {
    name: 'mailprobe_check_last_success_timestamp_seconds',
    type: 'gauge',
    help: 'When the latest successful run finished, epoch seconds.',
    render: (s, name) => optionalSample(name, s.labels, s.lastSuccess),
  },
  {
    name: 'mailprobe_check_last_run_timestamp_seconds',
    type: 'gauge',
    help: 'When the latest run finished, epoch seconds.',
    render: (s, name) => optionalSample(name, s.labels, s.lastRun),
  },
  {
    name: 'mailprobe_check_interval_seconds',
    type: 'gauge',
    help: 'Scheduled interval of the check, for staleness alerts.',
    render: (s, name) => optionalSample(name, s.labels, s.interval),
  },
  {
    name: 'mailprobe_checks_skipped_total',
    type: 'counter',
    help: 'Scheduled runs not started, by why (overlap, concurrency, backoff, budget).',
    render: (s, name) => mapSamples(name, s.labels, 'why', s.skipped),
  },
];

const DELIVERY_FAMILY: Family<DeliverySeries> = {
  name: 'mailprobe_delivery_latency_seconds',
  type: 'histogram',
  help: 'Time from submitting a probe message over SMTP to seeing it in the mailbox.',
  render: (s, name) => histogramSamples(name, s.labels, DELIVERY_BUCKETS, s.latency),
};

const headerOf = (family: Family<unknown>): string => `# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n`;
const CHECK_HEADERS = CHECK_FAMILIES.map((family) => Buffer.from(headerOf(family)));
const DELIVERY_HEADER = headerOf(DELIVERY_FAMILY);
const EMPTY = '';

interface ClientState {
  roles: Set<string>;
  /** Every role label exported for this client, including known roles now at 0. */
  exportedRoles: Set<string>;
}

export interface MetricsOptions {
  version: string;
  /** prom-client's process and Node.js metrics; default true. */
  collectDefault?: boolean;
}

export interface TokenInfo {
  /** Epoch seconds. */
  expiresAt: number;
  roles: string[];
}

export class MailprobeMetrics {
  /** Process, build, config and token metrics; the per-check families are rendered by this class itself. */
  readonly registry: Registry;
  readonly #checks = new Map<string, CheckSeries>();
  readonly #deliveries = new Map<string, DeliverySeries>();
  readonly #clients = new Map<string, ClientState>();

  readonly #tokenRequests: Counter<'tenant' | 'client_id' | 'result'>;
  readonly #tokenExpiry: Gauge<'tenant' | 'client_id'>;
  readonly #tokenRole: Gauge<'tenant' | 'client_id' | 'role'>;
  readonly #credentialExpiry: Gauge<'tenant' | 'client_id' | 'type'>;
  readonly #reloadSuccess: Gauge;
  readonly #reloadTimestamp: Gauge;
  readonly #notifications: Counter<'notifier' | 'type' | 'result'>;

  constructor(options: MetricsOptions) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];

    this.#tokenRequests = new Counter({
      name: 'mailprobe_token_requests_total',
      help: 'Token requests sent to the identity platform (cache hits excluded), by result.',
      labelNames: ['tenant', 'client_id', 'result'],
      registers,
    });
    this.#tokenExpiry = new Gauge({
      name: 'mailprobe_token_expiry_timestamp_seconds',
      help: 'Expiry of the current access token, epoch seconds.',
      labelNames: ['tenant', 'client_id'],
      registers,
    });
    this.#tokenRole = new Gauge({
      name: 'mailprobe_token_role',
      help: 'Application roles in the current access token: 1 present, 0 a mail role that an earlier token carried.',
      labelNames: ['tenant', 'client_id', 'role'],
      registers,
    });
    this.#credentialExpiry = new Gauge({
      name: 'mailprobe_credential_expiry_timestamp_seconds',
      help: 'Expiry of the configured client secret or certificate, epoch seconds.',
      labelNames: ['tenant', 'client_id', 'type'],
      registers,
    });
    this.#reloadSuccess = new Gauge({
      name: 'mailprobe_config_last_reload_success',
      help: 'Whether the latest configuration load succeeded (1) or failed (0).',
      registers,
    });
    this.#reloadTimestamp = new Gauge({
      name: 'mailprobe_config_last_reload_success_timestamp_seconds',
      help: 'When the configuration was last loaded successfully, epoch seconds.',
      registers,
    });
    this.#notifications = new Counter({
      name: 'mailprobe_notifications_total',
      help: 'Built-in alert notifications by notifier and outcome (success, failure after retries, dropped from a full queue).',
      labelNames: ['notifier', 'type', 'result'],
      registers,
    });
    new Gauge({
      name: 'mailprobe_build_info',
      help: 'Always 1; the version label says which mailprobe is running.',
      labelNames: ['version'],
      registers,
    }).set({ version: options.version }, 1);

    if (options.collectDefault !== false) {
      collectDefaultMetrics({ register: registry });
      // Gauges named *_total break the exposition conventions (promtool rejects them); the same counts stay
      // available as sum() over nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        registry.removeSingleMetric(name);
      }
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async metrics(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const chunk of this.exposition()) parts.push(chunk);
    return Buffer.concat(parts).toString('utf8');
  }

  /**
   * The exposition one metric family at a time, so a scrape of tens of megabytes is streamed (and gzipped) in
   * pieces of a few megabytes instead of being assembled whole in memory.
   */
  async *exposition(): AsyncGenerator<Buffer> {
    for (const [index, header] of CHECK_HEADERS.entries()) {
      const parts: Buffer[] = [header];
      for (const series of this.#checks.values()) {
        const start = series.offsets[index] ?? 0;
        const end = series.offsets[index + 1] ?? start;
        if (end > start) parts.push(series.rendered.subarray(start, end));
      }
      yield Buffer.concat(parts);
    }
    yield Buffer.from([DELIVERY_HEADER, ...[...this.#deliveries.values()].map((delivery) => delivery.rendered)].join(''));
    yield Buffer.from(await this.registry.metrics());
  }

  recordCheck(result: CheckResult, intervalSeconds: number): void {
    const series = this.#series(result);
    const finishedAt = result.startedAt / 1000 + result.durationSeconds;
    const ok = result.outcome.ok;

    series.success = ok ? 1 : 0;
    observe(series.duration, CHECK_DURATION_BUCKETS, result.durationSeconds);
    series.steps = new Map(result.outcome.steps.map(({ step, seconds }) => [step, seconds]));
    series.runs[ok ? 'success' : 'failure'] += 1;
    series.lastRun = finishedAt;
    series.interval = intervalSeconds;
    if (ok) {
      series.consecutiveFailures = 0;
      series.lastSuccess = finishedAt;
      series.currentFailure = undefined;
    } else {
      const failure = failureSeries(result);
      series.consecutiveFailures += 1;
      series.failures.set(failure.reason, (series.failures.get(failure.reason) ?? 0) + 1);
      series.currentFailure = failure;
    }
    render(series);
  }

  /**
   * Announces a scheduled check before its first run, so its counters start at 0 (increase() then sees a first
   * failure) and its interval is known to staleness alerts from the start.
   */
  expectCheck(id: CheckIdentity, intervalSeconds: number): void {
    const series = this.#series(id);
    series.interval = intervalSeconds;
    render(series);
  }

  /** Announces an app registration so its token request counters exist at 0 before the first request. */
  expectClient(tenant: string, clientId: string): void {
    this.#client(tenant, clientId);
    for (const result of RESULTS) this.#tokenRequests.inc({ tenant, client_id: clientId, result }, 0);
  }

  recordSkip(id: CheckIdentity, why: SkipReason): void {
    const series = this.#series(id);
    series.skipped.set(why, (series.skipped.get(why) ?? 0) + 1);
    render(series);
  }

  recordDeliveryLatency(id: CheckIdentity, seconds: number): void {
    const key = JSON.stringify([id.monitor, id.tenant, id.mailbox]);
    let delivery = this.#deliveries.get(key);
    if (delivery === undefined) {
      const labels = `monitor="${esc(id.monitor)}",tenant="${esc(id.tenant)}",mailbox="${esc(id.mailbox)}"`;
      delivery = { labels, latency: emptyHistogram(DELIVERY_BUCKETS), owner: '', rendered: EMPTY };
      this.#deliveries.set(key, delivery);
    }
    delivery.owner = checkKey(id);
    observe(delivery.latency, DELIVERY_BUCKETS, seconds);
    delivery.rendered = DELIVERY_FAMILY.render(delivery, DELIVERY_FAMILY.name);
  }

  /** Drops every series of a check, so a monitor removed on reload stops being scraped (and alerted on). */
  forgetMonitor(id: CheckIdentity): void {
    const key = checkKey(id);
    this.#checks.delete(key);
    for (const [deliveryKey, delivery] of this.#deliveries) {
      if (delivery.owner === key) this.#deliveries.delete(deliveryKey);
    }
  }

  recordTokenRequest(tenant: string, clientId: string, result: TokenRequestResult): void {
    this.#client(tenant, clientId);
    this.#tokenRequests.inc({ tenant, client_id: clientId, result });
  }

  setToken(tenant: string, clientId: string, info: TokenInfo): void {
    const labels = { tenant, client_id: clientId };
    const client = this.#client(tenant, clientId);
    this.#tokenExpiry.set(labels, info.expiresAt);
    const current = new Set(info.roles);
    for (const role of client.roles) {
      if (current.has(role)) continue;
      if (KNOWN_ROLES.includes(role)) {
        this.#tokenRole.set({ ...labels, role }, 0);
      } else {
        this.#tokenRole.remove({ ...labels, role });
        client.exportedRoles.delete(role);
      }
    }
    for (const role of current) {
      this.#tokenRole.set({ ...labels, role }, 1);
      client.exportedRoles.add(role);
    }
    client.roles = current;
  }

  setCredentialExpiry(tenant: string, clientId: string, type: CredentialType, expiresAtSeconds: number): void {
    this.#client(tenant, clientId);
    this.#credentialExpiry.set({ tenant, client_id: clientId, type }, expiresAtSeconds);
  }

  /** Drops every series of an app registration no monitor uses any more, so its expiry alerts stop. */
  forgetClient(tenant: string, clientId: string): void {
    const key = JSON.stringify([tenant, clientId]);
    const client = this.#clients.get(key);
    if (client === undefined) return;
    this.#clients.delete(key);
    const labels = { tenant, client_id: clientId };
    this.#tokenExpiry.remove(labels);
    for (const role of client.exportedRoles) this.#tokenRole.remove({ ...labels, role });
    for (const result of RESULTS) this.#tokenRequests.remove({ ...labels, result });
    for (const type of ['client_secret', 'certificate'] as const) this.#credentialExpiry.remove({ ...labels, type });
  }

  recordNotification(notifier: string, type: string, result: 'success' | 'failure' | 'dropped'): void {
    this.#notifications.inc({ notifier, type, result });
  }

  setConfigReload(success: boolean, atSeconds: number): void {
    this.#reloadSuccess.set(success ? 1 : 0);
    if (success) this.#reloadTimestamp.set(atSeconds);
  }

  #series(id: CheckIdentity): CheckSeries {
    const key = checkKey(id);
    const existing = this.#checks.get(key);
    if (existing !== undefined) return existing;
    const series: CheckSeries = {
      labels: `monitor="${esc(id.monitor)}",tenant="${esc(id.tenant)}",mailbox="${esc(id.mailbox)}",check="${esc(id.check)}"`,
      duration: emptyHistogram(CHECK_DURATION_BUCKETS),
      steps: new Map(),
      // Both result series exist from the start, so increase() sees the first failure of a new check.
      runs: { success: 0, failure: 0 },
      failures: new Map(),
      consecutiveFailures: 0,
      skipped: new Map(),
      rendered: Buffer.alloc(0),
      offsets: [],
    };
    this.#checks.set(key, series);
    return series;
  }

  #client(tenant: string, clientId: string): ClientState {
    const key = JSON.stringify([tenant, clientId]);
    const existing = this.#clients.get(key);
    if (existing !== undefined) return existing;
    const client: ClientState = { roles: new Set(), exportedRoles: new Set() };
    this.#clients.set(key, client);
    return client;
  }
}

function checkKey(id: CheckIdentity): string {
  return JSON.stringify([id.monitor, id.tenant, id.mailbox, id.check]);
}

function render(series: CheckSeries): void {
  const texts = CHECK_FAMILIES.map((family) => family.render(series, family.name));
  const offsets = [0];
  for (const text of texts) offsets.push((offsets.at(-1) ?? 0) + Buffer.byteLength(text));
  const rendered = Buffer.allocUnsafeSlow(offsets.at(-1) ?? 0);
  texts.forEach((text, i) => rendered.write(text, offsets[i] ?? 0));
  series.rendered = rendered;
  series.offsets = offsets;
}

// The diagnosis may refine the probe's reason (auth_failed → role_missing once the token is read), so it wins.
function failureSeries(result: CheckResult): FailureSeries {
  const failure = result.outcome.failure;
  const reason = result.diagnosis?.reason ?? failure?.reason ?? 'internal_error';
  const stage = failure?.stage ?? result.outcome.steps.at(-1)?.step ?? 'config';
  return { stage, reason, category: reasonCategory(reason) };
}

function emptyHistogram(buckets: readonly number[]): HistogramState {
  return { counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 };
}

function observe(histogram: HistogramState, buckets: readonly number[], value: number): void {
  const index = buckets.findIndex((upper) => value <= upper);
  const slot = index === -1 ? buckets.length : index;
  histogram.counts[slot] = (histogram.counts[slot] ?? 0) + 1;
  histogram.sum += value;
  histogram.count += 1;
}

function histogramSamples(name: string, labels: string, buckets: readonly number[], h: HistogramState): string {
  if (h.count === 0) return '';
  let cumulative = 0;
  let out = '';
  buckets.forEach((upper, index) => {
    cumulative += h.counts[index] ?? 0;
    out += sample(`${name}_bucket`, `${labels},le="${upper}"`, cumulative);
  });
  out += sample(`${name}_bucket`, `${labels},le="+Inf"`, h.count);
  return out + sample(`${name}_sum`, labels, h.sum) + sample(`${name}_count`, labels, h.count);
}

function mapSamples(name: string, labels: string, label: string, values: ReadonlyMap<string, number>): string {
  let out = '';
  for (const [key, value] of values) out += sample(name, `${labels},${label}="${esc(key)}"`, value);
  return out;
}

function optionalSample(name: string, labels: string, value: number | undefined): string {
  return value === undefined ? '' : sample(name, labels, value);
}

function sample(name: string, labels: string, value: number): string {
  return `${name}{${labels}} ${formatValue(value)}\n`;
}

function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

// Exposition-format label escaping: backslash, double quote and newline.
function esc(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}
