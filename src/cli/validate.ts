import { existsSync } from 'node:fs';
import { CHECK } from '../core/checks.js';
import { cloudHost } from '../core/clouds.js';
import { SUBMISSION } from '../core/protocols.js';
import type { LoadedConfig } from '../config/types.js';
import { formatIssue, type ConfigIssue } from '../config/errors.js';
import { readSecret } from '../config/secrets.js';
import { credentialExpiry } from '../auth/token-provider.js';
import { readFederatedToken } from '../auth/federated.js';
import { EXCHANGE_SEND_LIMITS, expectedSends, SAFE_SHARE } from '../runner/send-budget.js';
import { EXIT, print, defineCommand, type CommandInput, type Options } from './io.js';

export const VALIDATE_HELP = `Usage: mailprobe validate [--config FILE]

Checks monitors.json against the schema and cross-references (tenants, names, schedules, files, env vars)
and exits: 0 valid, 2 invalid. Touches no network.`;

const VALIDATE_OPTIONS = { config: { type: 'string' } } satisfies Options;

export const validateCommand = defineCommand({ name: 'validate', help: VALIDATE_HELP, options: VALIDATE_OPTIONS, run: validate });

function validate({ io, readConfig }: CommandInput<typeof VALIDATE_OPTIONS>): number {
  const config = readConfig();
  // A credential may exist only in the service's environment, so an unreadable one warns instead of failing;
  // the agent then reports credential_missing on that tenant's checks.
  const warnings = [...config.warnings, ...credentialProblems(config, io.env), ...expiryWarnings(config), ...sendBudgetWarnings(config)];
  for (const warning of warnings) print(io.stderr, `warning: ${formatIssue(warning)}`);
  const enabled = config.monitors.filter((monitor) => monitor.enabled).length;
  print(io.stdout, `${config.file}: valid — ${config.tenants.size} tenant(s), ${config.monitors.length} monitor(s) (${enabled} enabled)`);
  return EXIT.ok;
}

/** Credentials are read lazily by the agent; validate reads them now so a typo shows before it matters. */
function credentialProblems(config: LoadedConfig, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const problems: ConfigIssue[] = [];
  for (const tenant of config.tenants.values()) {
    const credential = tenant.credential;
    const path = `tenants.${tenant.key}.credential`;
    if (credential.type === 'secret') {
      const lookup = readSecret(credential.secret, tenant.baseDir, env);
      if (!lookup.ok) problems.push({ file: config.file, path: `${path}.secret`, message: lookup.message });
      continue;
    }
    if (credential.type === 'federated') {
      const read = readFederatedToken(credential, tenant.baseDir, env);
      if (!read.ok) problems.push({ file: config.file, path: `${path}.tokenFile`, message: read.message });
      continue;
    }
    if (credential.type === 'delegated') {
      const file = tenant.delegated?.cacheFile ?? '';
      if (!existsSync(file)) {
        const monitor = config.monitors.find((candidate) => candidate.tenant === tenant);
        problems.push({
          file: config.file,
          path: `${path}.account`,
          message: `${credential.account} has not signed in yet: run \`mailprobe login --monitor ${monitor?.name ?? 'NAME'}\``,
        });
      }
      continue;
    }
    if (credential.type === 'managedIdentity') continue;
    if (!credentialExpiry(tenant)) {
      problems.push({ file: config.file, path: `${path}.certFile`, message: 'cannot read a PEM certificate from this file' });
    }
  }
  return problems;
}

function expiryWarnings(config: LoadedConfig): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  const now = Date.now();
  for (const tenant of config.tenants.values()) {
    const expiry = credentialExpiry(tenant);
    // A federated token lives an hour or so and is replaced before it ends: days ahead say nothing about it.
    if (!expiry || expiry.type === 'federated_token') continue;
    const days = Math.floor((expiry.expiresAt - now) / 86_400_000);
    if (days < 30) {
      const when = days < 0 ? `expired ${-days} day(s) ago` : `expires in ${days} day(s)`;
      warnings.push({ file: config.file, path: `tenants.${tenant.key}.credential`, message: `the ${expiry.type.replace('_', ' ')} ${when}` });
    }
  }
  return warnings;
}

/**
 * Sending checks (smtp, roundtrip) against Exchange Online's SMTP AUTH limits per mailbox, summed over the monitors
 * that share a mailbox, and against each monitor's own send budget, beyond which its checks fail unsent.
 */
function sendBudgetWarnings(config: LoadedConfig): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  const perMailbox = new Map<string, { perMinute: number; perDay: number; first: number }>();
  config.monitors.forEach((monitor, index) => {
    if (!monitor.enabled) return;
    const sending = monitor.checks.filter((check) => CHECK[check].sends).length;
    if (sending === 0) return;
    const sends = expectedSends(sending, monitor.intervalSeconds);
    const budget = monitor.probeMail?.sendBudget;
    if (budget && (sends.perMinute > budget.perMinute || sends.perDay > budget.perDay)) {
      warnings.push({
        file: config.file,
        path: `monitors[${index}].schedule`,
        message: `"${monitor.schedule}" with ${sending} sending check(s) sends up to ${sends.perMinute} a minute and ${sends.perDay} a day, over the send budget (${budget.perMinute} a minute, ${budget.perDay} a day); checks beyond it fail with send_budget_exhausted`,
      });
    }
    // Exchange Online's own limits concern its hosts, not a test server or an emulator.
    if (monitor.endpoints[SUBMISSION].host !== cloudHost(monitor.tenant.cloud, SUBMISSION)) return;
    const key = monitor.mailbox.toLowerCase();
    const total = perMailbox.get(key) ?? { perMinute: 0, perDay: 0, first: index };
    perMailbox.set(key, { perMinute: total.perMinute + sends.perMinute, perDay: total.perDay + sends.perDay, first: total.first });
  });
  const safe = { perMinute: EXCHANGE_SEND_LIMITS.perMinute * SAFE_SHARE, perDay: EXCHANGE_SEND_LIMITS.perDay * SAFE_SHARE };
  for (const [mailbox, total] of perMailbox) {
    if (total.perMinute <= safe.perMinute && total.perDay <= safe.perDay) continue;
    warnings.push({
      file: config.file,
      path: `monitors[${total.first}].schedule`,
      message: `probe messages from ${mailbox} (up to ${total.perMinute} a minute, ${total.perDay} a day) exceed ${SAFE_SHARE * 100} % of Exchange Online's SMTP AUTH limits (${EXCHANGE_SEND_LIMITS.perMinute} a minute, ${EXCHANGE_SEND_LIMITS.perDay} recipients a day per mailbox)`,
    });
  }
  return warnings;
}
