import { monitorRef } from '../diagnose/commands.js';
import { CHECK, CHECK_KINDS } from '../core/checks.js';
import { PROTOCOL, type ProtocolDescriptor } from '../core/protocols.js';
import { credentialExpiry } from '../auth/token-provider.js';
import type { ResolvedMonitor, ResolvedTenant } from '../config/types.js';
import { federatedAudience, readFederatedToken, type FederatedCredential } from '../auth/federated.js';
import { identityEndpoint } from '../auth/managed-identity.js';
import { readSecret } from '../config/secrets.js';
import { decideProxy, describeDecision } from '../config/proxy.js';
import { buildChecklist, propagationMayMatter, PROPAGATION_NOTE, type ChecklistInput, type ChecklistItem, type TokenState } from '../diagnose/checklist.js';
import type { TokenClaims } from '../diagnose/claims.js';
import { Redactor } from '../log/redact.js';
import type { CheckKind } from '../core/check.js';
import { systemClock } from '../core/clock.js';
import type { CheckResult } from '../core/result.js';
import { runCheck } from '../runner/run-check.js';
import { createRuntime } from '../runner/runtime.js';
import { EXIT, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';
import { terminalText } from './terminal.js';
import { detailBesides } from './report.js';

export const DOCTOR_HELP = `Usage: mailprobe doctor [--config FILE] [--monitor NAME] [--all-checks] [--json]

Walks the admin's setup in order for a monitor — credential, token, admin consent, audience, then each
protocol's XOAUTH2 offer, login and mailbox operation — and prints a checklist with a verdict per step and
the exact fix for the first step that fails. --all-checks also tries protocols the monitor does not check.
Exit codes: 0 every step passed, 1 a step failed, 2 bad usage or configuration.`;

const MARK: Record<ChecklistItem['verdict'], string> = { pass: '[ok]  ', warn: '[warn]', fail: '[FAIL]', not_reached: '[ -- ]', skipped: '[skip]' };

const DOCTOR_OPTIONS = {
  config: { type: 'string' },
  monitor: { type: 'string' },
  'all-checks': { type: 'boolean' },
  json: { type: 'boolean' },
} satisfies Options;

export const doctorCommand = defineCommand({ name: 'doctor', help: DOCTOR_HELP, options: DOCTOR_OPTIONS, run: doctor });

async function doctor({ values, io, readConfig }: CommandInput<typeof DOCTOR_OPTIONS>): Promise<number> {
  const config = readConfig();
  const monitors = values.monitor ? config.monitors.filter((monitor) => monitor.name === values.monitor) : config.monitors.filter((m) => m.enabled);
  if (monitors.length === 0) {
    throw new UsageError(`doctor: no monitor named "${values.monitor ?? ''}" (monitors: ${config.monitors.map((m) => m.name).join(', ')})`);
  }
  const redactor = new Redactor();
  const runtime = createRuntime({ clock: systemClock, redactor, env: io.env });
  const reports: DoctorReport[] = [];
  for (const monitor of monitors) {
    const checks: CheckKind[] = values['all-checks']
      ? CHECK_KINDS.filter((check) => CHECK[check].doctorAlways || monitor.checks.includes(check))
      : monitor.checks;
    const steps = await examine(monitor, checks, runtime, io.env);
    reports.push({
      monitor: monitor.name,
      mailbox: monitor.mailbox,
      steps,
      network: routes(monitor, checks, io.env),
      ...(propagationMayMatter(steps) ? { note: PROPAGATION_NOTE } : {}),
    });
  }
  const failed = reports.some((report) => report.steps.some((step) => step.verdict === 'fail'));
  if (values.json) {
    print(io.stdout, JSON.stringify(redactor.redactDeep({ ok: !failed, monitors: reports }), null, 2));
    return failed ? EXIT.checkFailed : EXIT.ok;
  }
  for (const report of reports) print(io.stdout, terminalText(redactor.redact(formatReport(report))));
  return failed ? EXIT.checkFailed : EXIT.ok;
}

interface DoctorReport {
  monitor: string;
  mailbox: string;
  steps: ChecklistItem[];
  /** How each host the checks reach is reached: direct or through which proxy (never its user info). */
  network: NetworkRoute[];
  note?: string;
}

interface NetworkRoute {
  host: string;
  port: number;
  purpose: string;
  route: string;
}

/** The login service and each mail endpoint the checks use, with the proxy decision the probes will make. */
function routes(monitor: ResolvedMonitor, checks: readonly CheckKind[], env: NodeJS.ProcessEnv): NetworkRoute[] {
  const login = new URL(`https://${monitor.tenant.authorityHost}`);
  const loginPort = Number(login.port || 443);
  const lines: NetworkRoute[] = [
    {
      host: login.hostname,
      port: loginPort,
      purpose: 'login service',
      route: describeDecision(decideProxy({ scheme: 'https', host: login.hostname, port: loginPort }, monitor.tenant.proxy, env)),
    },
  ];
  const protocols = [...new Set(checks.flatMap((check) => CHECK[check].protocols))];
  for (const protocol of protocols) {
    const endpoint = monitor.endpoints[protocol];
    lines.push({
      host: endpoint.host,
      port: endpoint.port,
      purpose: protocol,
      // HTTPS APIs (Microsoft Graph) go as the login service does (HTTPS_PROXY); mail sessions by ALL_PROXY.
      route: describeDecision(
        decideProxy(
          { scheme: (PROTOCOL[protocol] as ProtocolDescriptor).transport === 'https' ? 'https' : 'mail', host: endpoint.host, port: endpoint.port },
          endpoint.proxy,
          env,
        ),
      ),
    });
  }
  return lines;
}

async function examine(
  monitor: ResolvedMonitor,
  checks: CheckKind[],
  runtime: ReturnType<typeof createRuntime>,
  env: NodeJS.ProcessEnv,
): Promise<ChecklistItem[]> {
  const credential = credentialState(monitor, env, runtime);
  const identity = monitorRef(monitor);
  const input: ChecklistInput = { monitor: identity, checks, credential, results: {}, now: systemClock.now() };
  if (!credential.ok) return buildChecklist(input);

  // The same runCheck the agent runs: its token, its diagnosis. The first check that asks for a token tells
  // the token step; without one, every check would fail the same way, so the walk stops there.
  const results: Partial<Record<CheckKind, CheckResult>> = {};
  for (const check of checks) {
    let asked = false;
    let claims: TokenClaims | undefined;
    const result = await runCheck(runtime.deps, monitor, check, {
      onToken: (seen) => {
        asked = true;
        claims = seen;
      },
    });
    const { resource } = CHECK[check];
    // A check of another service than the first token's (Microsoft Graph) has a token of its own, judged apart.
    const first = input.token?.ok ? (input.token.resource ?? 'exchange') : undefined;
    if (asked && !claims) {
      const failure = result.outcome.failure;
      const state: TokenState = {
        ok: false,
        reason: result.diagnosis?.reason ?? failure?.reason ?? 'internal_error',
        ...(result.diagnosis ? { diagnosis: result.diagnosis } : {}),
        ...(failure?.serverText !== undefined ? { serverText: failure.serverText } : {}),
      };
      if (first === undefined || first === resource) {
        input.token = state;
        return buildChecklist(input);
      }
      input.otherTokens = { ...input.otherTokens, [resource]: state };
    } else if (claims && first !== undefined && first !== resource) {
      input.otherTokens = { [resource]: { ok: true, claims, resource }, ...input.otherTokens };
    } else if (claims && !input.token) input.token = { ok: true, claims, resource };
    results[check] = result;
  }
  input.results = results;
  return buildChecklist(input);
}

function credentialState(monitor: ResolvedMonitor, env: NodeJS.ProcessEnv, runtime: ReturnType<typeof createRuntime>): ChecklistInput['credential'] {
  const tenant = monitor.tenant;
  const credential = tenant.credential;
  if (credential.type === 'delegated') {
    const signIn = runtime.delegated.inspect(tenant);
    if (!signIn.ok) return { ok: false, detail: `${signIn.message}: run \`mailprobe login --monitor ${monitor.name}\`` };
    const { lapse } = signIn;
    const day = (at: number): string => new Date(at).toISOString().slice(0, 16).replace('T', ' ');
    return {
      ok: true,
      detail: `delegated sign-in of ${credential.account} for app ${tenant.clientId} (${signIn.scopes.join(' ')}), signed in ${day(lapse.signedInAt)} UTC, renewed ${day(lapse.refreshedAt)} UTC; lapses ${day(lapse.lapsesAt)} UTC (${lapse.cause === 'inactivity' ? '90 days unused' : 'sign-in frequency'}) unless renewed`,
    };
  }
  if (credential.type === 'federated') return federatedState(tenant, credential, env);
  if (credential.type === 'managedIdentity') {
    const endpoint = identityEndpoint(credential, env);
    const which = credential.clientId ? `user-assigned managed identity ${credential.clientId}` : 'the system-assigned managed identity';
    return {
      ok: true,
      detail: `${which} for app ${tenant.clientId}, asked at ${endpoint.url} (${endpoint.form === 'imds' ? 'instance metadata' : 'App Service'} form) for audience ${federatedAudience(tenant)}`,
    };
  }
  if (credential.type === 'secret') {
    const lookup = readSecret(credential.secret, tenant.baseDir, env);
    if (!lookup.ok) return { ok: false, detail: lookup.message };
    const expiry = credentialExpiry(tenant);
    return { ok: true, detail: `client secret of app ${tenant.clientId}${expiry ? `, expires ${new Date(expiry.expiresAt).toISOString().slice(0, 10)}` : ''}` };
  }
  const expiry = credentialExpiry(tenant);
  if (!expiry) return { ok: false, detail: `cannot read the certificate ${credential.certFile}` };
  return { ok: true, detail: `certificate of app ${tenant.clientId}, valid until ${new Date(expiry.expiresAt).toISOString().slice(0, 10)}` };
}

/** What Entra will match against the app's federated credentials, so a mismatch can be compared by eye. */
function federatedState(tenant: ResolvedTenant, credential: FederatedCredential, env: NodeJS.ProcessEnv): ChecklistInput['credential'] {
  const read = readFederatedToken(credential, tenant.baseDir, env);
  if (!read.ok) return { ok: false, detail: read.message };
  const { iss, sub, aud, exp } = read.claims;
  const expected = federatedAudience(tenant);
  const now = systemClock.now();
  if (exp !== undefined && exp * 1000 <= now) {
    return { ok: false, detail: `the federated token in ${read.path} expired at ${new Date(exp * 1000).toISOString()}: the file is not being refreshed` };
  }
  const audience = aud.includes(expected) ? expected : `${aud.join(', ') || '(none)'} (Entra expects ${expected})`;
  const until = exp !== undefined ? `, valid until ${new Date(exp * 1000).toISOString()}` : '';
  return {
    ok: true,
    detail: `federated token ${read.path} for app ${tenant.clientId}: issuer ${iss ?? '(none)'}, subject ${sub ?? '(none)'}, audience ${audience}${until}`,
  };
}

function formatReport(report: DoctorReport): string {
  const network = report.network.map((line) => `    ${line.host}:${String(line.port)} (${line.purpose}): ${line.route}`);
  return [formatSteps(report), '', '  Network:', ...network].join('\n');
}

function formatSteps(report: DoctorReport): string {
  const lines = [`doctor: monitor ${report.monitor} — ${report.mailbox}`];
  for (const step of report.steps) {
    lines.push(`  ${MARK[step.verdict]} ${step.title}${step.detail && step.verdict !== 'fail' ? ` — ${step.detail}` : ''}`);
  }
  const first = report.steps.find((step) => step.verdict === 'fail');
  if (!first) {
    lines.push('  All steps passed.');
    return lines.join('\n');
  }
  lines.push('', `  First failing step: ${first.title}`);
  if (first.reason) lines.push(`    reason: ${first.reason}`);
  if (first.serverText) lines.push(`    server said: ${first.serverText}`);
  const detail = first.detail === undefined ? undefined : detailBesides(first.detail, first.serverText);
  if (detail) lines.push(`    detail: ${detail}`);
  const diagnosis = first.diagnosis;
  if (diagnosis) {
    lines.push(`    why: ${diagnosis.summary}`);
    diagnosis.candidates.forEach((candidate, i) => lines.push(`      ${i + 1}. ${candidate}`));
    if (diagnosis.fixes.length > 0) lines.push('    fix:', ...diagnosis.fixes.map((fix) => `      ${fix}`));
  }
  if (report.note) lines.push('', `  Note: ${report.note}`);
  return lines.join('\n');
}
