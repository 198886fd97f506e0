import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import cron from 'node-cron';
import { PROTOCOLS, type Protocol } from '../core/check.js';
import { cacheFileFor, TOKEN_CACHE_KEY_FILE } from './token-cache-path.js';
import { CLOUD_ENDPOINTS, cloudHost, resourceScope, TOKEN_RESOURCE } from '../core/clouds.js';
import { CHECK } from '../core/checks.js';
import type { Endpoint, TlsSettings } from '../core/endpoint.js';
import { byProtocol, PROTOCOL, type ProtocolDescriptor } from '../core/protocols.js';
import { BUILT_IN_DEFAULTS, parseListen, PROBE_ID_KEY_FILE, probeMailSettings } from './defaults.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { monthlySummaryIssues } from './history.js';
import { caFileProblem, certificatePairProblem } from './pem.js';
import { probeIdKeyFileProblem } from './probe-id-key.js';
import { scheduleIntervalSeconds } from './schedule.js';
import type { MonitorInput, MonitorsFileInput, TenantInput } from './schema.js';
import { errorCode, resolveFrom } from './secrets.js';
import type { AgentSettings, ConfigOverrides, DelegatedSettings, LoadedConfig, ResolvedMonitor, ResolvedTenant } from './types.js';

// From the validated file to what the agent runs: defaults applied, paths resolved, cross-field rules checked.

export function resolveConfig(input: MonitorsFileInput, file: string, overrides: ConfigOverrides = {}): LoadedConfig {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const baseDir = dirname(file);
  const defaults = input.defaults ?? {};

  const defaultTls = readTls(defaults.tls, baseDir, file, 'defaults.tls', issues, warnings);
  const agent = resolveAgent(input, baseDir, overrides);
  const tokenCacheKeyFile = input.agent?.tokenCacheKeyFile ? resolveFrom(baseDir, input.agent.tokenCacheKeyFile) : join(agent.stateDir, TOKEN_CACHE_KEY_FILE);
  const tenants = new Map<string, ResolvedTenant>();
  for (const [key, tenant] of Object.entries(input.tenants)) {
    const resolvedTenant = resolveTenant(key, tenant, baseDir, authorityTls(key, tenant, defaultTls, baseDir, file, issues, warnings));
    if (tenant.credential.type === 'delegated')
      resolvedTenant.delegated = delegatedSettings(resolvedTenant, tenant.credential, agent.stateDir, tokenCacheKeyFile);
    tenants.set(key, resolvedTenant);
    const pair = certificatePairIssue(key, tenant, baseDir, file);
    if (pair) issues.push(pair);
    if (tenant.credential.type === 'secret' && typeof tenant.credential.secret === 'string') {
      warnings.push({
        file,
        path: `tenants.${key}.credential.secret`,
        message: 'the client secret is written in the file; use {"env": "VAR"} or {"file": "path"} instead',
      });
    }
    if (tenant.credential.type === 'delegated' && tenant.credentialExpiryFromGraph) {
      warnings.push({
        file,
        path: `tenants.${key}.credentialExpiryFromGraph`,
        message: 'ignored for a delegated sign-in: it has no app secret or certificate; the sign-in’s own lapse is exported instead',
      });
    } else if ((tenant.credential.type === 'federated' || tenant.credential.type === 'managedIdentity') && tenant.credentialExpiryFromGraph) {
      warnings.push({
        file,
        path: `tenants.${key}.credentialExpiryFromGraph`,
        message: 'ignored without a secret or certificate: the federated or managed-identity token’s own expiry is exported instead',
      });
    }
  }

  const probeIdKeyFile = input.agent?.probeIdKeyFile ? resolveFrom(baseDir, input.agent.probeIdKeyFile) : join(agent.stateDir, PROBE_ID_KEY_FILE);
  // 20,000 monitors usually share a handful of schedules and TLS settings: each distinct one is checked once.
  const schedules = new Map<string, number | undefined>();
  const tlsByKey = new Map<string, TlsSettings>();
  const keyProblem = probeIdKeyFileProblem(probeIdKeyFile);
  if (keyProblem) issues.push({ file, path: input.agent?.probeIdKeyFile ? 'agent.probeIdKeyFile' : 'agent.stateDir', message: keyProblem });
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
    if (!schedules.has(schedule)) schedules.set(schedule, cron.validate(schedule) ? scheduleIntervalSeconds(schedule) : undefined);
    const intervalSeconds = schedules.get(schedule);
    if (intervalSeconds === undefined) {
      issues.push({ file, path: `${at}.schedule`, message: `"${schedule}" is not a valid cron expression` });
      return;
    }
    const tlsInput = monitor.tls ? { ...defaults.tls, ...monitor.tls } : undefined;
    const tls = tlsInput ? sharedTls(tlsByKey, tlsInput, () => readTls(tlsInput, baseDir, file, `${at}.tls`, issues, warnings)) : defaultTls;
    const hveHost = CLOUD_ENDPOINTS[tenant.cloud].hveSmtpHost;
    if (monitor.hve && !hveHost) {
      issues.push({
        file,
        path: `${at}.hve`,
        message: `High Volume Email is documented for the worldwide cloud only (smtp-hve.office365.com); tenant "${tenant.key}" is in cloud "${tenant.cloud}"`,
      });
      return;
    }
    const resolved = resolveMonitor(monitor, tenant, defaults, schedule, intervalSeconds, tls, probeIdKeyFile);
    // The delegated sign-in is asked for Exchange Online's delegated permissions only; a check whose token is for
    // another service (Microsoft Graph) would be handed an Outlook token and refused for the wrong audience.
    const foreign = tenant.delegated ? resolved.checks.find((check) => CHECK[check].resource !== 'exchange') : undefined;
    if (foreign) {
      issues.push({
        file,
        path: `${at}.checks`,
        message: `the ${foreign} check needs a ${TOKEN_RESOURCE[CHECK[foreign].resource].label} token of the app's own (application permissions or Exchange RBAC for Applications); tenant "${tenant.key}" signs in as a user, which gets Exchange Online tokens only. Run it under a tenant entry with a secret, certificate, federated or managed-identity credential`,
      });
      return;
    }
    const elsewhere = resolved.endpoints.smtp.recipient !== undefined && resolved.endpoints.smtp.recipient.toLowerCase() !== monitor.mailbox.toLowerCase();
    const waiting = resolved.checks.find((check) => CHECK[check].waitsForDelivery);
    if (elsewhere && waiting) {
      issues.push({
        file,
        path: `${at}.hve.recipient`,
        message: `the ${waiting} check waits for its probe message in ${monitor.mailbox}, which a message to another recipient never reaches; leave recipient out or drop ${waiting}`,
      });
      return;
    }
    const roundtripSeconds = (resolved.probeMail?.roundtrip.timeoutMs ?? 0) / 1000;
    if (resolved.checks.some((check) => CHECK[check].waitsForDelivery) && roundtripSeconds > resolved.intervalSeconds) {
      warnings.push({
        file,
        path: `${at}.schedule`,
        message: `a roundtrip check may last ${roundtripSeconds} s (timeoutSeconds + roundtrip.deadlineSeconds), longer than the ${resolved.intervalSeconds} s between runs; a run that finds the previous one still going is skipped`,
      });
    }
    monitors.push(resolved);
  });
  for (const issue of monthlySummaryIssues(input)) issues.push({ file, ...issue });
  for (const issue of delegatedIssues(tenants, monitors)) issues.push({ file, ...issue });
  if (issues.length > 0) throw new ConfigError(issues);

  const statusPage = { ...BUILT_IN_DEFAULTS.statusPage, ...input.statusPage };
  return {
    file,
    agent,
    tenants,
    monitors,
    ...(input.alerting ? { alerting: input.alerting } : {}),
    statusPage,
    ...(input.history ? { history: input.history } : {}),
    ...(input.sla ? { sla: input.sla } : {}),
    warnings,
  };
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
    scope: tenant.scope ?? resourceScope(cloud, 'exchange'),
    baseDir,
    tls,
    ...(tenant.authorization ? { authorization: tenant.authorization } : {}),
    ...(tenant.proxy !== undefined ? { proxy: tenant.proxy } : {}),
    ...(tenant.credentialExpiryFromGraph
      ? { graph: { resource: endpoints.resources.graph.uri, ...(tenant.graphUrl ? { baseUrl: tenant.graphUrl } : {}) } }
      : {}),
  };
}

function delegatedSettings(
  tenant: ResolvedTenant,
  credential: Extract<TenantInput['credential'], { type: 'delegated' }>,
  stateDir: string,
  keyFile: string,
): DelegatedSettings {
  return {
    account: credential.account,
    cacheFile: cacheFileFor(stateDir, { tenantId: tenant.tenantId, clientId: tenant.clientId, account: credential.account }),
    keyFile,
    scopes: [],
    ...(credential.signInFrequencyHours !== undefined ? { signInFrequencySeconds: Math.round(credential.signInFrequencyHours * 3600) } : {}),
  };
}

/**
 * A delegated sign-in is shared by every monitor of its tenant entry, so it asks for what all their checks need
 * (in protocol order, each once). A user's token opens the user's own mailbox: a monitor of another mailbox
 * needs Full Access for the user there, which the token cannot show, so that is a warning, not an error.
 */
function delegatedIssues(tenants: Map<string, ResolvedTenant>, monitors: ResolvedMonitor[]): Array<Omit<ConfigIssue, 'file'>> {
  const issues: Array<Omit<ConfigIssue, 'file'>> = [];
  for (const tenant of tenants.values()) {
    if (!tenant.delegated) continue;
    const own = monitors.filter((monitor) => monitor.tenant === tenant);
    const protocols = new Set(own.flatMap((monitor) => monitor.checks.flatMap((check) => CHECK[check].protocols)));
    const exchange = PROTOCOLS.filter((protocol) => protocols.has(protocol) && (PROTOCOL[protocol] as ProtocolDescriptor).resource === 'exchange');
    const resource = tenant.scope.replace(/\/\.default$/, '');
    tenant.delegated.scopes = [...exchange.map((protocol) => `${resource}/${PROTOCOL[protocol].delegatedScope}`), 'offline_access'];
    if (!/\/\.default$/.test(tenant.scope)) {
      issues.push({
        path: `tenants.${tenant.key}.scope`,
        message: `a delegated sign-in asks for the Outlook resource's delegated permissions; give the resource as "<resource>/.default" (found "${tenant.scope}")`,
      });
    }
  }
  return issues;
}

function resolveMonitor(
  monitor: MonitorInput,
  tenant: ResolvedTenant,
  defaults: NonNullable<MonitorsFileInput['defaults']>,
  schedule: string,
  intervalSeconds: number,
  tls: TlsSettings,
  probeIdKeyFile: string,
): ResolvedMonitor {
  // A High Volume Email account differs in the endpoint of the protocol whose descriptor says how: host, the role
  // Exchange expects, and the recipient. (resolveConfig has refused HVE in a cloud without an HVE host.)
  const hveHost = monitor.hve ? CLOUD_ENDPOINTS[tenant.cloud].hveSmtpHost : undefined;
  const mailProxy = monitor.proxy ?? defaults.proxy;
  const endpoint = (protocol: Protocol): Endpoint => {
    const descriptor: ProtocolDescriptor = PROTOCOL[protocol];
    const hve =
      hveHost && descriptor.highVolume ? { host: hveHost, role: descriptor.highVolume.role, recipient: monitor.hve?.recipient ?? monitor.mailbox } : undefined;
    // HTTPS APIs (Microsoft Graph) get the bearer token as the login service gets the credential: the tenant's TLS
    // and proxy, never the mail servers' (whose verification an admin may have turned off).
    const https = descriptor.transport === 'https';
    const proxy = https ? tenant.proxy : mailProxy;
    return {
      host: monitor[protocol]?.host ?? defaults[protocol]?.host ?? hve?.host ?? cloudHost(tenant.cloud, protocol),
      port: monitor[protocol]?.port ?? defaults[protocol]?.port ?? descriptor.defaultPort,
      tls: https ? tenant.tls : tls,
      ...(proxy !== undefined ? { proxy } : {}),
      ...(hve ? { role: hve.role, recipient: hve.recipient } : {}),
    };
  };
  const endpoints = byProtocol(endpoint);
  // IMAP's own option, read from its own section.
  if (monitor.imap?.imap4rev2 ?? defaults.imap?.imap4rev2) endpoints.imap = { ...endpoints.imap, imap4rev2: true };
  const timeoutSeconds = monitor.timeoutSeconds ?? defaults.timeoutSeconds ?? BUILT_IN_DEFAULTS.timeoutSeconds;
  const stepSeconds = monitor.stepTimeoutSeconds ?? defaults.stepTimeoutSeconds ?? BUILT_IN_DEFAULTS.stepTimeoutSeconds;
  const stepTimeoutMs = Math.min(stepSeconds, timeoutSeconds) * 1000;
  return {
    name: monitor.name,
    tenant,
    mailbox: monitor.mailbox,
    enabled: monitor.enabled ?? true,
    ...(monitor.displayName !== undefined ? { displayName: monitor.displayName } : {}),
    ...(monitor.group !== undefined ? { group: monitor.group } : {}),
    public: monitor.public ?? true,
    checks: monitor.checks ?? defaults.checks ?? BUILT_IN_DEFAULTS.checks,
    ...((monitor.authorization ?? tenant.authorization) ? { authorization: monitor.authorization ?? tenant.authorization } : {}),
    schedule,
    intervalSeconds,
    timeoutMs: timeoutSeconds * 1000,
    stepTimeoutMs,
    endpoints,
    probeMail: probeMailSettings(
      {
        timeoutMs: timeoutSeconds * 1000,
        stepTimeoutMs,
        cleanup: monitor.cleanup ?? defaults.cleanup,
        deadlineSeconds: monitor.roundtrip?.deadlineSeconds ?? defaults.roundtrip?.deadlineSeconds,
        pollSeconds: monitor.roundtrip?.pollSeconds ?? defaults.roundtrip?.pollSeconds,
        sendBudget: {
          perMinute: monitor.sendBudget?.perMinute ?? defaults.sendBudget?.perMinute,
          perDay: monitor.sendBudget?.perDay ?? defaults.sendBudget?.perDay,
        },
      },
      probeIdKeyFile,
    ),
  };
}

function resolveAgent(input: MonitorsFileInput, baseDir: string, overrides: ConfigOverrides): AgentSettings {
  const agent = input.agent ?? {};
  return {
    ...parseListen(agent.listen ?? BUILT_IN_DEFAULTS.listen),
    insecureListen: agent.insecureListen ?? false,
    concurrency: agent.concurrency ?? BUILT_IN_DEFAULTS.concurrency,
    logLevel: agent.logLevel ?? BUILT_IN_DEFAULTS.logLevel,
    metrics: agent.metrics ?? 'full',
    shutdownGraceMs: (agent.shutdownGraceSeconds ?? BUILT_IN_DEFAULTS.shutdownGraceSeconds) * 1000,
    stateDir: overrides.stateDir ? resolve(overrides.stateDir) : resolveFrom(baseDir, agent.stateDir ?? BUILT_IN_DEFAULTS.stateDir),
    ...(agent.webConfigFile ? { webConfigFile: resolveFrom(baseDir, agent.webConfigFile) } : {}),
    ...(agent.bearerTokenFile ? { bearerTokenFile: resolveFrom(baseDir, agent.bearerTokenFile) } : {}),
    ...(agent.shard !== undefined ? { shard: agent.shard } : {}),
    ...(agent.totalShards !== undefined ? { totalShards: agent.totalShards } : {}),
  };
}

/**
 * A certificate and key that do not belong together fail at the token request as "upload the certificate";
 * caught here when both files can be read. Unreadable files are left to `validate`'s warnings, as they may exist
 * only where the agent runs.
 */
function certificatePairIssue(key: string, tenant: TenantInput, baseDir: string, file: string): ConfigIssue | undefined {
  const credential = tenant.credential;
  if (credential.type !== 'certificate') return undefined;
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(resolveFrom(baseDir, credential.certFile), 'utf8');
    keyPem = readFileSync(resolveFrom(baseDir, credential.keyFile), 'utf8');
  } catch {
    return undefined;
  }
  const problem = certificatePairProblem(certPem, keyPem);
  if (!problem) return undefined;
  const named = resolveFrom(baseDir, problem.field === 'certFile' ? credential.certFile : credential.keyFile);
  return { file, path: `tenants.${key}.credential.${problem.field}`, message: `${problem.message}: ${named}` };
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

// Monitors with the same TLS override share one settings object (and one read of the CA file); a failed read
// is not remembered, so each monitor naming a bad file is reported.
function sharedTls(cache: Map<string, TlsSettings>, input: { caFile?: string | undefined }, read: () => TlsSettings): TlsSettings {
  const key = JSON.stringify(input);
  const known = cache.get(key);
  if (known) return known;
  const settings = read();
  if (settings.ca !== undefined || !input.caFile) cache.set(key, settings);
  return settings;
}

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
  let text: string;
  try {
    text = readFileSync(caPath, 'utf8');
  } catch (error) {
    issues.push({ file, path: `${path}.caFile`, message: `cannot read ${caPath} (${errorCode(error)})` });
    return settings;
  }
  const problem = caFileProblem(text);
  if (problem) issues.push({ file, path: `${path}.caFile`, message: `${problem}: ${caPath}` });
  else settings.ca = [text];
  return settings;
}
