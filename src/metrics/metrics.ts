import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { reasonCategory, type ReasonCategory, type ReasonCode } from '../core/reasons.js';
import type { Cause } from '../core/cause.js';
import type { SkipReason, Stage } from '../core/check.js';
import { MAIL_ROLES } from '../core/protocols.js';
import type { CleanupOutcome } from '../core/outcome.js';
import { backoffUntil, type CheckIdentity, type CheckResult } from '../core/result.js';
import { checkKey, type ResultEvent } from '../core/state.js';
import { esc, familyHeader, sample, sampleCount } from './exposition.js';
import { NOTHING_RENDERED, RenderedFamilies, type Family, type Rendered } from './rendered.js';

const CREDENTIAL_TYPES = ['client_secret', 'certificate', 'federated_token', 'managed_identity'] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];
const SIGN_IN_LAPSE_CAUSES = ['inactivity', 'sign_in_frequency'] as const;
export type SignInLapseCause = (typeof SIGN_IN_LAPSE_CAUSES)[number];
const RESULTS = ['success', 'failure'] as const;
export type TokenRequestResult = (typeof RESULTS)[number];
/** full: every family below; basic: only what the shipped alerts and recording rules read. */
export type MetricsDetail = 'full' | 'basic';

// Roles a mail check needs. Losing one must stay visible as 0 (an alert can fire on it); any other role is
// just dropped when the token no longer carries it, so foreign roles cannot grow the series count.
export const KNOWN_ROLES: readonly string[] = MAIL_ROLES;

// The latency distributions are fleet-wide (by check, and by check and step), so buckets are cheap: a few
// hundred samples whatever the number of monitors. Runs take from tens of milliseconds to the one-minute deadline.
const CHECK_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
const STEP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Exchange usually delivers within seconds; the tail up to the delivery timeout is what alerts care about.
const DELIVERY_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600];

interface FailureSeries {
  stage: Stage;
  reason: ReasonCode;
  category: ReasonCategory;
}

/** What one check exports: identity labels only; who and where it checks is on mailprobe_monitor_info. */
interface CheckSeries extends Rendered {
  /** `monitor="…",check="…"`, escaped once. */
  labels: string;
  success?: number;
  lastDuration?: number;
  runs: Record<TokenRequestResult, number>;
  consecutiveFailures: number;
  currentFailure?: FailureSeries;
  lastSuccess?: number;
  lastRun?: number;
  /** Created at the first skip: most checks never have one. */
  skipped?: Map<SkipReason, number>;
  lastDelivery?: number;
  /** Own probe messages the latest cleanup saw and left; set by the checks that clean up. */
  probeMailBacklog?: number;
  /** Epoch seconds until which the latest run's server asked the check to wait. */
  backoffUntil?: number;
}

/** One per monitor: the descriptive labels, joined in PromQL with `group_left`, and the schedule. */
interface MonitorSeries extends Rendered {
  /** `monitor="…"`, escaped once. */
  labels: string;
  tenant: string;
  mailbox: string;
  interval: number;
  /** The monitor's cause while one of its checks fails (ResultEvent.cause). */
  cause?: Cause;
  /** Checks of this monitor still exported; the monitor's own series go with the last of them. An array, not a Set: at most four, and a Set cost 148 bytes per monitor. */
  checks: string[];
}

// Per-check families, in exposition order. Names are a contract with the alert rules and dashboards.
// These are rendered by hand, not by prom-client: its registry took 1.1–2.7 s to serialise the 120,000
// per-check samples of 10,000 monitors × 2 checks (and held 100 MB of label objects for them), against a
// 250 ms budget for the whole scrape; copying pre-rendered bytes takes a few milliseconds.
const CHECK_FAMILIES: ReadonlyArray<Family<CheckSeries>> = [
  {
    name: 'mailprobe_check_success',
    type: 'gauge',
    help: 'Whether the latest run of the check succeeded (1) or failed (0).',
    render: (s) => optional('mailprobe_check_success', s.labels, s.success),
  },
  {
    name: 'mailprobe_check_last_duration_seconds',
    type: 'gauge',
    help: 'Wall time of the latest run, token through logout (the distribution is mailprobe_check_duration_seconds).',
    fullOnly: true,
    render: (s) => optional('mailprobe_check_last_duration_seconds', s.labels, s.lastDuration),
  },
  {
    name: 'mailprobe_checks_total',
    type: 'counter',
    help: 'Check runs by result (success or failure).',
    render: (s) =>
      sample('mailprobe_checks_total', `${s.labels},result="success"`, s.runs.success) +
      sample('mailprobe_checks_total', `${s.labels},result="failure"`, s.runs.failure),
  },
  {
    name: 'mailprobe_check_last_run_timestamp_seconds',
    type: 'gauge',
    help: 'When the latest run finished, epoch seconds.',
    render: (s) => optional('mailprobe_check_last_run_timestamp_seconds', s.labels, s.lastRun),
  },
  {
    name: 'mailprobe_check_last_success_timestamp_seconds',
    type: 'gauge',
    help: 'When the latest successful run finished, epoch seconds.',
    fullOnly: true,
    render: (s) => optional('mailprobe_check_last_success_timestamp_seconds', s.labels, s.lastSuccess),
  },
  {
    name: 'mailprobe_check_consecutive_failures',
    type: 'gauge',
    help: 'Failed runs in a row; present only while the check is failing.',
    render: (s) => (s.consecutiveFailures > 0 ? sample('mailprobe_check_consecutive_failures', s.labels, s.consecutiveFailures) : ''),
  },
  {
    name: 'mailprobe_check_failure_reason',
    type: 'gauge',
    help: 'Set to 1 for the stage and reason of the current failure; present only while the check is failing.',
    render: (s) => {
      const f = s.currentFailure;
      if (f === undefined) return '';
      return sample('mailprobe_check_failure_reason', `${s.labels},stage="${esc(f.stage)}",reason="${esc(f.reason)}",category="${f.category}"`, 1);
    },
  },
  {
    name: 'mailprobe_checks_skipped_total',
    type: 'counter',
    help: 'Scheduled runs not started, by why (overlap, concurrency, backoff); present from the first skip.',
    render: (s) => {
      let out = '';
      for (const [why, n] of s.skipped ?? []) out += sample('mailprobe_checks_skipped_total', `${s.labels},why="${why}"`, n);
      return out;
    },
  },
  {
    name: 'mailprobe_check_backoff_until_timestamp_seconds',
    type: 'gauge',
    help: 'Until when the check waits because its server asked (Retry-After, Suggested Backoff Time; at most three intervals), epoch seconds; present only after a run that asked.',
    render: (s) => optional('mailprobe_check_backoff_until_timestamp_seconds', s.labels, s.backoffUntil),
  },
  {
    name: 'mailprobe_check_last_delivery_seconds',
    type: 'gauge',
    help: 'Time the latest round trip took from SMTP submission to the message in the mailbox.',
    render: (s) => optional('mailprobe_check_last_delivery_seconds', s.labels, s.lastDelivery),
  },
  {
    name: 'mailprobe_probe_mail_backlog',
    type: 'gauge',
    help: "This monitor's probe messages the latest cleanup found and left (too young to sweep, or not deletable); it grows when cleanup falls behind.",
    render: (s) => optional('mailprobe_probe_mail_backlog', s.labels, s.probeMailBacklog),
  },
];

/** What the run's cleanup of probe mail came to, as the sending checks measured it; undefined: none ran. */
export function cleanupOutcome(result: CheckResult): CleanupOutcome | undefined {
  const { measured, failure } = result.outcome;
  return failure?.reason === 'cleanup_failed' ? 'failed' : measured.cleanup;
}

const MONITOR_FAMILIES: ReadonlyArray<Family<MonitorSeries>> = [
  {
    name: 'mailprobe_monitor_info',
    type: 'gauge',
    help: 'Always 1; carries the tenant and mailbox of each monitor, for joins: * on (job, instance, monitor) group_left (tenant, mailbox) mailprobe_monitor_info.',
    render: (m) => sample('mailprobe_monitor_info', `${m.labels},tenant="${esc(m.tenant)}",mailbox="${esc(m.mailbox)}"`, 1),
  },
  {
    name: 'mailprobe_monitor_interval_seconds',
    type: 'gauge',
    help: 'Scheduled interval of the monitor, for staleness alerts.',
    render: (m) => sample('mailprobe_monitor_interval_seconds', m.labels, m.interval),
  },
  {
    name: 'mailprobe_monitor_cause',
    type: 'gauge',
    help: "Set to 1 for the cause of the monitor's failure, attributed from the latest result of each of its checks; present only while one of them fails.",
    render: (m) => (m.cause === undefined ? '' : sample('mailprobe_monitor_cause', `${m.labels},cause="${m.cause}"`, 1)),
  },
];

const SCRAPE_FAMILIES = {
  bytes: familyHeader('mailprobe_exposition_bytes', 'gauge', 'Size of the previous /metrics answer before compression.'),
  samples: familyHeader('mailprobe_exposition_samples', 'gauge', 'Samples in the previous /metrics answer.'),
  seconds: familyHeader(
    'mailprobe_exposition_render_seconds',
    'gauge',
    'Time the agent spent rendering the previous /metrics answer (not counting the network).',
  ),
};

interface ClientState {
  roles: Set<string>;
  /** Every role label exported for this client, including known roles now at 0. */
  exportedRoles: Set<string>;
}

export interface MetricsOptions {
  version: string;
  /** prom-client's process and Node.js metrics; default true. */
  collectDefault?: boolean;
  /** Default full. */
  detail?: MetricsDetail;
}

export interface TokenInfo {
  /** Epoch seconds. */
  expiresAt: number;
  roles: string[];
}

interface ScrapeFigures {
  bytes: number;
  samples: number;
  seconds: number;
}

export class MailprobeMetrics {
  /** Process, build, fleet-histogram, token and agent metrics; the per-check and per-monitor families are rendered by this class. */
  readonly registry: Registry;
  readonly #full: boolean;
  readonly #checks = new Map<string, CheckSeries>();
  readonly #monitors = new Map<string, MonitorSeries>();
  readonly #checkFamilies: RenderedFamilies<CheckSeries>;
  readonly #monitorFamilies: RenderedFamilies<MonitorSeries>;
  readonly #clients = new Map<string, ClientState>();
  #lastScrape?: ScrapeFigures;

  readonly #checkDuration: Histogram<'check'>;
  readonly #stepDuration: Histogram<'check' | 'step'>;
  readonly #deliveryLatency: Histogram;
  readonly #failures: Counter<'check' | 'reason' | 'category'>;
  readonly #tokenRequests: Counter<'tenant' | 'client_id' | 'result'>;
  readonly #tokenExpiry: Gauge<'tenant' | 'client_id'>;
  readonly #tokenRole: Gauge<'tenant' | 'client_id' | 'role'>;
  readonly #credentialExpiry: Gauge<'tenant' | 'client_id' | 'type'>;
  readonly #signInRefresh: Gauge<'tenant' | 'client_id'>;
  readonly #signInLapse: Gauge<'tenant' | 'client_id' | 'cause'>;
  readonly #reloadSuccess: Gauge;
  readonly #reloadTimestamp: Gauge;
  readonly #notifications: Counter<'notifier' | 'type' | 'result'>;
  readonly #cleanups: Counter<'check' | 'outcome'>;

  constructor(options: MetricsOptions) {
    const registry = new Registry();
    this.registry = registry;
    this.#full = (options.detail ?? 'full') === 'full';
    this.#checkFamilies = new RenderedFamilies(CHECK_FAMILIES, this.#full);
    this.#monitorFamilies = new RenderedFamilies(MONITOR_FAMILIES, this.#full);
    const registers = [registry];

    this.#checkDuration = new Histogram({
      name: 'mailprobe_check_duration_seconds',
      help: 'Wall time of check runs across all monitors, token through logout, by check.',
      labelNames: ['check'],
      buckets: CHECK_DURATION_BUCKETS,
      registers,
    });
    this.#stepDuration = new Histogram({
      name: 'mailprobe_step_duration_seconds',
      help: 'Time check runs across all monitors spent in each step, by check and step.',
      labelNames: ['check', 'step'],
      buckets: STEP_DURATION_BUCKETS,
      registers: this.#full ? registers : [],
    });
    this.#deliveryLatency = new Histogram({
      name: 'mailprobe_delivery_latency_seconds',
      help: 'Time from submitting a probe message over SMTP to seeing it in the mailbox, across all round trips.',
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.#failures = new Counter({
      name: 'mailprobe_check_failures_total',
      help: 'Failed check runs across all monitors, by check, reason code and reason category.',
      labelNames: ['check', 'reason', 'category'],
      registers,
    });
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
      help: 'Application roles in the current access token: 1 present, 0 a mail role that an earlier token carried. Evidence only: Exchange RBAC for Applications can grant SMTP without the role.',
      labelNames: ['tenant', 'client_id', 'role'],
      registers,
    });
    this.#credentialExpiry = new Gauge({
      name: 'mailprobe_credential_expiry_timestamp_seconds',
      help: 'Expiry of the configured client secret or certificate, or of the federated or managed-identity token last used, epoch seconds.',
      labelNames: ['tenant', 'client_id', 'type'],
      registers,
    });
    this.#signInRefresh = new Gauge({
      name: 'mailprobe_signin_refresh_timestamp_seconds',
      help: 'A delegated monitor’s sign-in: when its refresh token was last renewed (rotated), epoch seconds.',
      labelNames: ['tenant', 'client_id'],
      registers,
    });
    this.#signInLapse = new Gauge({
      name: 'mailprobe_signin_lapse_timestamp_seconds',
      help: 'When a delegated monitor’s sign-in lapses unless renewed, epoch seconds; cause: inactivity (90 days unused) or sign_in_frequency (Conditional Access).',
      labelNames: ['tenant', 'client_id', 'cause'],
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
    this.#cleanups = new Counter({
      name: 'mailprobe_probe_mail_cleanups_total',
      help: 'Cleanups of probe mail across all monitors, by check and outcome (deleted: at least one message, not_found: nothing to delete, failed).',
      labelNames: ['check', 'outcome'],
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
   * The exposition in pieces of about 64 KB, family after family, so a large scrape is streamed (and gzipped) instead
   * of being assembled whole in memory. Ends with the size, sample count and render time of the previous one.
   */
  async *exposition(): AsyncGenerator<Buffer> {
    const figures: ScrapeFigures = { bytes: 0, samples: 0, seconds: 0 };
    const produced = (chunk: Buffer, samples: number, since: number): Buffer => {
      figures.bytes += chunk.length;
      figures.samples += samples;
      figures.seconds += (performance.now() - since) / 1000;
      return chunk;
    };
    let since = performance.now();
    let samples = 0;
    for (const entry of this.#checks.values()) samples += entry.samples;
    for (const chunk of this.#checkFamilies.chunks(() => this.#checks.values())) {
      yield produced(chunk, samples, since);
      samples = 0;
      since = performance.now();
    }
    samples = 0;
    for (const entry of this.#monitors.values()) samples += entry.samples;
    for (const chunk of this.#monitorFamilies.chunks(() => this.#monitors.values())) {
      yield produced(chunk, samples, since);
      samples = 0;
      since = performance.now();
    }
    const text = await this.registry.metrics();
    yield produced(Buffer.from(text), sampleCount(text), since);
    since = performance.now();
    yield produced(Buffer.from(this.#scrapeText()), this.#lastScrape === undefined ? 0 : 3, since);
    this.#lastScrape = figures;
  }

  recordCheck({ result, state, cause }: ResultEvent, intervalSeconds: number): void {
    // The monitor's info and interval change only with the configuration (expectCheck), not with each run.
    const series = this.#checks.get(checkKey(result)) ?? this.#series(result, intervalSeconds);
    // Milliseconds and microseconds are all the precision a check has; more digits only lengthen the scrape.
    const finishedAt = Math.round(result.startedAt + result.durationSeconds * 1000) / 1000;
    const ok = result.outcome.ok;

    series.success = ok ? 1 : 0;
    series.lastDuration = Math.round(result.durationSeconds * 1e6) / 1e6;
    series.runs[ok ? 'success' : 'failure'] += 1;
    series.lastRun = finishedAt;
    this.#checkDuration.observe({ check: result.check }, result.durationSeconds);
    if (this.#full) for (const { step, seconds } of result.outcome.steps) this.#stepDuration.observe({ check: result.check, step }, seconds);
    series.consecutiveFailures = state.consecutiveFailures;
    if (ok) {
      series.lastSuccess = finishedAt;
      series.currentFailure = undefined;
    } else {
      const failure = failureSeries(result);
      series.currentFailure = failure;
      this.#failures.inc({ check: result.check, reason: failure.reason, category: failure.category });
    }
    const cleanup = cleanupOutcome(result);
    if (cleanup !== undefined) this.#cleanups.inc({ check: result.check, outcome: cleanup });
    const until = backoffUntil(result);
    series.backoffUntil = until === undefined ? undefined : until / 1000;
    const left = result.outcome.measured.probeMailLeft;
    if (left !== undefined) series.probeMailBacklog = left;
    this.#checkFamilies.render(series);
    const monitor = this.#monitors.get(result.monitor);
    if (monitor !== undefined && monitor.cause !== cause) {
      monitor.cause = cause;
      this.#monitorFamilies.render(monitor);
    }
  }

  /**
   * Announces a scheduled check before its first run, so its counters start at 0 (increase() then sees a first
   * failure) and its monitor's info and interval are there from the start. Also updates them on reload.
   */
  expectCheck(id: CheckIdentity, intervalSeconds: number): void {
    this.#series(id, intervalSeconds);
  }

  /** Announces an app registration so its token request counters exist at 0 before the first request. */
  expectClient(tenant: string, clientId: string): void {
    this.#client(tenant, clientId);
    for (const result of RESULTS) this.#tokenRequests.inc({ tenant, client_id: clientId, result }, 0);
  }

  recordSkip(id: CheckIdentity, why: SkipReason): void {
    const series = this.#checks.get(checkKey(id));
    if (series === undefined) return;
    series.skipped ??= new Map();
    series.skipped.set(why, (series.skipped.get(why) ?? 0) + 1);
    this.#checkFamilies.render(series);
  }

  recordDeliveryLatency(id: CheckIdentity, seconds: number): void {
    this.#deliveryLatency.observe(seconds);
    const series = this.#checks.get(checkKey(id));
    if (series === undefined) return;
    series.lastDelivery = Math.round(seconds * 1000) / 1000;
    this.#checkFamilies.render(series);
  }

  /** Drops every series of a check (and of its monitor with its last check), so a removed monitor stops being scraped and alerted on. */
  forgetMonitor(id: CheckIdentity): void {
    const key = checkKey(id);
    this.#checks.delete(key);
    const monitor = this.#monitors.get(id.monitor);
    if (!monitor) return;
    monitor.checks = monitor.checks.filter((check) => check !== key);
    if (monitor.checks.length === 0) this.#monitors.delete(id.monitor);
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

  /** A delegated sign-in as it now stands: the lapse's other cause is dropped, so one series says when. */
  setSignIn(tenant: string, clientId: string, signIn: { refreshedAt: number; lapsesAt: number; cause: SignInLapseCause }): void {
    this.#client(tenant, clientId);
    const labels = { tenant, client_id: clientId };
    this.#signInRefresh.set(labels, signIn.refreshedAt / 1000);
    for (const cause of SIGN_IN_LAPSE_CAUSES) if (cause !== signIn.cause) this.#signInLapse.remove({ ...labels, cause });
    this.#signInLapse.set({ ...labels, cause: signIn.cause }, signIn.lapsesAt / 1000);
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
    for (const type of CREDENTIAL_TYPES) this.#credentialExpiry.remove({ ...labels, type });
    this.#signInRefresh.remove(labels);
    for (const cause of SIGN_IN_LAPSE_CAUSES) this.#signInLapse.remove({ ...labels, cause });
  }

  recordNotification(notifier: string, type: string, result: 'success' | 'failure' | 'dropped'): void {
    this.#notifications.inc({ notifier, type, result });
  }

  setConfigReload(success: boolean, atSeconds: number): void {
    this.#reloadSuccess.set(success ? 1 : 0);
    if (success) this.#reloadTimestamp.set(atSeconds);
  }

  /** The check's series, created (with its monitor's) on first sight; the monitor's info follows the latest config. */
  #series(id: CheckIdentity, intervalSeconds: number): CheckSeries {
    const key = checkKey(id);
    this.#monitor(id, key, intervalSeconds);
    const existing = this.#checks.get(key);
    if (existing !== undefined) return existing;
    const series: CheckSeries = {
      labels: flat(`monitor="${esc(id.monitor)}",check="${esc(id.check)}"`),
      // Both result series exist from the start, so increase() sees the first failure of a new check.
      runs: { success: 0, failure: 0 },
      consecutiveFailures: 0,
      ...NOTHING_RENDERED,
    };
    this.#checkFamilies.render(series);
    this.#checks.set(key, series);
    return series;
  }

  #monitor(id: CheckIdentity, checkKeyOfId: string, interval: number): void {
    const existing = this.#monitors.get(id.monitor);
    if (existing !== undefined && existing.tenant === id.tenant && existing.mailbox === id.mailbox && existing.interval === interval) {
      addCheck(existing, checkKeyOfId);
      return;
    }
    const monitor: MonitorSeries = existing ?? {
      labels: flat(`monitor="${esc(id.monitor)}"`),
      tenant: id.tenant,
      mailbox: id.mailbox,
      interval,
      checks: [],
      ...NOTHING_RENDERED,
    };
    Object.assign(monitor, { tenant: id.tenant, mailbox: id.mailbox, interval });
    addCheck(monitor, checkKeyOfId);
    this.#monitorFamilies.render(monitor);
    this.#monitors.set(id.monitor, monitor);
  }

  #client(tenant: string, clientId: string): ClientState {
    const key = JSON.stringify([tenant, clientId]);
    const existing = this.#clients.get(key);
    if (existing !== undefined) return existing;
    const client: ClientState = { roles: new Set(), exportedRoles: new Set() };
    this.#clients.set(key, client);
    return client;
  }

  #scrapeText(): string {
    const last = this.#lastScrape;
    if (last === undefined) return SCRAPE_FAMILIES.bytes + SCRAPE_FAMILIES.samples + SCRAPE_FAMILIES.seconds;
    return (
      `${SCRAPE_FAMILIES.bytes}mailprobe_exposition_bytes ${last.bytes}\n` +
      `${SCRAPE_FAMILIES.samples}mailprobe_exposition_samples ${last.samples}\n` +
      `${SCRAPE_FAMILIES.seconds}mailprobe_exposition_render_seconds ${last.seconds}\n`
    );
  }
}

// A template literal is a rope of its parts until V8 flattens it; a label string kept for the process's life
// should be one flat string, not three objects.
function flat(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

function failureSeries(result: CheckResult): FailureSeries {
  const failure = result.outcome.failure;
  const reason = result.reason ?? 'internal_error';
  const stage = failure?.stage ?? result.outcome.steps.at(-1)?.step ?? 'config';
  return { stage, reason, category: reasonCategory(reason) };
}

function optional(name: string, labels: string, value: number | undefined): string {
  return value === undefined ? '' : sample(name, labels, value);
}

// A new array of the exact length: push would reserve room for 16 more keys per monitor.
function addCheck(monitor: MonitorSeries, key: string): void {
  if (!monitor.checks.includes(key)) monitor.checks = [...monitor.checks, key];
}
