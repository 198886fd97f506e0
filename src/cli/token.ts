import { monitorRef, tenantRef } from '../diagnose/commands.js';
import { diagnose } from '../diagnose/diagnose.js';
import { Redactor } from '../log/redact.js';
import { systemClock } from '../core/clock.js';
import { createRuntime } from '../runner/runtime.js';
import { EXIT, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';
import { detailBesides } from './report.js';
import { terminalText } from './terminal.js';
import { MAIL_ROLES } from '../core/protocols.js';

const ROLE_ABSENCE_NOTE =
  'SMTP can still be granted in Exchange (RBAC for Applications: "Application SMTP.SendAsApp" over a management scope); IMAP and POP cannot, they need the Entra permission. `mailprobe doctor` shows what the servers accept.';

export const TOKEN_HELP = `Usage: mailprobe token --tenant NAME [--config FILE] [--json] [--show-token]

Gets a token for a tenant entry and prints its decoded claims (aud, roles, appid, oid, tid, exp), like
Get-JWTDetails in the manual procedure. For a delegated entry ("credential": {"type": "delegated"}) the token is
the user's, renewed from the stored sign-in: it shows the account (upn), the delegated permissions (scp) and when
the sign-in lapses unless renewed. The raw access token is printed only with --show-token; a refresh token never.`;

const TOKEN_OPTIONS = {
  config: { type: 'string' },
  tenant: { type: 'string' },
  json: { type: 'boolean' },
  'show-token': { type: 'boolean' },
} satisfies Options;

export const tokenCommand = defineCommand({ name: 'token', help: TOKEN_HELP, options: TOKEN_OPTIONS, run: token });

async function token({ values, io, readConfig }: CommandInput<typeof TOKEN_OPTIONS>): Promise<number> {
  const config = readConfig();
  const names = [...config.tenants.keys()];
  if (!values.tenant) throw new UsageError(`token: --tenant NAME is required (tenants: ${names.join(', ')})`);
  const tenant = config.tenants.get(values.tenant);
  if (!tenant) throw new UsageError(`token: no tenant named "${values.tenant}" (tenants: ${names.join(', ')})`);

  const redactor = new Redactor();
  const runtime = createRuntime({ clock: systemClock, redactor, env: io.env });
  const { tokens } = runtime;
  const result = await tokens.getToken(tenant);
  if (!result.ok) {
    const { failure } = result;
    const monitor = config.monitors.find((candidate) => candidate.tenant.key === tenant.key);
    const diagnosis = diagnose({
      reason: failure.reason,
      stage: failure.stage,
      now: systemClock.now(),
      monitor: monitor ? monitorRef(monitor) : tenantRef(tenant),
      ...(failure.serverText !== undefined ? { serverText: failure.serverText } : {}),
    });
    const answer = { ok: false, tenant: tenant.key, ...failure, retryAfterSeconds: result.retryAfterSeconds, diagnosis };
    if (values.json) {
      print(io.stdout, JSON.stringify(redactor.redactDeep(answer), null, 2));
      return EXIT.checkFailed;
    }
    const detail = detailBesides(failure.message, failure.serverText);
    const lines = [
      `token request failed: ${failure.reason}`,
      ...(failure.serverText ? [`  server said: ${failure.serverText}`] : []),
      ...(detail ? [`  detail: ${detail}`] : []),
      `  why: ${diagnosis.summary}`,
      ...diagnosis.candidates.map((candidate, i) => `    ${i + 1}. ${candidate}`),
      ...(diagnosis.fixes.length > 0 ? ['  fix:', ...diagnosis.fixes.map((fix) => `    ${fix}`)] : []),
    ];
    print(io.stderr, terminalText(redactor.redact(lines.join('\n'))));
    return EXIT.checkFailed;
  }
  const claims = result.claims;
  const expiresIn = claims.exp ? Math.round(claims.exp - systemClock.now() / 1000) : undefined;
  const delegated = tenant.delegated;
  // The sign-in as the cache holds it after this renewal: when it lapses, and what the checks need of it.
  const read = delegated ? runtime.delegated.inspect(tenant) : undefined;
  const signIn = read?.ok ? read.lapse : undefined;
  const lacking = delegated
    ? delegatedNeeds(delegated.scopes).filter((scope) => !(claims.scopes ?? []).includes(scope))
    : MAIL_ROLES.filter((role) => !claims.roles.includes(role));
  if (values.json) {
    const answer = {
      ok: true,
      tenant: tenant.key,
      claims,
      expiresInSeconds: expiresIn,
      ...(signIn
        ? {
            signIn: {
              account: signIn.account,
              signedInAt: iso(signIn.signedInAt),
              refreshedAt: iso(signIn.refreshedAt),
              lapsesAt: iso(signIn.lapsesAt),
              lapseCause: signIn.cause,
            },
          }
        : {}),
      ...(delegated ? { notInToken: lacking } : {}),
      ...(values['show-token'] ? { accessToken: result.token.reveal() } : {}),
    };
    print(io.stdout, JSON.stringify(answer, null, 2));
    return EXIT.ok;
  }
  const grant: Array<[string, string]> = delegated
    ? [
        ['upn', claims.upn ?? ''],
        ['scp', claims.scopes?.join(' ') || '(none — no delegated permission consented)'],
      ]
    : [
        ['oid', claims.oid ?? ''],
        ['roles', claims.roles.join(', ') || '(none — no Entra application permission consented)'],
      ];
  const rows: Array<[string, string]> = [
    ['aud', claims.aud ?? ''],
    ['iss', claims.iss ?? ''],
    ['appid', claims.appid ?? ''],
    ['appidacr', claims.appidacr ?? ''],
    ['idtyp', claims.idtyp ?? ''],
    ...grant,
    ['tid', claims.tid ?? ''],
    ['iat', claims.iat ? iso(claims.iat * 1000) : ''],
    ['exp', claims.exp ? iso(claims.exp * 1000) : ''],
    ['expiryDateTime', expiresIn !== undefined ? `in ${expiresIn} s` : ''],
  ];
  for (const [key, value] of rows) print(io.stdout, `${key.padEnd(15)}: ${value}`);
  if (delegated) {
    if (signIn) {
      const why = signIn.cause === 'inactivity' ? '90 days unused' : 'sign-in frequency';
      print(
        io.stdout,
        `\nsigned in as ${signIn.account} ${iso(signIn.signedInAt)}, last renewed ${iso(signIn.refreshedAt)}; lapses ${iso(signIn.lapsesAt)} (${why}) unless renewed`,
      );
    }
    if (lacking.length > 0) {
      print(
        io.stdout,
        `\nnot in the token: ${lacking.join(', ')}. A sign-in carries the delegated permissions consented when it was made: add them to the app (Microsoft Graph → Delegated permissions), then sign in again with mailprobe login --monitor ${config.monitors.find((monitor) => monitor.tenant.key === tenant.key)?.name ?? '<monitor of this tenant>'}.`,
      );
    }
  }
  // Evidence, not a verdict: Exchange can grant what the token lacks, so name what each absence means.
  else if (lacking.length > 0) print(io.stdout, `\nnot in the token: ${lacking.join(', ')}. ${ROLE_ABSENCE_NOTE}`);
  if (values['show-token']) print(io.stdout, `\naccess token (keep it secret):\n${result.token.reveal()}`);
  return EXIT.ok;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The delegated permissions a tenant entry's sign-in asks for, as the token's scp names them (without the resource). */
function delegatedNeeds(scopes: readonly string[]): string[] {
  return scopes.filter((scope) => scope !== 'offline_access').map((scope) => scope.slice(scope.lastIndexOf('/') + 1));
}
