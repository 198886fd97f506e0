import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createNotifier, type Notifier } from '../alerting/notifier.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile, type LoadedConfig } from '../config/load.js';
import { ListenerSecurity } from '../http/security.js';
import { startHttpServer, type RunningHttpServer } from '../http/server.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Redactor } from '../log/redact.js';
import { MailprobeMetrics } from '../metrics/metrics.js';
import { Agent, type ResultListener } from '../runner/agent.js';
import { jobsOf } from '../runner/scheduler.js';
import { systemClock } from '../runner/clock.js';
import { createRuntime } from '../runner/runtime.js';
import { existsSync } from 'node:fs';
import { demoCommand } from './demo.js';
import { configPath, EXIT, parseCommandArgs, print, type CliIO } from './io.js';
import { VERSION } from './version.js';

export const RUN_HELP = `Usage: mailprobe run [--config FILE] [--listen HOST:PORT] [--web.config.file FILE] [--log-format json|pretty]

The agent: runs every monitor's checks on its schedule and serves /metrics, /healthz, /readyz and
/api/status. SIGHUP (or saving the file) reloads the configuration; an invalid file is logged and the
running one stays. SIGTERM/SIGINT stop scheduling, let checks in flight finish, and exit 0.
--web.config.file takes a Prometheus exporter-toolkit web configuration file (TLS, client certificates,
basic_auth_users); /healthz and /readyz stay open, /metrics and /api/* then need a credential.
With the shipped example monitors.json (placeholder IDs) it runs the built-in offline demo instead.`;

export interface AgentHandle {
  agent: Agent;
  http: RunningHttpServer;
  metrics: MailprobeMetrics;
  logger: Logger;
  reload(): boolean;
  stop(): Promise<void>;
}

export async function runCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs('run', args, {
    config: { type: 'string' },
    listen: { type: 'string' },
    'web.config.file': { type: 'string' },
    'log-format': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    print(io.stdout, RUN_HELP);
    return EXIT.ok;
  }
  const file = configPath(values.config, io);
  const demoArgs = [...(values.listen ? ['--listen', values.listen] : []), ...(values['web.config.file'] ? ['--web.config.file', values['web.config.file']] : [])];
  const chosen = values.config !== undefined || io.env.MAILPROBE_CONFIG !== undefined;
  if (!chosen && !existsSync(file)) {
    print(io.stdout, `mailprobe: no ${file} here and none given with --config; running the built-in offline demo.`);
    return demoCommand(demoArgs, io);
  }
  const config = loadConfigFile(file);
  if (!chosen && isShippedExample(config)) {
    print(io.stdout, `mailprobe: ${file} still holds the example's placeholder client ID; running the built-in offline demo.`);
    print(io.stdout, 'Bring your tenant: put its IDs in monitors.json (see README), then run mailprobe again.');
    return demoCommand(demoArgs, io);
  }
  const format = values['log-format'] === 'json' || values['log-format'] === 'pretty' ? values['log-format'] : 'auto';
  const handle = await startAgent(config, {
    io,
    format,
    ...(values.listen ? { listen: values.listen } : {}),
    ...(values['web.config.file'] ? { webConfigFile: resolve(io.cwd, values['web.config.file']) } : {}),
  });
  await untilSignal(handle);
  return EXIT.ok;
}

/** Starts the whole daemon on a loaded config; shared by `run` and `demo`. */
export async function startAgent(
  config: LoadedConfig,
  options: { io: CliIO; format?: 'json' | 'pretty' | 'auto'; listen?: string; webConfigFile?: string; listeners?: ResultListener[] },
): Promise<AgentHandle> {
  const redactor = new Redactor();
  const logger = createLogger({
    level: options.io.env.MAILPROBE_LOG_LEVEL ?? config.agent.logLevel,
    format: options.format ?? 'auto',
    redactor,
    stream: options.io.stderr,
  });
  for (const warning of config.warnings) logger.warn('configuration warning', { path: warning.path, warning: warning.message });

  const clock = systemClock;
  const metrics = new MailprobeMetrics({ version: VERSION, detail: config.agent.metrics });
  const { deps } = createRuntime({
    clock,
    redactor,
    env: options.io.env,
    events: {
      onRequest: (tenant, result) => metrics.recordTokenRequest(tenant.key, tenant.clientId, result),
      onToken: (tenant, info) => metrics.setToken(tenant.key, tenant.clientId, { expiresAt: info.expiresAt / 1000, roles: info.roles }),
    },
  });
  // The notifier is rebuilt when the alerting section changes on reload; its state file keeps alerts from re-firing.
  let notifier: Notifier | undefined;
  const configureAlerting = (next: LoadedConfig): void => {
    const previous = notifier;
    notifier = next.alerting
      ? createNotifier({ ...next.alerting, stateFile: next.alerting.stateFile ?? alertStateFile(next) }, {
          logger: logger.child({ component: 'alerting' }),
          clock,
          baseDir: dirname(next.file),
          env: options.io.env,
          onDelivery: (event) => metrics.recordNotification(event.notifier, event.type, event.result),
        })
      : undefined;
    notifier?.retain(jobsOf(next.monitors).map((job) => ({ monitor: job.monitor.name, check: job.check })));
    void previous?.close();
  };
  configureAlerting(config);
  let alertingSection = JSON.stringify(config.alerting ?? null);
  const listeners: ResultListener[] = [...(options.listeners ?? []), (result) => notifier?.listener(result)];
  const agent = new Agent({ deps, metrics, logger, clock, listeners, env: options.io.env });
  let lastReload = { ok: true, at: clock.now(), error: undefined as string | undefined };

  const { host, port } = listenAddress(options.listen, config);
  const security = listenerSecurity(options.webConfigFile ?? config.agent.webConfigFile, config.agent.bearerTokenFile, logger);
  const http = await startHttpServer({
    host,
    port,
    metrics,
    logger,
    ...(security ? { security } : {}),
    health: () => ({
      ready: agent.config !== undefined && agent.scheduling,
      detail: { configLoaded: agent.config !== undefined, scheduling: agent.scheduling, checksInFlight: agent.inFlight() },
    }),
    status: () => ({
      version: VERSION,
      startedAt: new Date(agent.startedAt).toISOString(),
      config: { file: agent.config?.file, lastReloadOk: lastReload.ok, lastReloadAt: new Date(lastReload.at).toISOString(), lastReloadError: lastReload.error },
      checks: agent.status.list(),
    }),
  });
  agent.start(config, { runAtStart: true });
  metrics.setConfigReload(true, clock.now() / 1000);
  logger.info('mailprobe started', { version: VERSION, config: config.file, monitors: config.monitors.length, listen: http.url });

  const reload = (): boolean => {
    try {
      const next = loadConfigFile(config.file);
      agent.reload(next);
      const section = JSON.stringify(next.alerting ?? null);
      if (section !== alertingSection) {
        configureAlerting(next);
        alertingSection = section;
      } else {
        notifier?.retain(jobsOf(next.monitors).map((job) => ({ monitor: job.monitor.name, check: job.check })));
      }
      metrics.setConfigReload(true, clock.now() / 1000);
      lastReload = { ok: true, at: clock.now(), error: undefined };
      logger.info('configuration reloaded', { config: next.file, monitors: next.monitors.length });
      return true;
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error);
      metrics.setConfigReload(false, clock.now() / 1000);
      lastReload = { ok: false, at: clock.now(), error: message };
      logger.error('configuration reload failed; the running configuration stays in force', { error: message });
      return false;
    }
  };

  return {
    agent,
    http,
    metrics,
    logger,
    reload,
    stop: async () => {
      const { unfinished } = await agent.stop(config.agent.shutdownGraceMs);
      if (unfinished > 0) logger.warn('stopped with checks still in flight', { unfinished });
      await notifier?.close();
      await http.close();
      logger.info('mailprobe stopped');
    },
  };
}

function listenerSecurity(webConfigFile: string | undefined, bearerTokenFile: string | undefined, logger: Logger): ListenerSecurity | undefined {
  if (webConfigFile === undefined && bearerTokenFile === undefined) return undefined;
  return new ListenerSecurity({ logger: logger.child({ component: 'http' }), ...(webConfigFile ? { webConfigFile } : {}), ...(bearerTokenFile ? { bearerTokenFile } : {}) });
}

function alertStateFile(config: LoadedConfig): string {
  mkdirSync(config.agent.stateDir, { recursive: true, mode: 0o700 });
  return join(config.agent.stateDir, 'alert-state.json');
}

// Entra never issues the nil GUID as a client ID, so it marks a file nobody has filled in yet.
const PLACEHOLDER_CLIENT_ID = '00000000-0000-0000-0000-000000000000';

function isShippedExample(config: LoadedConfig): boolean {
  return [...config.tenants.values()].every((tenant) => tenant.clientId === PLACEHOLDER_CLIENT_ID);
}

function listenAddress(override: string | undefined, config: LoadedConfig): { host: string; port: number } {
  if (!override) return { host: config.agent.host, port: config.agent.port };
  const split = override.lastIndexOf(':');
  return { host: override.slice(0, split).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(override.slice(split + 1)) };
}

/** Resolves after SIGTERM/SIGINT and a graceful stop; SIGHUP and edits of the file reload meanwhile. */
export function untilSignal(handle: AgentHandle, file = handle.agent.config?.file): Promise<void> {
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  if (file) {
    try {
      // Editors replace files (rename) or write twice; a short debounce turns that into one reload.
      watcher = watch(file, () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => handle.reload(), 300);
      });
    } catch {
      handle.logger.warn('cannot watch the configuration file; reload with SIGHUP', { config: file });
    }
  }
  const onHup = (): void => {
    handle.reload();
  };
  process.on('SIGHUP', onHup);
  return new Promise((resolve) => {
    const onStop = (signal: NodeJS.Signals): void => {
      handle.logger.info('stopping', { signal });
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
      watcher?.close();
      clearTimeout(debounce);
      void handle.stop().then(resolve);
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}
