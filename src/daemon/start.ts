import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createNotifier, type Notifier } from '../alerting/notifier.js';
import { ConfigError } from '../config/errors.js';
import { parseListen } from '../config/defaults.js';
import { isLoopbackHost, parseInsecureListenEnv } from '../config/listen.js';
import { envOverrides, loadConfigFile } from '../config/load.js';
import { restartOnlyChanges } from '../config/restart-only.js';
import { resolveShard, shardConfig, splitMailboxes, type ShardIdentity, type ShardSources } from '../config/shard.js';
import type { LoadedConfig } from '../config/types.js';
import type { CheckKind } from '../core/check.js';
import { systemClock, type Clock } from '../core/clock.js';
import { checkKey, type CheckState } from '../core/state.js';
import { claimStateFile, ownedStateFile, type Claim } from '../files/durable-file.js';
import { ExposedListenerError } from '../http/listen-error.js';
import { ListenerSecurity } from '../http/security.js';
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from '../http/server.js';
import type { RestoredCheck } from '../history/recorder.js';
import { startHistory, type HistoryService } from '../history/service.js';
import { MonthlySummary, summaryScope } from '../summary/service.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Redactor } from '../log/redact.js';
import { MailprobeMetrics } from '../metrics/metrics.js';
import { ShardMetrics } from '../metrics/shard.js';
import { Agent, type ResultListener } from '../runner/agent.js';
import { SignInBoard } from '../runner/status.js';
import { createRuntime } from '../runner/runtime.js';
import { jobsOf } from '../runner/scheduler.js';
import { VERSION } from './version.js';

// The composition root: the one place that builds the daemon from its parts. Commands parse and print; they call this.

/** Where the daemon writes its log and reads its environment (the CLI's streams, or a test's). */
export interface DaemonIO {
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export interface AgentHandle {
  agent: Agent;
  http: RunningHttpServer;
  metrics: MailprobeMetrics;
  logger: Logger;
  history?: HistoryService;
  reload(): boolean;
  stop(): Promise<void>;
}

export interface StartOptions {
  io: DaemonIO;
  format?: 'json' | 'pretty' | 'auto';
  listen?: string;
  /** Where `listen` came from (--listen, MAILPROBE_LISTEN), for the refusal of an exposed listener. */
  listenFrom?: string;
  webConfigFile?: string;
  listeners?: ResultListener[];
  /** --shard and --total-shards; the environment and the file fill in what they leave out. */
  shardFlags?: ShardSources['flags'];
}

/** The configuration as loaded, this replica's shard of it, and which shard that is. */
interface Share {
  full: LoadedConfig;
  shard: ShardIdentity;
  config: LoadedConfig;
}

/** What the steps of startAgent share: built once, read by the listener, the reload and the stop. */
interface Parts {
  clock: Clock;
  logger: Logger;
  metrics: MailprobeMetrics;
  alerting: Alerting;
  history: HistoryService | undefined;
  agent: Agent;
  /** Each delegated tenant's sign-in, for /status/detail; never a token. */
  signIns: SignInBoard;
  summary: MonthlySummary | undefined;
  /** The current share: replaced by each successful reload. */
  share: () => Share;
  lastReload: { ok: boolean; at: number; error: string | undefined };
}

/**
 * Starts the whole daemon on a loaded config; shared by `run` and `demo`. The steps, in order: this replica's
 * share of the config, the log, the listener's guard (before anything is opened), metrics, alerting, history,
 * the agent and the summary, the listener; then the checks start. A step that fails closes what the earlier
 * ones opened.
 */
export async function startAgent(loadedConfig: LoadedConfig, options: StartOptions): Promise<AgentHandle> {
  const shareOf = (loaded: LoadedConfig): Share => ownShare(loaded, options);
  let share = shareOf(loadedConfig);
  const config = share.config;
  const { redactor, logger } = logging(config, options);
  const listener = guardListener(config, options, logger);
  const clock = systemClock;
  const metrics = new MailprobeMetrics({ version: VERSION, detail: config.agent.metrics });
  const announceShard = shardAnnouncer(metrics, logger);
  announceShard(share);
  const alerting = new Alerting({ clock, logger, metrics, env: options.io.env, shard: () => share.shard });
  alerting.apply(config);
  let history: HistoryService | undefined;
  let summary: MonthlySummary | undefined;
  let http: RunningHttpServer;
  let parts: Parts;
  try {
    history = await startHistory(config, { clock, logger, registry: metrics.registry, env: options.io.env });
    const signIns = new SignInBoard();
    const agent = buildAgent({ options, clock, redactor, logger, metrics, alerting, history, signIns });
    summary = history ? monthlySummary(config, history, { clock, logger, env: options.io.env, metrics }) : undefined;
    summary?.configure(summaryScope(share));
    parts = {
      clock,
      logger,
      metrics,
      alerting,
      history,
      agent,
      signIns,
      summary,
      share: () => share,
      lastReload: { ok: true, at: clock.now(), error: undefined },
    };
    http = await startHttpServer({ ...listener, metrics, logger, ...listenerRoutes(config, parts) });
  } catch (error) {
    await summary?.close();
    await alerting.close();
    await history?.close();
    await listener.security?.close();
    throw error;
  }

  parts.agent.start(config, { runAtStart: true });
  summary?.start();
  metrics.setConfigReload(true, clock.now() / 1000);
  logger.info('mailprobe started', {
    version: VERSION,
    config: config.file,
    monitors: config.monitors.length,
    listen: http.url,
    ...(share.shard.total > 1 ? { shard: share.shard.index, totalShards: share.shard.total, shardFrom: share.shard.source } : {}),
  });

  const reload = reloader(config, parts, {
    load: () => shareOf(loadConfigFile(config.file, envOverrides(options.io.env))),
    adopt: (next) => {
      share = next;
      announceShard(next);
    },
  });
  return {
    agent: parts.agent,
    http,
    metrics,
    logger,
    ...(history ? { history } : {}),
    reload,
    stop: async () => {
      const { unfinished } = await parts.agent.stop((parts.agent.config ?? config).agent.shutdownGraceMs);
      if (unfinished > 0) logger.warn('stopped with checks still in flight', { unfinished });
      await alerting.close();
      await summary?.close();
      await history?.close();
      await http.close();
      logger.info('mailprobe stopped');
    },
  };
}

/** Every load, the first and each reload, keeps only this replica's monitors; everything after sees just those. */
function ownShare(loaded: LoadedConfig, options: Pick<StartOptions, 'shardFlags' | 'io'>): Share {
  const shard = resolveShard({ flags: options.shardFlags ?? {}, env: options.io.env, agent: loaded.agent, file: loaded.file });
  return { full: loaded, shard, config: shardConfig(loaded, shard) };
}

/** The log, with every secret the runtime registers redacted, and the config's warnings written to it. */
function logging(config: LoadedConfig, options: Pick<StartOptions, 'io' | 'format'>): { redactor: Redactor; logger: Logger } {
  const redactor = new Redactor();
  const logger = createLogger({
    level: options.io.env.MAILPROBE_LOG_LEVEL ?? config.agent.logLevel,
    format: options.format ?? 'auto',
    redactor,
    stream: options.io.stderr,
  });
  for (const warning of config.warnings) logger.warn('configuration warning', { path: warning.path, warning: warning.message });
  return { redactor, logger };
}

/**
 * Where the listener listens and what guards it, decided before anything is opened: an address other hosts reach
 * without a credential refuses to start here (issue 25), leaving no state file claimed and no store open.
 */
function guardListener(
  config: LoadedConfig,
  options: Pick<StartOptions, 'listen' | 'listenFrom' | 'webConfigFile' | 'io'>,
  logger: Logger,
): { host: string; port: number; security?: ListenerSecurity } {
  const address = listenAddress(options.listen, config);
  const security = listenerSecurity(options.webConfigFile ?? config.agent.webConfigFile, config.agent.bearerTokenFile, logger);
  refuseExposedListener(address, security, { config, listenFrom: options.listen ? (options.listenFrom ?? '--listen') : undefined, env: options.io.env });
  return { ...address, ...(security ? { security } : {}) };
}

/** The shard gauges, and a warning for each mailbox whose monitors landed on different shards; run on every load. */
function shardAnnouncer(metrics: MailprobeMetrics, logger: Logger): (share: Share) => void {
  const shardMetrics = new ShardMetrics(metrics.registry);
  return (share) => {
    shardMetrics.set(share.shard, share.config.monitors.length);
    if (share.shard.total === 1) return;
    for (const split of splitMailboxes(share.full, share.shard.total)) {
      logger.warn('monitors of one mailbox run on different shards; each of those replicas spends the whole send budget', split);
    }
  };
}

/**
 * The notifier for the alerting section, rebuilt only when that section changes on reload; its state file, owned
 * by this agent alone, keeps alerts from re-firing across restarts.
 */
class Alerting {
  #notifier: Notifier | undefined;
  #section: string | undefined;
  readonly #owners = new Map<string, Claim>();
  readonly #deps: { clock: Clock; logger: Logger; metrics: MailprobeMetrics; env: NodeJS.ProcessEnv; shard: () => ShardIdentity };

  constructor(deps: { clock: Clock; logger: Logger; metrics: MailprobeMetrics; env: NodeJS.ProcessEnv; shard: () => ShardIdentity }) {
    this.#deps = deps;
  }

  /** The result listener the agent calls; it reaches whichever notifier is current. */
  readonly listener: ResultListener = (event) => this.#notifier?.listener(event);

  streaks(): ReadonlyMap<string, CheckState> {
    return this.#notifier?.streaks() ?? new Map();
  }

  apply(config: LoadedConfig): void {
    const section = JSON.stringify(config.alerting ?? null);
    if (section === this.#section) {
      this.#notifier?.retain(retained(config));
      return;
    }
    const { clock, logger, metrics, env } = this.#deps;
    const previous = this.#notifier;
    this.#notifier = config.alerting
      ? createNotifier(withOwnedStateFile(config, config.alerting, this.#owners, { shard: this.#deps.shard(), env, logger }), {
          logger: logger.child({ component: 'alerting' }),
          clock,
          baseDir: dirname(config.file),
          env,
          onDelivery: (event) => metrics.recordNotification(event.notifier, event.type, event.result),
        })
      : undefined;
    this.#notifier?.retain(retained(config));
    this.#section = section;
    void previous?.close();
  }

  async close(): Promise<void> {
    await this.#notifier?.close();
    for (const claim of this.#owners.values()) if (claim.ok) claim.release();
    this.#owners.clear();
  }
}

function retained(config: LoadedConfig): Array<{ monitor: string; check: CheckKind }> {
  return jobsOf(config.monitors).map((job) => ({ monitor: job.monitor.name, check: job.check }));
}

/** The agent, its consumers of results, and the fold and board as they stood before the restart. */
function buildAgent(parts: {
  options: Pick<StartOptions, 'io' | 'listeners'>;
  clock: Clock;
  redactor: Redactor;
  logger: Logger;
  metrics: MailprobeMetrics;
  alerting: Alerting;
  history: HistoryService | undefined;
  signIns: SignInBoard;
}): Agent {
  const { options, clock, redactor, logger, metrics, alerting, history, signIns } = parts;
  const { deps } = createRuntime({
    clock,
    redactor,
    env: options.io.env,
    events: {
      onRequest: (tenant, result) => metrics.recordTokenRequest(tenant.key, tenant.clientId, result),
      onToken: (tenant, info) => metrics.setToken(tenant.key, tenant.clientId, { expiresAt: info.expiresAt / 1000, roles: info.roles }),
      onAssertion: (tenant, expiry) => metrics.setCredentialExpiry(tenant.key, tenant.clientId, expiry.type, expiry.expiresAt / 1000),
      onSignIn: (tenant, signIn) => {
        metrics.setSignIn(tenant.key, tenant.clientId, signIn);
        signIns.set(tenant.key, signIn);
      },
    },
  });
  const listeners: ResultListener[] = [...(options.listeners ?? []), alerting.listener, ...(history ? [history.recorder.listener] : [])];
  const agent = new Agent({ deps, metrics, logger, clock, listeners, env: options.io.env, signIns });
  // Before the first check runs, so /api/status shows where each check was when the agent stopped.
  if (history) agent.status.restore(history.restored.map((check) => check.status));
  agent.restore(savedStates(history?.restored ?? [], alerting.streaks()));
  return agent;
}

/** What the listener serves besides /metrics: health, the status API, reports and the status page. */
function listenerRoutes(config: LoadedConfig, parts: Parts): Pick<HttpServerOptions, 'health' | 'status' | 'report' | 'statusPage'> {
  const { agent, history, clock, signIns } = parts;
  return {
    // A history store that refuses writes makes the agent unready (issue 25): checks and alerts go on, but
    // reports and restarts lose what it does not keep.
    health: () => {
      const store = history?.health();
      const share = parts.share();
      return {
        ready: agent.config !== undefined && agent.scheduling && (store?.up ?? true),
        detail: {
          configLoaded: agent.config !== undefined,
          scheduling: agent.scheduling,
          checksInFlight: agent.inFlight(),
          shard: { index: share.shard.index, total: share.shard.total, monitors: share.config.monitors.length },
          ...(store ? { history: store } : {}),
        },
      };
    },
    status: () => {
      const share = parts.share();
      const { lastReload } = parts;
      return {
        version: VERSION,
        startedAt: new Date(agent.startedAt).toISOString(),
        config: {
          file: agent.config?.file,
          lastReloadOk: lastReload.ok,
          lastReloadAt: new Date(lastReload.at).toISOString(),
          lastReloadError: lastReload.error,
        },
        shard: { index: share.shard.index, total: share.shard.total, source: share.shard.source, monitors: share.config.monitors.length },
        checks: agent.status.list(),
      };
    },
    ...(history
      ? {
          report: (query: URLSearchParams) =>
            history.reportJson(Object.fromEntries(['period', 'from', 'to', 'monitor', 'tenant'].map((key) => [key, query.get(key) ?? undefined]))),
        }
      : {}),
    statusPage: {
      settings: () => (agent.config ?? config).statusPage,
      monitors: () => (agent.config ?? config).monitors,
      checks: () => agent.status.list(),
      signIn: (tenant) => signIns.get(tenant),
      checksOf: (monitor) => agent.status.forMonitor(monitor),
      revision: () => agent.status.revision,
      now: () => clock.now(),
      // The service swaps its reader on reload (new accounting rules), so the page asks for the current one.
      ...(history
        ? { history: { checkSummaries: (query) => history.reader.checkSummaries(query), incidents: (query) => history.reader.incidents(query) } }
        : {}),
    },
  };
}

/**
 * Re-reads the config file and hands this replica's share to every part; a file that does not load leaves the
 * running configuration in force. Settings only a restart applies are named in the log.
 */
function reloader(config: LoadedConfig, parts: Parts, share: { load: () => Share; adopt: (next: Share) => void }): () => boolean {
  const { agent, alerting, history, summary, metrics, logger, clock } = parts;
  return () => {
    try {
      const nextShare = share.load();
      const next = nextShare.config;
      const ignored = restartOnlyChanges(agent.config ?? config, next);
      if (ignored.length > 0) logger.warn('configuration reloaded, but these settings take effect only after a restart', { settings: ignored });
      agent.reload(next);
      share.adopt(nextShare);
      history?.configure(next);
      summary?.configure(summaryScope(nextShare));
      alerting.apply(next);
      metrics.setConfigReload(true, clock.now() / 1000);
      parts.lastReload = { ok: true, at: clock.now(), error: undefined };
      logger.info('configuration reloaded', {
        config: next.file,
        monitors: next.monitors.length,
        shard: nextShare.shard.index,
        totalShards: nextShare.shard.total,
      });
      return true;
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error);
      metrics.setConfigReload(false, clock.now() / 1000);
      parts.lastReload = { ok: false, at: clock.now(), error: message };
      logger.error('configuration reload failed; the running configuration stays in force', { error: message });
      return false;
    }
  };
}

/** summary-state.json in agent.stateDir: not named per shard or replica, so two would-be senders cannot both own it. */
function monthlySummary(
  config: LoadedConfig,
  history: HistoryService,
  deps: { clock: Clock; logger: Logger; env: NodeJS.ProcessEnv; metrics: MailprobeMetrics },
): MonthlySummary {
  mkdirSync(config.agent.stateDir, { recursive: true, mode: 0o700 });
  return new MonthlySummary({
    report: history.runBrief,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'summary' }),
    statePath: join(config.agent.stateDir, 'summary-state.json'),
    env: deps.env,
    onDelivery: (event) => deps.metrics.recordNotification(event.notifier, event.type, event.result),
  });
}

function listenerSecurity(webConfigFile: string | undefined, bearerTokenFile: string | undefined, logger: Logger): ListenerSecurity | undefined {
  if (webConfigFile === undefined && bearerTokenFile === undefined) return undefined;
  return new ListenerSecurity({
    logger: logger.child({ component: 'http' }),
    ...(webConfigFile ? { webConfigFile } : {}),
    ...(bearerTokenFile ? { bearerTokenFile } : {}),
  });
}

/**
 * The alerting section with the state file this agent owns: alert-state.json in agent.stateDir, named per shard
 * and per MAILPROBE_REPLICA so agents sharing the folder never overwrite each other. A file another live agent
 * owns is not touched: this agent then keeps its alert state in memory and says how to fix it.
 */
function withOwnedStateFile(
  config: LoadedConfig,
  alerting: NonNullable<LoadedConfig['alerting']>,
  claims: Map<string, Claim>,
  owner: { shard: ShardIdentity; env: NodeJS.ProcessEnv; logger: Logger },
): NonNullable<LoadedConfig['alerting']> {
  mkdirSync(config.agent.stateDir, { recursive: true, mode: 0o700 });
  // A pod name or host name; anything else that could leave the folder is replaced.
  const replica = owner.env.MAILPROBE_REPLICA?.replace(/[^A-Za-z0-9._-]/g, '_');
  const path = alerting.stateFile
    ? resolve(dirname(config.file), alerting.stateFile)
    : ownedStateFile(config.agent.stateDir, 'alert-state.json', { shard: owner.shard, ...(replica ? { replica } : {}) });
  for (const [held, other] of claims) {
    // A reload that moved this agent to another shard gives its old file up.
    if (held === path) continue;
    if (other.ok) other.release();
    claims.delete(held);
  }
  const claim = claims.get(path) ?? claimStateFile(path);
  claims.set(path, claim);
  if (claim.ok) return { ...alerting, stateFile: path };
  owner.logger.error('alert state file belongs to another agent; this one keeps its alert state in memory only', {
    path,
    heldBy: claim.heldBy,
    fix: 'give each agent its own agent.stateDir, or set MAILPROBE_REPLICA to a name unique to each replica (e.g. the pod name)',
  });
  const { stateFile: _shared, ...rest } = alerting;
  return rest;
}

/**
 * A listener other hosts reach that asks for no credential starts only when the operator said so (issue 25):
 * its pages name mailboxes, tenants and app IDs. TLS alone is not enough, as it hides nothing from the client.
 */
function refuseExposedListener(
  address: { host: string; port: number },
  security: ListenerSecurity | undefined,
  source: { config: LoadedConfig; listenFrom: string | undefined; env: NodeJS.ProcessEnv },
): void {
  const fromEnv = parseInsecureListenEnv(source.env.MAILPROBE_INSECURE_LISTEN);
  if (fromEnv === 'invalid') {
    throw new ConfigError([{ file: 'MAILPROBE_INSECURE_LISTEN', path: '', message: `"${source.env.MAILPROBE_INSECURE_LISTEN}" is neither true nor false` }]);
  }
  if (isLoopbackHost(address.host) || security?.authenticates || source.config.agent.insecureListen || fromEnv) return;
  const shown = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  throw new ExposedListenerError(shown, source.listenFrom ?? `agent.listen in ${source.config.file}`);
}

function listenAddress(override: string | undefined, config: LoadedConfig): { host: string; port: number } {
  if (!override) return { host: config.agent.host, port: config.agent.port };
  return parseListen(override);
}

/**
 * The agent's fold as it stood before the restart: history's stored states, else the streaks the alert state file
 * kept. History does not store a passing streak's length, so the alert file's count of passes while firing wins.
 */
function savedStates(restored: readonly RestoredCheck[], streaks: ReadonlyMap<string, CheckState>): Map<string, CheckState> {
  const states = new Map(restored.map((check) => [checkKey(check.row), check.state]));
  for (const [key, streak] of streaks) {
    const stored = states.get(key);
    if (!stored) states.set(key, streak);
    else if (stored.state === streak.state) states.set(key, { ...stored, consecutiveSuccesses: streak.consecutiveSuccesses });
  }
  return states;
}
