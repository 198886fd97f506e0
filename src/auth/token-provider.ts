import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfidentialClientApplication, LogLevel, type ClientAssertionCallback, type Configuration } from '@azure/msal-node';
import type { ResolvedTenant } from '../config/types.js';
import { errorCode, readSecret, resolveFrom } from '../config/secrets.js';
import { decodeAccessToken, type TokenClaims } from '../diagnose/claims.js';
import type { ReasonCode } from '../core/reasons.js';
import { reasonForTokenError, tokenErrorFromUnknown } from '../diagnose/token-errors.js';
import type { Clock } from '../core/clock.js';
import type { ProbeFailure } from '../core/outcome.js';
import { federatedAudience, readFederatedToken, type AssertionClaims, type FederatedCredential } from './federated.js';
import { AuthorityHttpClient, type AuthorityExchange } from './http-client.js';
import { ProxyError } from '../net/tunnel.js';
import { fetchManagedIdentityToken, identityEndpoint, type ManagedIdentityCredential } from './managed-identity.js';
import { retryAfterMs } from '../core/retry-after.js';
import { Secret } from '../core/secret.js';
import { isRecord } from '../core/unknown.js';
import { resourceScope, type TokenResource } from '../core/clouds.js';

export type TokenResult =
  { ok: true; token: Secret; claims: TokenClaims; expiresAt: number } | { ok: false; failure: ProbeFailure; retryAfterSeconds?: number };

export interface TokenProvider {
  /**
   * A token for the tenant's configured scope, or for another resource of the same app (e.g. Graph).
   * maxWaitMs: how long this caller honours a wait the login service asked for (Retry-After), counted from the
   * answer that asked it; past it the login service is asked again.
   */
  getToken(tenant: ResolvedTenant, scope?: string, options?: { maxWaitMs?: number }): Promise<TokenResult>;
}

export interface TokenEvents {
  /** A real request to the authority (cache hits are not reported). */
  onRequest(tenant: ResolvedTenant, result: 'success' | 'failure'): void;
  onToken(tenant: ResolvedTenant, info: { expiresAt: number; roles: string[] }): void;
  /** Every secret value read from env or file, so log redaction can mask it wherever it might surface. */
  onSecretRead?(value: string): void;
  /** A federated assertion was read for a token request; its own expiry, which the credential-expiry metric shows. */
  onAssertion?(tenant: ResolvedTenant, expiry: CredentialExpiry): void;
}

export interface CredentialExpiry {
  type: 'client_secret' | 'certificate' | 'federated_token' | 'managed_identity';
  expiresAt: number;
}

interface AppState {
  fingerprint: string;
  app?: ConfidentialClientApplication;
  setupError?: ProbeFailure;
  lastExchange?: AuthorityExchange;
  /** A refused metadata (OpenID configuration) request, when the token request was never sent. */
  lastMetadataRefusal?: AuthorityExchange;
  lastNetworkError?: Error;
  /** Why the federated assertion could not be read for the latest request; no request was sent then. */
  assertionError?: ProbeFailure;
  /** The claims of the latest federated assertion sent, to tell which part of it Entra did not match. */
  assertion?: AssertionClaims;
  tokenRequests: number;
  inFlight: Map<string, Promise<TokenResult>>;
  /** The latest token per scope and until when it is handed out without asking msal (see REUSE_MARGIN_MS). */
  current: Map<string, { result: Promise<TokenResult>; until: number }>;
  /** The last acquisition of any scope; a new one waits for it, because lastExchange is per app. */
  tail: Promise<unknown>;
  /** A wait the login service asked for: from when, until when. */
  blockedAt: number;
  blockedUntil: number;
  /**
   * The login service's latest refusal that holds requests back (429 or 5xx): until it has passed, msal (whose
   * throttling cache answers without asking) or our own Retry-After wait reports this cause, never another one.
   */
  holdBack?: { failure: ProbeFailure; until: number };
}

// A Retry-After beyond a day is a broken or hostile answer, not a plan; no caller waits longer anyway.
const MAX_RETRY_AFTER_S = 86_400;

/** How long msal-node keeps answering from its throttling cache after a 429 or 5xx without Retry-After. */
const MSAL_DEFAULT_THROTTLE_MS = 60_000;

const TOKEN_PATH = /\/oauth2\/v2\.0\/token$/;

// msal renews a cached token 5 minutes before it expires (tokenRenewalOffsetSeconds); a token is reused here
// until a minute before that, so msal still decides every renewal. Asking msal's cache on every check cost
// ~0.3 ms of CPU (cache key building and scanning, JWT decoding, token events) at 10,000 monitors.
const REUSE_MARGIN_MS = 6 * 60_000;

// One msal application per tenant entry: msal's in-memory cache then serves every check of that app until
// the token is near expiry, so the authority sees one request per app per token lifetime.
export class MsalTokenProvider implements TokenProvider {
  readonly #apps = new Map<string, AppState>();
  readonly #clock: Clock;
  readonly #events: TokenEvents;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #redact: (text: string) => string;

  /**
   * `redact` masks every text of a failure before it is returned: a proxy or a wrong authorityHost can answer
   * with the request itself (client_secret, client_assertion) in its error text.
   */
  constructor(options: { clock: Clock; events: TokenEvents; redact: (text: string) => string; env?: NodeJS.ProcessEnv; timeoutMs?: number }) {
    this.#clock = options.clock;
    this.#redact = options.redact;
    this.#events = options.events;
    this.#env = options.env ?? process.env;
    this.#timeoutMs = options.timeoutMs ?? 20_000;
  }

  getToken(tenant: ResolvedTenant, scope: string = tenant.scope, options: { maxWaitMs?: number } = {}): Promise<TokenResult> {
    const state = this.#state(tenant);
    const current = state.current.get(scope);
    if (current && current.until > this.#clock.now()) return current.result;
    // Checks of one app that start together share one authority request instead of racing msal's cache.
    const pending = state.inFlight.get(scope);
    if (pending) return pending;
    // Different scopes of one app (Exchange, Graph) take turns: the network client's callbacks record the
    // answer per app, so two acquisitions at once could classify one on the other's answer.
    const request = state.tail
      .then(() => this.#acquire(tenant, state, scope, options.maxWaitMs ?? Number.POSITIVE_INFINITY))
      .finally(() => state.inFlight.delete(scope));
    state.tail = request.catch(() => undefined);
    state.inFlight.set(scope, request);
    return request;
  }

  /** Real authority requests made for this tenant entry so far. */
  requestCount(tenant: ResolvedTenant): number {
    return this.#apps.get(tenant.key)?.tokenRequests ?? 0;
  }

  #state(tenant: ResolvedTenant): AppState {
    const fingerprint = fingerprintOf(tenant);
    const existing = this.#apps.get(tenant.key);
    if (existing && existing.fingerprint === fingerprint) return existing;
    const state: AppState = { fingerprint, tokenRequests: 0, blockedAt: 0, blockedUntil: 0, inFlight: new Map(), current: new Map(), tail: Promise.resolve() };
    this.#apps.set(tenant.key, state);
    return state;
  }

  async #acquire(tenant: ResolvedTenant, state: AppState, scope: string, maxWaitMs: number): Promise<TokenResult> {
    const now = this.#clock.now();
    const blockedUntil = Math.min(state.blockedUntil, state.blockedAt + maxWaitMs);
    if (blockedUntil > now) {
      const retryAfterSeconds = Math.ceil((blockedUntil - now) / 1000);
      const held = state.holdBack?.failure;
      return {
        ok: false,
        retryAfterSeconds,
        failure: {
          stage: 'token',
          reason: held?.reason ?? 'throttled',
          ...(held?.serverText !== undefined ? { serverText: held.serverText } : {}),
          message: `the login service asked to wait; ${retryAfterSeconds} s left before mailprobe asks again`,
        },
      };
    }
    const app = this.#application(tenant, state);
    if (!app) return { ok: false, failure: state.setupError ?? configFailure('credential_missing', 'no credential') };
    if (state.blockedUntil > 0) {
      // msal keeps its own copy of the wait (up to an hour, on the real clock) and would refuse without asking;
      // this provider's wait decides, so msal's ends with it.
      app.clearCache();
      state.blockedAt = 0;
      state.blockedUntil = 0;
    }

    state.lastExchange = undefined;
    state.lastMetadataRefusal = undefined;
    state.lastNetworkError = undefined;
    state.assertionError = undefined;
    try {
      const result = await app.acquireTokenByClientCredential({ scopes: [scope] });
      if (!result?.accessToken) throw new Error('the login service returned no access token');
      const decoded = decodeAccessToken(result.accessToken);
      const claims: TokenClaims = 'error' in decoded ? { roles: [] } : decoded;
      const expiresAt = result.expiresOn?.getTime() ?? (claims.exp ?? 0) * 1000;
      if (scope === tenant.scope) this.#events.onToken(tenant, { expiresAt, roles: claims.roles });
      const token: TokenResult = { ok: true, token: new Secret(result.accessToken), claims, expiresAt };
      state.current.set(scope, { result: Promise.resolve(token), until: expiresAt - REUSE_MARGIN_MS });
      return token;
    } catch (error) {
      const result = this.#failure(tenant, state, error);
      return result.ok ? result : { ...result, failure: this.#masked(result.failure) };
    } finally {
      // Assigned by the network client's callback during the await, which the compiler cannot see.
      const exchange = (state.lastExchange ?? state.lastMetadataRefusal) as AuthorityExchange | undefined;
      if (exchange) this.#events.onRequest(tenant, exchange.status < 400 ? 'success' : 'failure');
    }
  }

  #failure(tenant: ResolvedTenant, state: AppState, error: unknown): TokenResult {
    if (state.assertionError) return { ok: false, failure: state.assertionError };
    // msal asks for the tenant's metadata before the token; Entra refuses that request for an unknown tenant
    // (400 invalid_tenant, AADSTS90002) and msal reports only "endpoints_resolution_error", so the refusal
    // itself is what gets classified.
    const exchange = state.lastExchange ?? state.lastMetadataRefusal;
    if (!exchange && state.lastNetworkError) {
      const code = errorCode(state.lastNetworkError);
      this.#events.onRequest(tenant, 'failure');
      const reason = code === 'ETIMEDOUT' ? 'timeout' : reasonForTokenError({ networkCode: code });
      const proxied = state.lastNetworkError;
      if (proxied instanceof ProxyError) {
        const failure = { stage: 'token' as const, reason, message: `cannot reach the login service https://${tenant.authorityHost}: ${proxied.message}` };
        return { ok: false, failure: proxied.statusLine === undefined ? failure : { ...failure, serverText: proxied.statusLine } };
      }
      const message =
        reason === 'token_tls_untrusted'
          ? `the certificate of the login service https://${tenant.authorityHost} did not verify: ${code}`
          : `cannot reach the login service https://${tenant.authorityHost}: ${code}`;
      return { ok: false, failure: { stage: 'token', reason, message } };
    }
    const held = state.holdBack;
    if (!exchange && held && held.until > this.#clock.now()) {
      // One cause, one reason: msal's throttling cache repeats the refusal that filled it, without asking again.
      return { ok: false, failure: { ...held.failure, message: `${held.failure.message}; msal-node holds further requests back for a while` } };
    }
    if (!exchange) {
      // msal refused before sending anything (e.g. a /common tenant, a malformed authority).
      const input = tokenErrorFromUnknown(error);
      const text =
        isRecord(error) && typeof error.errorMessage === 'string' && error.errorMessage
          ? error.errorMessage
          : error instanceof Error
            ? error.message
            : String(error);
      return {
        ok: false,
        failure: {
          stage: 'token',
          reason: reasonForTokenError(input),
          serverText: text.split(/\r?\n/)[0] ?? text,
          message: 'msal-node refused the token request before sending it',
        },
      };
    }
    const body = isRecord(exchange.body) ? exchange.body : {};
    const errorCodes = Array.isArray(body.error_codes) ? body.error_codes.filter((n): n is number => typeof n === 'number') : [];
    const retryAfterSeconds = cappedRetryAfterSeconds(exchange.headers['retry-after'], this.#clock.now());
    if (retryAfterSeconds !== undefined) {
      state.blockedAt = this.#clock.now();
      state.blockedUntil = state.blockedAt + retryAfterSeconds * 1000;
    }
    const reason = federatedReason(
      tenant,
      state.assertion,
      reasonForTokenError({
        httpStatus: exchange.status,
        errorCodes,
        ...(typeof body.error === 'string' ? { error: body.error } : {}),
        ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      }),
    );
    const description = typeof body.error_description === 'string' ? body.error_description.split(/\r?\n/)[0] : undefined;
    const serverText = description ?? `HTTP ${exchange.status}`;
    const failure: ProbeFailure = {
      stage: 'token',
      reason,
      serverText,
      message: `the login service refused the ${exchange === state.lastExchange ? 'token' : 'metadata'} request (HTTP ${exchange.status})`,
    };
    if (exchange.status === 429 || exchange.status >= 500) {
      state.holdBack = { failure, until: this.#clock.now() + (retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : MSAL_DEFAULT_THROTTLE_MS) };
    }
    return { ok: false, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}), failure };
  }

  #masked(failure: ProbeFailure): ProbeFailure {
    return {
      ...failure,
      message: this.#redact(failure.message),
      ...(failure.serverText !== undefined ? { serverText: this.#redact(failure.serverText) } : {}),
    };
  }

  #application(tenant: ResolvedTenant, state: AppState): ConfidentialClientApplication | undefined {
    if (state.app) return state.app;
    const auth = this.#credential(tenant, state);
    if ('failure' in auth) {
      // Not cached: the operator may fix the env var or file without reloading.
      state.setupError = auth.failure;
      return undefined;
    }
    const networkClient = new AuthorityHttpClient({
      ...(tenant.tls.ca ? { ca: tenant.tls.ca } : {}),
      rejectUnauthorized: tenant.tls.rejectUnauthorized,
      timeoutMs: this.#timeoutMs,
      ...(tenant.proxy !== undefined ? { proxy: tenant.proxy } : {}),
      env: this.#env,
      onExchange: (exchange) => {
        if (!TOKEN_PATH.test(new URL(exchange.url).pathname)) {
          if (exchange.status >= 400) state.lastMetadataRefusal = exchange;
          return;
        }
        state.tokenRequests++;
        state.lastExchange = exchange;
      },
      onNetworkError: (url, error) => {
        if (TOKEN_PATH.test(new URL(url).pathname)) state.tokenRequests++;
        state.lastNetworkError = error;
      },
    });
    const configuration: Configuration = {
      auth: {
        clientId: tenant.clientId,
        authority: `https://${tenant.authorityHost}/${tenant.tenantId}`,
        knownAuthorities: [tenant.authorityHost],
        ...auth,
      },
      system: { networkClient, loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined } },
    };
    state.app = new ConfidentialClientApplication(configuration);
    return state.app;
  }

  #credential(
    tenant: ResolvedTenant,
    state: AppState,
  ):
    | { clientSecret: string }
    | { clientCertificate: { thumbprintSha256: string; privateKey: string; x5c: string } }
    | { clientAssertion: ClientAssertionCallback }
    | { failure: ProbeFailure } {
    const credential = tenant.credential;
    if (credential.type === 'federated') return { clientAssertion: () => this.#federatedAssertion(tenant, credential, state) };
    if (credential.type === 'managedIdentity') return { clientAssertion: () => this.#managedIdentityAssertion(tenant, credential, state) };
    // A user's sign-in has no app credential: DelegatedTokenProvider serves it (see CredentialTokenProvider).
    if (credential.type === 'delegated') return { failure: configFailure('config_invalid', `tenant "${tenant.key}" signs in as a user, not as the app`) };
    if (credential.type === 'secret') {
      const lookup = readSecret(credential.secret, tenant.baseDir, this.#env);
      if (!lookup.ok) return { failure: configFailure('credential_missing', `client secret of tenant "${tenant.key}": ${lookup.message}`) };
      this.#events.onSecretRead?.(lookup.secret.reveal());
      return { clientSecret: lookup.secret.reveal() };
    }
    try {
      const certPem = readFileSync(resolveFrom(tenant.baseDir, credential.certFile), 'utf8');
      const keyPem = readFileSync(resolveFrom(tenant.baseDir, credential.keyFile), 'utf8');
      const passphrase = credential.passphrase ? readSecret(credential.passphrase, tenant.baseDir, this.#env) : undefined;
      if (passphrase && !passphrase.ok) {
        return { failure: configFailure('credential_missing', `key passphrase of tenant "${tenant.key}": ${passphrase.message}`) };
      }
      const privateKey = createPrivateKey({ key: keyPem, ...(passphrase?.ok ? { passphrase: passphrase.secret.reveal() } : {}) })
        .export({ type: 'pkcs8', format: 'pem' })
        .toString();
      const thumbprintSha256 = new X509Certificate(certPem).fingerprint256.replace(/:/g, '');
      return { clientCertificate: { thumbprintSha256, privateKey, x5c: certPem } };
    } catch (error) {
      return { failure: configFailure('credential_missing', `certificate of tenant "${tenant.key}": ${errorCode(error)}`) };
    }
  }

  // msal calls this for every token request it sends, so a rotated token file is followed without a restart.
  async #federatedAssertion(tenant: ResolvedTenant, credential: FederatedCredential, state: AppState): Promise<string> {
    const read = readFederatedToken(credential, tenant.baseDir, this.#env);
    if (!read.ok) {
      state.assertionError = configFailure('credential_missing', `federated token of tenant "${tenant.key}": ${read.message}`);
      throw new Error(read.message);
    }
    // The redactor masks every JWT by its shape; registering each rotated token as well would grow its list hourly.
    if (!read.assertion.reveal().startsWith('eyJ')) this.#events.onSecretRead?.(read.assertion.reveal());
    state.assertion = read.claims;
    if (read.claims.exp !== undefined) this.#events.onAssertion?.(tenant, { type: 'federated_token', expiresAt: read.claims.exp * 1000 });
    return read.assertion.reveal();
  }

  // A managed identity's token is the assertion: asked for each token request, as the identity endpoint caches it.
  async #managedIdentityAssertion(tenant: ResolvedTenant, credential: ManagedIdentityCredential, state: AppState): Promise<string> {
    const endpoint = identityEndpoint(credential, this.#env);
    if (endpoint.header) this.#events.onSecretRead?.(endpoint.header.reveal());
    const token = await fetchManagedIdentityToken(endpoint, { clientId: credential.clientId, resource: federatedAudience(tenant), timeoutMs: this.#timeoutMs });
    if (!token.ok) {
      state.assertionError = {
        stage: 'token',
        reason: 'managed_identity_unavailable',
        message: this.#redact(token.message),
        ...(token.serverText !== undefined ? { serverText: this.#redact(token.serverText) } : {}),
      };
      throw new Error(token.message);
    }
    state.assertion = token.claims;
    this.#events.onAssertion?.(tenant, { type: 'managed_identity', expiresAt: token.expiresAt });
    return token.assertion.reveal();
  }
}

/**
 * The scope a tenant's token for a resource is asked with: the cloud's, except that a tenant may set its own for
 * Exchange Online (tenants[].scope).
 */
export function scopeFor(tenant: ResolvedTenant, resource: TokenResource): string {
  return resource === 'exchange' ? tenant.scope : resourceScope(tenant.cloud, resource);
}

/** Expiry of the configured credential itself (certificate notAfter, the secret's stated expiry, the federated token's exp). */
export function credentialExpiry(tenant: ResolvedTenant, env: NodeJS.ProcessEnv = process.env): CredentialExpiry | undefined {
  const credential = tenant.credential;
  if (credential.type === 'federated') {
    const read = readFederatedToken(credential, tenant.baseDir, env);
    return read.ok && read.claims.exp !== undefined ? { type: 'federated_token', expiresAt: read.claims.exp * 1000 } : undefined;
  }
  // Known only once the identity endpoint has answered (onAssertion); a delegated sign-in's lapse has its own metric.
  if (credential.type === 'managedIdentity' || credential.type === 'delegated') return undefined;
  if (credential.type === 'secret') {
    return credential.expires ? { type: 'client_secret', expiresAt: Date.parse(credential.expires) } : undefined;
  }
  try {
    const cert = new X509Certificate(readFileSync(resolveFrom(tenant.baseDir, credential.certFile), 'utf8'));
    return { type: 'certificate', expiresAt: Date.parse(cert.validTo) };
  } catch {
    return undefined;
  }
}

/**
 * AADSTS70021 names issuer, subject and audience together; the assertion mailprobe sent tells whether its audience
 * is the one this cloud's federated credentials expect, which is the usual culprit when issuer and subject look right.
 */
function federatedReason(tenant: ResolvedTenant, assertion: AssertionClaims | undefined, reason: ReasonCode): ReasonCode {
  if (reason !== 'token_federated_no_match' || !assertion) return reason;
  return assertion.aud.includes(federatedAudience(tenant)) ? reason : 'token_federated_audience_mismatch';
}

function configFailure(reason: ReasonCode, message: string): ProbeFailure {
  return { stage: 'config', reason, message };
}

/** Entra's Retry-After in whole seconds, capped at a day. */
function cappedRetryAfterSeconds(value: string | undefined, now: number): number | undefined {
  const ms = retryAfterMs(value, now);
  return ms === undefined ? undefined : Math.min(MAX_RETRY_AFTER_S, Math.ceil(ms / 1000));
}

// A reload builds new tenant objects, so one fingerprint per object: serialising the credential and CA
// bundle on every check was a measurable share of its CPU.
const fingerprints = new WeakMap<ResolvedTenant, string>();

function fingerprintOf(tenant: ResolvedTenant): string {
  let fingerprint = fingerprints.get(tenant);
  if (fingerprint === undefined) {
    fingerprint = JSON.stringify([tenant.tenantId, tenant.clientId, tenant.authorityHost, tenant.scope, tenant.credential, tenant.tls]);
    fingerprints.set(tenant, fingerprint);
  }
  return fingerprint;
}
