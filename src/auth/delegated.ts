import type { DelegatedSettings, ResolvedTenant } from '../config/types.js';
import { errorCode } from '../config/secrets.js';
import type { Clock } from '../core/clock.js';
import type { ProbeFailure } from '../core/outcome.js';
import { Secret } from '../core/secret.js';
import type { SignInStatus } from '../core/status.js';
import { isRecord } from '../core/unknown.js';
import { decodeAccessToken, type TokenClaims } from '../diagnose/claims.js';
import { reasonForTokenError } from '../diagnose/token-errors.js';
import { AuthorityHttpClient } from './http-client.js';
import { readCache, readCacheKey, withCacheLock, writeCache, type CacheRead, type DelegatedEntry } from './token-cache.js';
import type { TokenProvider, TokenResult } from './token-provider.js';

// A delegated monitor's tokens: the refresh token a person's sign-in left (`mailprobe login`) is redeemed for
// each new access token, and the rotated refresh token Entra returns is saved before anything uses it — the
// failure that loses other tools their users (Odoo kept the first one until it lapsed).

/** Entra lets a refresh token lapse after this long unused (AADSTS700082; docs/exchange-online-errors.md §10). */
export const INACTIVITY_LAPSE_MS = 90 * 86_400_000;

/** When a sign-in lapses if nothing renews it, and what ends it first (core's SignInStatus, which pages show). */
export type SignInLapse = SignInStatus;

export interface DelegatedEvents {
  /** The sign-in as it now stands, after every read or refresh of the cache. */
  onSignIn?(tenant: ResolvedTenant, lapse: SignInLapse): void;
  /** A real request to the authority (reused tokens are not reported). */
  onRequest?(tenant: ResolvedTenant, result: 'success' | 'failure'): void;
}

export function lapseOf(
  entry: Pick<DelegatedEntry, 'account' | 'signedInAt' | 'refreshedAt' | 'signInFrequencySeconds'>,
  configuredSeconds?: number,
): SignInLapse {
  const inactivity = entry.refreshedAt + INACTIVITY_LAPSE_MS;
  const frequencySeconds = configuredSeconds ?? entry.signInFrequencySeconds;
  const frequency = frequencySeconds !== undefined ? entry.signedInAt + frequencySeconds * 1000 : Number.POSITIVE_INFINITY;
  return {
    account: entry.account,
    signedInAt: entry.signedInAt,
    refreshedAt: entry.refreshedAt,
    lapsesAt: Math.min(inactivity, frequency),
    cause: frequency < inactivity ? 'sign_in_frequency' : 'inactivity',
  };
}

// An access token is handed out until this long before it expires; Entra's last an hour or more.
const REUSE_MARGIN_MS = 5 * 60_000;

export class DelegatedTokenProvider implements TokenProvider {
  readonly #clock: Clock;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #events: DelegatedEvents;
  readonly #redact: (text: string) => string;
  readonly #addSecret: (value: string) => void;
  /** Per cache file: the request in flight, so checks of one account that start together share one redemption. */
  readonly #inFlight = new Map<string, Promise<TokenResult>>();
  readonly #current = new Map<string, { result: TokenResult; until: number }>();

  constructor(options: {
    clock: Clock;
    redact: (text: string) => string;
    addSecret?: (value: string) => void;
    events?: DelegatedEvents;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
  }) {
    this.#clock = options.clock;
    this.#redact = options.redact;
    this.#addSecret = options.addSecret ?? (() => undefined);
    this.#events = options.events ?? {};
    this.#env = options.env ?? process.env;
    this.#timeoutMs = options.timeoutMs ?? 20_000;
  }

  getToken(tenant: ResolvedTenant): Promise<TokenResult> {
    const settings = tenant.delegated;
    if (!settings) return Promise.resolve(failed('config', 'config_invalid', `tenant "${tenant.key}" has no delegated sign-in`));
    const current = this.#current.get(settings.cacheFile);
    if (current && current.until > this.#clock.now()) return Promise.resolve(current.result);
    const pending = this.#inFlight.get(settings.cacheFile);
    if (pending) return pending;
    const request = this.#acquire(tenant, settings).finally(() => this.#inFlight.delete(settings.cacheFile));
    this.#inFlight.set(settings.cacheFile, request);
    return request;
  }

  /** The sign-in as the cache holds it now, without contacting anyone (doctor). */
  inspect(tenant: ResolvedTenant): SignInState {
    return readSignIn(tenant, this.#env, this.#addSecret);
  }

  async #acquire(tenant: ResolvedTenant, settings: DelegatedSettings): Promise<TokenResult> {
    try {
      return await withCacheLock(settings.cacheFile, () => this.#refreshLocked(tenant, settings));
    } catch (error) {
      return failed(
        'token',
        'internal_error',
        this.#redact(`the token cache of ${settings.account}: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  }

  // Inside the lock the cache is read again: another replica or a `mailprobe login` may have rotated it since.
  async #refreshLocked(tenant: ResolvedTenant, settings: DelegatedSettings): Promise<TokenResult> {
    const key = readCacheKey(settings.keyFile, this.#env);
    if (key.ok) this.#addSecret(key.key.reveal());
    const read = readCache(settings.cacheFile, key, cacheOwner(tenant, settings));
    if (!read.ok) return failed(read.problem === 'unreadable' ? 'config' : 'token', 'signin_required', read.message);
    const entry = read.entry;
    this.#addSecret(entry.refreshToken.reveal());
    const now = this.#clock.now();
    if (entry.accessToken && entry.accessTokenExpiresAt !== undefined && entry.accessTokenExpiresAt - REUSE_MARGIN_MS > now) {
      this.#events.onSignIn?.(tenant, lapseOf(entry, settings.signInFrequencySeconds));
      return this.#remember(settings, entry.accessToken, entry.accessTokenExpiresAt);
    }

    const answer = await redeem(tenant, entry, this.#timeoutMs, now);
    if (!answer.ok) {
      this.#events.onRequest?.(tenant, 'failure');
      const failure = { ...answer.failure, message: this.#redact(answer.failure.message) };
      if (failure.serverText !== undefined) failure.serverText = this.#redact(failure.serverText);
      // AADSTS70043 names the policy's limit: kept, so the next sign-in's lapse is shown before it comes.
      const learned = /maximum allowed lifetime for this request is (\d+)/.exec(answer.failure.serverText ?? '')?.[1];
      if (learned && settings.signInFrequencySeconds === undefined && key.ok) {
        const known = { ...entry, signInFrequencySeconds: Number(learned) };
        await writeCache(settings.cacheFile, key.key, cacheOwner(tenant, settings), known);
        // The lapse as it now stands (come already, by the frequency): the metrics and /status/detail say so.
        this.#events.onSignIn?.(tenant, lapseOf(known));
      }
      return { ok: false, failure };
    }
    this.#events.onRequest?.(tenant, 'success');
    if (!key.ok) return failed('token', 'signin_required', key.message);
    const next: DelegatedEntry = {
      ...entry,
      // Entra rotates the refresh token at each redemption; one that is not returned stays the one to use.
      refreshToken: answer.refreshToken ?? entry.refreshToken,
      refreshedAt: answer.refreshToken ? now : entry.refreshedAt,
      accessToken: answer.accessToken,
      accessTokenExpiresAt: answer.expiresAt,
    };
    this.#addSecret(next.refreshToken.reveal());
    // Saved before the access token is handed out: a crash after this point loses nothing Entra has moved on from.
    await writeCache(settings.cacheFile, key.key, cacheOwner(tenant, settings), next);
    this.#events.onSignIn?.(tenant, lapseOf(next, settings.signInFrequencySeconds));
    return this.#remember(settings, answer.accessToken, answer.expiresAt);
  }

  #remember(settings: DelegatedSettings, accessToken: Secret, expiresAt: number): TokenResult {
    const decoded = decodeAccessToken(accessToken.reveal());
    const claims: TokenClaims = 'error' in decoded ? { roles: [] } : decoded;
    const result: TokenResult = { ok: true, token: accessToken, claims, expiresAt };
    this.#current.set(settings.cacheFile, { result, until: expiresAt - REUSE_MARGIN_MS });
    return result;
  }
}

export type SignInState = { ok: true; lapse: SignInLapse; scopes: string[] } | Extract<CacheRead, { ok: false }>;

/** The sign-in as the cache holds it now, without contacting anyone: for doctor, and the lapse metrics at start. */
export function readSignIn(tenant: ResolvedTenant, env: NodeJS.ProcessEnv, addSecret: (value: string) => void = () => undefined): SignInState {
  const settings = tenant.delegated;
  if (!settings) return { ok: false, problem: 'missing', message: `tenant "${tenant.key}" has no delegated sign-in` };
  const key = readCacheKey(settings.keyFile, env);
  if (key.ok) addSecret(key.key.reveal());
  const read = readCache(settings.cacheFile, key, cacheOwner(tenant, settings));
  if (!read.ok) return read;
  addSecret(read.entry.refreshToken.reveal());
  return { ok: true, lapse: lapseOf(read.entry, settings.signInFrequencySeconds), scopes: read.entry.scopes };
}

export function cacheOwner(tenant: ResolvedTenant, settings: DelegatedSettings): { tenantId: string; clientId: string; account: string } {
  return { tenantId: tenant.tenantId, clientId: tenant.clientId, account: settings.account };
}

export function tokenEndpointOf(tenant: ResolvedTenant): string {
  return `https://${tenant.authorityHost}/${encodeURIComponent(tenant.tenantId)}/oauth2/v2.0`;
}

type Redemption = { ok: true; accessToken: Secret; refreshToken?: Secret; expiresAt: number } | { ok: false; failure: ProbeFailure };

/** POSTs a form to the tenant's token or devicecode endpoint; the answer's JSON, or the socket error's code. */
export async function postForm(
  tenant: ResolvedTenant,
  path: 'token' | 'devicecode',
  form: Record<string, string>,
  timeoutMs: number,
): Promise<{ ok: true; status: number; body: Record<string, unknown> } | { ok: false; code: string }> {
  const client = new AuthorityHttpClient({
    ...(tenant.tls.ca ? { ca: tenant.tls.ca } : {}),
    rejectUnauthorized: tenant.tls.rejectUnauthorized,
    timeoutMs,
    onExchange: () => undefined,
    onNetworkError: () => undefined,
  });
  try {
    const answer = await client.sendPostRequestAsync<unknown>(`${tokenEndpointOf(tenant)}/${path}`, {
      body: new URLSearchParams(form).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const body = isRecord(answer.body) ? answer.body : {};
    return { ok: true, status: answer.status, body };
  } catch (error) {
    return { ok: false, code: errorCode(error) };
  }
}

/** Entra's refusal of a delegated grant, classified: the sign-in-again reasons by AADSTS number, invalid_grant otherwise. */
export function delegatedFailure(tenant: ResolvedTenant, status: number, body: Record<string, unknown>): ProbeFailure {
  const errorCodes = Array.isArray(body['error_codes']) ? body['error_codes'].filter((n): n is number => typeof n === 'number') : [];
  const error = typeof body['error'] === 'string' ? body['error'] : undefined;
  const classified = reasonForTokenError({ httpStatus: status, errorCodes, ...(error ? { error } : {}) });
  const reason = classified === 'token_error' && error === 'invalid_grant' ? 'signin_required' : classified;
  const description = typeof body['error_description'] === 'string' ? body['error_description'].split(/\r?\n/)[0] : undefined;
  return {
    stage: 'token',
    reason,
    serverText: description ?? `HTTP ${status}`,
    message: `the login service https://${tenant.authorityHost} refused the refresh token (HTTP ${status})`,
  };
}

async function redeem(tenant: ResolvedTenant, entry: DelegatedEntry, timeoutMs: number, now: number): Promise<Redemption> {
  const answer = await postForm(
    tenant,
    'token',
    { client_id: tenant.clientId, grant_type: 'refresh_token', refresh_token: entry.refreshToken.reveal(), scope: entry.scopes.join(' ') },
    timeoutMs,
  );
  if (!answer.ok) {
    const reason = answer.code === 'ETIMEDOUT' ? 'timeout' : reasonForTokenError({ networkCode: answer.code });
    return { ok: false, failure: { stage: 'token', reason, message: `cannot reach the login service https://${tenant.authorityHost}: ${answer.code}` } };
  }
  return tokenAnswer(tenant, answer.status, answer.body, now);
}

/** A token endpoint's answer to a delegated grant (device code or refresh token). */
export function tokenAnswer(tenant: ResolvedTenant, status: number, body: Record<string, unknown>, now: number): Redemption {
  const accessToken = body['access_token'];
  if (status !== 200 || typeof accessToken !== 'string') return { ok: false, failure: delegatedFailure(tenant, status, body) };
  const refreshToken = body['refresh_token'];
  const expiresIn = typeof body['expires_in'] === 'number' ? body['expires_in'] : Number(body['expires_in'] ?? 3600);
  return {
    ok: true,
    accessToken: new Secret(accessToken),
    ...(typeof refreshToken === 'string' && refreshToken !== '' ? { refreshToken: new Secret(refreshToken) } : {}),
    expiresAt: now + (Number.isFinite(expiresIn) ? expiresIn : 3600) * 1000,
  };
}

function failed(stage: 'config' | 'token', reason: ProbeFailure['reason'], message: string): TokenResult {
  return { ok: false, failure: { stage, reason, message } };
}
