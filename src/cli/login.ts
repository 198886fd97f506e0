import { cacheOwner, delegatedFailure, lapseOf, postForm, tokenAnswer } from '../auth/delegated.js';
import { readCache, readCacheKey, withCacheLock, writeCache, type DelegatedEntry } from '../auth/token-cache.js';
import type { ResolvedTenant } from '../config/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { ProbeFailure } from '../core/outcome.js';
import { decodeJwtPayload } from '../diagnose/claims.js';
import { Redactor } from '../log/redact.js';
import { configPath, EXIT, loadConfig, parseCommandArgs, print, UsageError, type CliIO } from './io.js';
import { terminalText } from './terminal.js';

export const LOGIN_HELP = `Usage: mailprobe login --monitor NAME [--config FILE]

Signs the user of a delegated monitor ("credential": {"type": "delegated", "account": ...}) in with the device
code flow: prints a code and a URL, the person opens the URL, enters the code and signs in as the account; the
command polls the login service at the interval it asks for. It requests the delegated permissions the checks of
the tenant entry's monitors need (IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) and offline_access,
and keeps the refresh token encrypted in agent.stateDir (key: MAILPROBE_TOKEN_CACHE_KEY or
agent.tokenCacheKeyFile, created 0600 when missing). A running agent picks the new sign-in up at its next check.

Exit codes: 0 signed in and stored; 1 the sign-in did not complete (declined, code expired, refused by Entra,
signed in as another account, login service unreachable); 2 bad usage or configuration (no such monitor, not a
delegated monitor, unusable cache key); 3 the sign-in could not be stored.`;

export async function loginCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs('login', args, {
    config: { type: 'string' },
    monitor: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    print(io.stdout, LOGIN_HELP);
    return EXIT.ok;
  }
  const config = loadConfig(configPath(values.config, io), io);
  const names = config.monitors.map((monitor) => monitor.name).join(', ');
  if (!values.monitor) throw new UsageError(`login: --monitor NAME is required (monitors: ${names})`);
  const monitor = config.monitors.find((candidate) => candidate.name === values.monitor);
  if (!monitor) throw new UsageError(`login: no monitor named "${values.monitor}" (monitors: ${names})`);
  if (!monitor.tenant.delegated) {
    throw new UsageError(
      `login: monitor "${monitor.name}" signs in as the app (tenants.${monitor.tenant.key}.credential.type "${monitor.tenant.credential.type}"); only a "delegated" credential signs in as a user`,
    );
  }
  return signIn(monitor.tenant, { io, clock: systemClock, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
}

export interface SignInDeps {
  io: CliIO;
  clock: Clock;
  /** Waits between two polls; tests pass one that also plays the person at the browser. */
  sleep(ms: number): Promise<void>;
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
// RFC 8628 §3.5: slow_down adds 5 seconds to the interval.
const SLOW_DOWN_S = 5;
// Entra gives 900 s; a longer expires_in from elsewhere is not waited out.
const MAX_WAIT_S = 1800;

/** The device-code sign-in of a delegated tenant entry's account, stored in its token cache. */
export async function signIn(tenant: ResolvedTenant, deps: SignInDeps): Promise<number> {
  const settings = tenant.delegated;
  if (!settings) throw new UsageError(`login: tenant "${tenant.key}" has no delegated credential`);
  const { io } = deps;
  const redactor = new Redactor();
  const say = (stream: NodeJS.WritableStream, text: string): void => print(stream, terminalText(redactor.redact(text)));

  const key = readCacheKey(settings.keyFile, io.env, { create: true });
  if (!key.ok) {
    say(io.stderr, `mailprobe login: ${key.message}`);
    return EXIT.usage;
  }
  redactor.addSecret(key.key.reveal());

  const started = await postForm(tenant, 'devicecode', { client_id: tenant.clientId, scope: settings.scopes.join(' ') }, 20_000);
  if (!started.ok) {
    say(io.stderr, `mailprobe login: cannot reach the login service https://${tenant.authorityHost}: ${started.code}`);
    return EXIT.checkFailed;
  }
  const code = started.body;
  const deviceCode = code['device_code'];
  if (started.status !== 200 || typeof deviceCode !== 'string') return refused(delegatedFailure(tenant, started.status, code), say, io);
  redactor.addSecret(deviceCode);
  const message =
    typeof code['message'] === 'string' ? code['message'] : `Open ${String(code['verification_uri'])} and enter the code ${String(code['user_code'])}.`;
  say(io.stderr, `${message}\nSign in as ${settings.account}. Asking for: ${settings.scopes.join(' ')}`);

  let intervalS = typeof code['interval'] === 'number' && code['interval'] > 0 ? code['interval'] : 5;
  const expiresIn = typeof code['expires_in'] === 'number' ? Math.min(code['expires_in'], MAX_WAIT_S) : 900;
  const deadline = deps.clock.now() + expiresIn * 1000;
  for (;;) {
    await deps.sleep(intervalS * 1000);
    if (deps.clock.now() > deadline) {
      say(io.stderr, 'mailprobe login: the code expired before the sign-in completed; run the command again');
      return EXIT.checkFailed;
    }
    const polled = await postForm(tenant, 'token', { grant_type: DEVICE_CODE_GRANT, client_id: tenant.clientId, device_code: deviceCode }, 20_000);
    if (!polled.ok) {
      say(io.stderr, `mailprobe login: cannot reach the login service https://${tenant.authorityHost}: ${polled.code}`);
      return EXIT.checkFailed;
    }
    const error = polled.body['error'];
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      intervalS += SLOW_DOWN_S;
      continue;
    }
    const now = deps.clock.now();
    const answer = tokenAnswer(tenant, polled.status, polled.body, now);
    if (!answer.ok) return refused(answer.failure, say, io);
    redactor.addSecret(answer.accessToken.reveal());
    if (!answer.refreshToken) {
      say(io.stderr, 'mailprobe login: Entra returned no refresh token: the sign-in must include offline_access (consent to it for the app)');
      return EXIT.checkFailed;
    }
    redactor.addSecret(answer.refreshToken.reveal());
    const who = signedInAs(answer.accessToken.reveal());
    if (who !== undefined && who.toLowerCase() !== settings.account.toLowerCase()) {
      say(
        io.stderr,
        `mailprobe login: signed in as ${who}, but the monitor's account is ${settings.account}; nothing was stored. Sign in again as ${settings.account}`,
      );
      return EXIT.checkFailed;
    }
    const owner = cacheOwner(tenant, settings);
    const entry: DelegatedEntry = {
      account: settings.account,
      scopes: settings.scopes,
      refreshToken: answer.refreshToken,
      signedInAt: now,
      refreshedAt: now,
      accessToken: answer.accessToken,
      accessTokenExpiresAt: answer.expiresAt,
    };
    try {
      await withCacheLock(settings.cacheFile, async () => {
        // A sign-in frequency learned from an earlier AADSTS70043 still applies to the new sign-in.
        const previous = readCache(settings.cacheFile, key, owner);
        const learned = previous.ok ? previous.entry.signInFrequencySeconds : undefined;
        await writeCache(settings.cacheFile, key.key, owner, { ...entry, ...(learned !== undefined ? { signInFrequencySeconds: learned } : {}) });
      });
    } catch (error) {
      say(
        io.stderr,
        `mailprobe login: signed in, but cannot store the sign-in in ${settings.cacheFile}: ${error instanceof Error ? error.message : String(error)}`,
      );
      return EXIT.internal;
    }
    const lapse = lapseOf(entry, settings.signInFrequencySeconds);
    say(
      io.stdout,
      `signed in as ${settings.account}; kept encrypted in ${settings.cacheFile} (key: ${key.source}).\nWithout use it lapses ${new Date(lapse.lapsesAt).toISOString()} (${lapse.cause === 'inactivity' ? '90 days unused' : 'sign-in frequency'}); every check renews it.`,
    );
    return EXIT.ok;
  }
}

function refused(failure: ProbeFailure, say: (stream: NodeJS.WritableStream, text: string) => void, io: CliIO): number {
  const declined = /authorization_declined|AADSTS70000\b/.test(failure.serverText ?? '');
  say(
    io.stderr,
    `mailprobe login: ${declined ? 'the sign-in was declined' : `the sign-in failed (${failure.reason})`}: ${failure.serverText ?? failure.message}`,
  );
  return EXIT.checkFailed;
}

/** Who the access token was issued to: Entra puts the user's sign-in name in upn (or preferred_username). */
function signedInAs(accessToken: string): string | undefined {
  const decoded = decodeJwtPayload(accessToken);
  if ('error' in decoded) return undefined;
  const claims = decoded.claims;
  for (const name of ['upn', 'preferred_username', 'unique_name']) {
    const value = claims[name];
    if (typeof value === 'string' && value.includes('@')) return value;
  }
  return undefined;
}
