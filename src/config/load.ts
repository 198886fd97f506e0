import { readFileSync } from 'node:fs';
import type { AlertingConfigInput } from '../alerting/schema.js';
import { dirname, join, resolve } from 'node:path';
import cron from 'node-cron';
import type { z } from 'zod';
import type { CheckKind, Protocol } from '../core/check.js';
import type { Endpoint, TlsSettings } from '../core/endpoint.js';
import { CLOUD_ENDPOINTS, DEFAULT_PORTS } from './clouds.js';
import { ConfigError, jsonPath, type ConfigIssue } from './errors.js';
import { blankComments, lineAndColumn } from './jsonc.js';
import {
  MonitorsFile,
  type Cloud,
  type CredentialInput,
  type MonitorInput,
  type MonitorsFileInput,
  type TenantInput,
} from './schema.js';
import { errorCode, resolveFrom } from './secrets.js';

export interface ResolvedTenant {
  key: string;
  tenantId: string;
  clientId: string;
  cloud: Cloud;
  credential: CredentialInput;
  /** host[:port] of the login service, no scheme. */
  authorityHost: string;
  scope: string;
  /** Where relative credential paths are resolved from (the config file's folder). */
  baseDir: string;
  tls: TlsSettings;
  /** Set when the app's own credential expiry is read from Microsoft Graph. */
  graph?: { resource: string; baseUrl?: string };
}

export interface ResolvedMonitor {
  name: string;
  tenant: ResolvedTenant;
  mailbox: string;
  enabled: boolean;
  checks: CheckKind[];
  schedule: string;
  /** Seconds between two runs of the schedule, for freshness alerts and jitter spread. */
  intervalSeconds: number;
  timeoutMs: number;
  stepTimeoutMs: number;
  endpoints: Record<Protocol, Endpoint>;
  /** Always set by the loader; a monitor built by hand (tests) goes without and gets probeMailOf()'s defaults. */
  probeMail?: ProbeMailSettings;
}

/** What the sending checks (smtp, roundtrip) need beyond the endpoints. */
export interface ProbeMailSettings {
  /** false: probe messages are left in the mailbox. */
  cleanup: boolean;
  roundtrip: {
    /** How long to wait for the probe message in the INBOX. */
    deadlineMs: number;
    /** Pause between two INBOX searches; below stepTimeoutMs, so the IMAP session's watchdog never trips between. */
    pollMs: number;
    /**
     * The roundtrip check's whole deadline: the monitor's timeoutSeconds (which covers the SMTP session and the
     * IMAP session with its cleanup, as for the other checks) plus the delivery deadline.
     */
    timeoutMs: number;
  };
  sendBudget: { perMinute: number; perDay: number };
  /** The key file that signs and verifies this agent's probe ids. */
  probeIdKeyFile: string;
}

export interface AgentSettings {
  host: string;
  port: number;
  concurrency: number;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  metrics: 'full' | 'basic';
  shutdownGraceMs: number;
  /** Absolute path of the agent's state folder. */
  stateDir: string;
  /** Absolute paths of the listener's security files, when configured. */
  webConfigFile?: string;
  bearerTokenFile?: string;
}

export interface LoadedConfig {
  file: string;
  agent: AgentSettings;
  tenants: Map<string, ResolvedTenant>;
  monitors: ResolvedMonitor[];
  alerting?: AlertingConfigInput;
  warnings: ConfigIssue[];
}

export const BUILT_IN_DEFAULTS = {
  checks: ['imap', 'smtp'] as CheckKind[],
  schedule: '*/5 * * * *',
  timeoutSeconds: 60,
  stepTimeoutSeconds: 20,
  listen: '0.0.0.0:9465',
  concurrency: 32,
  logLevel: 'info' as const,
  shutdownGraceSeconds: 30,
  stateDir: '.mailprobe',
  roundtripDeadlineSeconds: 300,
  roundtripPollSeconds: 5,
  cleanup: true,
  // A tenth of Exchange Online's SMTP AUTH limits (30 a minute, 10,000 recipients a day per mailbox).
  sendBudget: { perMinute: 3, perDay: 1000 },
};

export const PROBE_ID_KEY_FILE = 'probe-id.key';

export function loadConfigFile(file: string): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file: path, path: '', message: `cannot read the file (${errorCode(error)})` }]);
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, file: string): LoadedConfig {
  const input = parseJson(text, file);
  const parsed = MonitorsFile.safeParse(input);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => schemaIssue(file, issue)));
  return resolveConfig(parsed.data, file);
}

function parseJson(text: string, file: string): unknown {
  const blanked = blankComments(text);
  try {
    return JSON.parse(blanked);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message);
    const where = position ? lineAndColumn(blanked, Number(position[1])) : undefined;
    const at = where ? ` at line ${where.line}, column ${where.column}` : '';
    throw new ConfigError([{ file, path: '', message: `not valid JSON${at}: ${message.replace(/ in JSON.*$/, '')}` }]);
  }
}

function schemaIssue(file: string, issue: z.core.$ZodIssue): ConfigIssue {
  const path = jsonPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return { file, path, message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` };
  }
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    return { file, path, message: 'expected "type" to be "secret" or "certificate"' };
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
    return { file, path, message: `missing (expected ${issue.expected})` };
  }
  return { file, path, message: issue.message.replace(/^Invalid (input|option): /, '') };
}

function resolveConfig(input: MonitorsFileInput, file: string): LoadedConfig {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const baseDir = dirname(file);
  const defaults = input.defaults ?? {};

  const defaultTls = readTls(defaults.tls, baseDir, file, 'defaults.tls', issues, warnings);
  const tenants = new Map<string, ResolvedTenant>();
  for (const [key, tenant] of Object.entries(input.tenants)) {
    tenants.set(key, resolveTenant(key, tenant, baseDir, authorityTls(key, tenant, defaultTls, baseDir, file, issues, warnings)));
    if (tenant.credential.type === 'secret' && typeof tenant.credential.secret === 'string') {
      warnings.push({
        file,
        path: `tenants.${key}.credential.secret`,
        message: 'the client secret is written in the file; use {"env": "VAR"} or {"file": "path"} instead',
      });
    }
  }

  const agent = resolveAgent(input, baseDir);
  const probeIdKeyFile = join(agent.stateDir, PROBE_ID_KEY_FILE);
  const seen = new Set<string>();
  const monitors: ResolvedMonitor[] = [];
  input.monitors.forEach((monitor, index) => {
    const at = `monitors[${index}]`;
    if (seen.has(monitor.name)) issues.push({ file, path: `${at}.name`, message: `duplicate monitor name "${monitor.name}"` });
    seen.add(monitor.name);
    const tenant = tenants.get(monitor.tenant);
    if (!tenant) {
      const known = [...tenants.keys()].map((k) => `"${k}"`).join(', ') || 'none defined';
      issues.push({ file, path: `${at}.tenant`, message: `unknown tenant "${monitor.tenant}" (tenants: ${known})` });
      return;
    }
    const schedule = monitor.schedule ?? defaults.schedule ?? BUILT_IN_DEFAULTS.schedule;
    if (!cron.validate(schedule)) {
      issues.push({ file, path: `${at}.schedule`, message: `"${schedule}" is not a valid cron expression` });
      return;
    }
    const tls = monitor.tls ? readTls({ ...defaults.tls, ...monitor.tls }, baseDir, file, `${at}.tls`, issues, warnings) : defaultTls;
    const resolved = resolveMonitor(monitor, tenant, defaults, schedule, tls, probeIdKeyFile);
    const roundtripSeconds = (resolved.probeMail?.roundtrip.timeoutMs ?? 0) / 1000;
    if (resolved.checks.includes('roundtrip') && roundtripSeconds > resolved.intervalSeconds) {
      warnings.push({
        file,
        path: `${at}.schedule`,
        message: `a roundtrip check may last ${roundtripSeconds} s (timeoutSeconds + roundtrip.deadlineSeconds), longer than the ${resolved.intervalSeconds} s between runs; a run that finds the previous one still going is skipped`,
      });
    }
    monitors.push(resolved);
  });
  if (issues.length > 0) throw new ConfigError(issues);

  return { file, agent, tenants, monitors, ...(input.alerting ? { alerting: input.alerting } : {}), warnings };
}

function resolveTenant(key: string, tenant: TenantInput, baseDir: string, tls: TlsSettings): ResolvedTenant {
  const cloud = tenant.cloud ?? 'global';
  const endpoints = CLOUD_ENDPOINTS[cloud];
  return {
    key,
    tenantId: tenant.tenantId,
    clientId: tenant.clientId,
    cloud,
    credential: tenant.credential,
    authorityHost: (tenant.authorityHost ?? endpoints.authorityHost).replace(/^https:\/\//, '').replace(/\/+$/, ''),
    scope: tenant.scope ?? endpoints.scope,
    baseDir,
    tls,
    ...(tenant.credentialExpiryFromGraph ? { graph: { resource: endpoints.graph, ...(tenant.graphUrl ? { baseUrl: tenant.graphUrl } : {}) } } : {}),
  };
}

function resolveMonitor(
  monitor: MonitorInput,
  tenant: ResolvedTenant,
  defaults: NonNullable<MonitorsFileInput['defaults']>,
  schedule: string,
  tls: TlsSettings,
  probeIdKeyFile: string,
): ResolvedMonitor {
  const cloud = CLOUD_ENDPOINTS[tenant.cloud];
  const endpoint = (protocol: Protocol, host: string): Endpoint => ({
    host: monitor[protocol]?.host ?? defaults[protocol]?.host ?? host,
    port: monitor[protocol]?.port ?? defaults[protocol]?.port ?? DEFAULT_PORTS[protocol],
    tls,
  });
  const timeoutSeconds = monitor.timeoutSeconds ?? defaults.timeoutSeconds ?? BUILT_IN_DEFAULTS.timeoutSeconds;
  const stepSeconds = monitor.stepTimeoutSeconds ?? defaults.stepTimeoutSeconds ?? BUILT_IN_DEFAULTS.stepTimeoutSeconds;
  const stepTimeoutMs = Math.min(stepSeconds, timeoutSeconds) * 1000;
  const deadlineSeconds =
    monitor.roundtrip?.deadlineSeconds ?? defaults.roundtrip?.deadlineSeconds ?? BUILT_IN_DEFAULTS.roundtripDeadlineSeconds;
  const pollSeconds = monitor.roundtrip?.pollSeconds ?? defaults.roundtrip?.pollSeconds ?? BUILT_IN_DEFAULTS.roundtripPollSeconds;
  return {
    name: monitor.name,
    tenant,
    mailbox: monitor.mailbox,
    enabled: monitor.enabled ?? true,
    checks: monitor.checks ?? defaults.checks ?? BUILT_IN_DEFAULTS.checks,
    schedule,
    intervalSeconds: scheduleIntervalSeconds(schedule),
    timeoutMs: timeoutSeconds * 1000,
    stepTimeoutMs,
    endpoints: {
      imap: endpoint('imap', cloud.mailHost),
      pop3: endpoint('pop3', cloud.mailHost),
      smtp: endpoint('smtp', cloud.smtpHost),
    },
    probeMail: {
      cleanup: monitor.cleanup ?? defaults.cleanup ?? BUILT_IN_DEFAULTS.cleanup,
      roundtrip: {
        deadlineMs: deadlineSeconds * 1000,
        pollMs: Math.min(pollSeconds * 1000, stepTimeoutMs / 2),
        timeoutMs: (timeoutSeconds + deadlineSeconds) * 1000,
      },
      sendBudget: {
        perMinute: monitor.sendBudget?.perMinute ?? defaults.sendBudget?.perMinute ?? BUILT_IN_DEFAULTS.sendBudget.perMinute,
        perDay: monitor.sendBudget?.perDay ?? defaults.sendBudget?.perDay ?? BUILT_IN_DEFAULTS.sendBudget.perDay,
      },
      probeIdKeyFile,
    },
  };
}

/** The monitor's probe-mail settings, or the built-in defaults for a monitor built by hand. */
export function probeMailOf(monitor: ResolvedMonitor): ProbeMailSettings {
  if (monitor.probeMail) return monitor.probeMail;
  const deadlineMs = BUILT_IN_DEFAULTS.roundtripDeadlineSeconds * 1000;
  return {
    cleanup: BUILT_IN_DEFAULTS.cleanup,
    roundtrip: {
      deadlineMs,
      pollMs: Math.min(BUILT_IN_DEFAULTS.roundtripPollSeconds * 1000, monitor.stepTimeoutMs / 2),
      timeoutMs: monitor.timeoutMs + deadlineMs,
    },
    sendBudget: { ...BUILT_IN_DEFAULTS.sendBudget },
    probeIdKeyFile: resolve(monitor.tenant.baseDir, BUILT_IN_DEFAULTS.stateDir, PROBE_ID_KEY_FILE),
  };
}

function resolveAgent(input: MonitorsFileInput, baseDir: string): AgentSettings {
  const agent = input.agent ?? {};
  return {
    ...parseListen(agent.listen ?? BUILT_IN_DEFAULTS.listen),
    concurrency: agent.concurrency ?? BUILT_IN_DEFAULTS.concurrency,
    logLevel: agent.logLevel ?? BUILT_IN_DEFAULTS.logLevel,
    metrics: agent.metrics ?? 'full',
    shutdownGraceMs: (agent.shutdownGraceSeconds ?? BUILT_IN_DEFAULTS.shutdownGraceSeconds) * 1000,
    stateDir: resolveFrom(baseDir, agent.stateDir ?? BUILT_IN_DEFAULTS.stateDir),
    ...(agent.webConfigFile ? { webConfigFile: resolveFrom(baseDir, agent.webConfigFile) } : {}),
    ...(agent.bearerTokenFile ? { bearerTokenFile: resolveFrom(baseDir, agent.bearerTokenFile) } : {}),
  };
}

/**
 * TLS towards the login host and Graph. The mail servers' tls never turns its verification off: the client
 * secret or signed assertion goes there, so only the tenant's own authorityTls can, written out. The private CA
 * of defaults.tls is still trusted, as test beds run the login service and the mail servers under one CA.
 */
function authorityTls(
  key: string,
  tenant: TenantInput,
  mailTls: TlsSettings,
  baseDir: string,
  file: string,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
): TlsSettings {
  const own = tenant.authorityTls;
  if (!own) return { ...(mailTls.ca ? { ca: mailTls.ca } : {}), rejectUnauthorized: true };
  const path = `tenants.${key}.authorityTls`;
  const settings = readTls(own, baseDir, file, path, issues, warnings, LOGIN_VERIFICATION_OFF);
  return !settings.ca && mailTls.ca ? { ...settings, ca: mailTls.ca } : settings;
}

const MAIL_VERIFICATION_OFF = 'TLS certificate verification is disabled for the mail servers (the login host is still verified)';
const LOGIN_VERIFICATION_OFF =
  'TLS certificate verification of the login host and Microsoft Graph is disabled: the client secret or signed assertion is sent to whoever answers';

function readTls(
  tls: { caFile?: string | undefined; rejectUnauthorized?: boolean | undefined } | undefined,
  baseDir: string,
  file: string,
  path: string,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
  offWarning = MAIL_VERIFICATION_OFF,
): TlsSettings {
  const settings: TlsSettings = { rejectUnauthorized: tls?.rejectUnauthorized ?? true };
  if (!settings.rejectUnauthorized) {
    warnings.push({ file, path: `${path}.rejectUnauthorized`, message: offWarning });
  }
  if (!tls?.caFile) return settings;
  const caPath = resolveFrom(baseDir, tls.caFile);
  try {
    settings.ca = [readFileSync(caPath, 'utf8')];
  } catch (error) {
    issues.push({ file, path: `${path}.caFile`, message: `cannot read ${caPath} (${errorCode(error)})` });
  }
  return settings;
}

/**
 * The period of a cron schedule: the shortest gap between its next firings, which keeps freshness alerts
 * on the safe side for irregular schedules such as "0 9,17 * * *".
 */
/** host:port, [v6]:port or :port (all interfaces) as the agent and --listen accept it. */
export function parseListen(listen: string): { host: string; port: number } {
  const split = listen.lastIndexOf(':');
  return { host: listen.slice(0, split).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(listen.slice(split + 1)) };
}

export function scheduleIntervalSeconds(schedule: string): number {
  const task = cron.createTask(schedule, () => undefined);
  try {
    const runs = task.getNextRuns(12).map((date) => date.getTime());
    const gaps = runs.slice(1).map((time, i) => time - (runs[i] ?? time)).filter((gap) => gap > 0);
    return gaps.length > 0 ? Math.min(...gaps) / 1000 : 3600;
  } finally {
    void task.destroy();
  }
}
