import type { ResolvedTenant } from '../config/types.js';
import { readSecret } from '../config/secrets.js';
import { reasonForTokenError } from '../diagnose/token-errors.js';
import type { ProbeFailure } from '../core/outcome.js';
import { isRecord } from '../core/unknown.js';
import { AuthorityHttpClient } from './http-client.js';
import type { CredentialExpiry, TokenProvider } from './token-provider.js';

/** The app registration's own credentials that Graph lists (a federated token is not one of them). */
type ListedType = 'client_secret' | 'certificate';

export interface GraphCredential {
  type: ListedType;
  keyId: string;
  expiresAt: number;
  /** First three characters of a secret's value, as Entra shows them. */
  hint?: string;
  /** SHA-1 thumbprint of a certificate, uppercase hex. */
  thumbprint?: string;
}

export type GraphCredentialsResult = { ok: true; credentials: GraphCredential[] } | { ok: false; failure: ProbeFailure };

/**
 * Reads the app registration's own secrets and certificates from Microsoft Graph (needs the Graph application
 * permission Application.Read.All), so expiry is known even when nobody wrote it into monitors.json.
 */
export async function fetchAppCredentials(
  tokens: TokenProvider,
  tenant: ResolvedTenant,
  options: { graphResource: string; graphBaseUrl?: string; timeoutMs?: number },
): Promise<GraphCredentialsResult> {
  const token = await tokens.getToken(tenant, `${options.graphResource}/.default`);
  if (!token.ok) return { ok: false, failure: token.failure };
  if (!token.claims.roles.some((role) => role === 'Application.Read.All' || role === 'Application.ReadWrite.All')) {
    return {
      ok: false,
      failure: {
        stage: 'role',
        reason: 'role_missing',
        message: 'the Graph token lacks Application.Read.All; grant it (admin consent) or turn credentialExpiryFromGraph off',
      },
    };
  }
  const client = new AuthorityHttpClient({
    ...(tenant.tls.ca ? { ca: tenant.tls.ca } : {}),
    rejectUnauthorized: tenant.tls.rejectUnauthorized,
    timeoutMs: options.timeoutMs ?? 20_000,
    ...(tenant.proxy !== undefined ? { proxy: tenant.proxy } : {}),
    onExchange: () => undefined,
    onNetworkError: () => undefined,
  });
  const base = (options.graphBaseUrl ?? options.graphResource).replace(/\/+$/, '');
  const url = `${base}/v1.0/applications(appId='${encodeURIComponent(tenant.clientId)}')?$select=passwordCredentials,keyCredentials`;
  try {
    const response = await client.sendGetRequestAsync<unknown>(url, {
      headers: { authorization: `Bearer ${token.token.reveal()}`, accept: 'application/json' },
    });
    if (response.status !== 200) {
      const error = graphErrorText(response.body);
      return {
        ok: false,
        failure: {
          stage: 'token',
          reason: response.status === 403 ? 'role_missing' : 'token_error',
          serverText: `HTTP ${response.status} ${error}`,
          message: 'Microsoft Graph refused the credential listing',
        },
      };
    }
    return { ok: true, credentials: parseCredentials(response.body) };
  } catch (error) {
    const code = error && typeof error === 'object' && 'code' in error ? String(error.code) : 'error';
    return {
      ok: false,
      failure: {
        stage: 'token',
        reason: code === 'ETIMEDOUT' ? 'timeout' : reasonForTokenError({ networkCode: code }),
        message: `cannot reach Microsoft Graph: ${code}`,
      },
    };
  }
}

export function parseCredentials(body: unknown): GraphCredential[] {
  if (!isRecord(body)) return [];
  const list = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.filter(isRecord) : []);
  const credentials: GraphCredential[] = [];
  for (const entry of list(body.passwordCredentials)) {
    const expiresAt = Date.parse(String(entry.endDateTime));
    if (Number.isNaN(expiresAt)) continue;
    credentials.push({ type: 'client_secret', keyId: String(entry.keyId), expiresAt, ...(typeof entry.hint === 'string' ? { hint: entry.hint } : {}) });
  }
  for (const entry of list(body.keyCredentials)) {
    const expiresAt = Date.parse(String(entry.endDateTime));
    if (Number.isNaN(expiresAt)) continue;
    credentials.push({
      type: 'certificate',
      keyId: String(entry.keyId),
      expiresAt,
      ...(typeof entry.customKeyIdentifier === 'string' ? { thumbprint: entry.customKeyIdentifier.toUpperCase() } : {}),
    });
  }
  return credentials;
}

/**
 * The expiry that matters is that of the credential mailprobe itself uses: the secret whose hint matches the
 * configured value, or the certificate with the configured thumbprint. Without a match, the earliest one still
 * valid — after a rotation that left the old credential in place, that errs towards an early warning.
 */
export function chooseExpiry(
  credentials: readonly GraphCredential[],
  own: { type: ListedType; hint?: string; thumbprint?: string },
  now: number,
): CredentialExpiry | undefined {
  const ofType = credentials.filter((credential) => credential.type === own.type);
  if (ofType.length === 0) return undefined;
  const earliest = (list: readonly GraphCredential[]): CredentialExpiry => ({ type: own.type, expiresAt: Math.min(...list.map((c) => c.expiresAt)) });
  const matched = ofType.filter((credential) =>
    own.type === 'client_secret'
      ? own.hint !== undefined && credential.hint === own.hint
      : own.thumbprint !== undefined && credential.thumbprint === own.thumbprint,
  );
  if (matched.length > 0) return earliest(matched);
  const valid = ofType.filter((credential) => credential.expiresAt > now);
  if (valid.length > 0) return earliest(valid);
  return { type: own.type, expiresAt: Math.max(...ofType.map((c) => c.expiresAt)) };
}

/** What identifies the configured credential among the app's, without revealing it: a 3-char hint or a thumbprint. */
export function ownCredential(tenant: ResolvedTenant, env: NodeJS.ProcessEnv, thumbprint?: string): { type: ListedType; hint?: string; thumbprint?: string } {
  if (tenant.credential.type !== 'secret') return { type: 'certificate', ...(thumbprint ? { thumbprint } : {}) };
  const lookup = readSecret(tenant.credential.secret, tenant.baseDir, env);
  return { type: 'client_secret', ...(lookup.ok ? { hint: lookup.secret.reveal().slice(0, 3) } : {}) };
}

function graphErrorText(body: unknown): string {
  if (isRecord(body) && isRecord(body.error)) return `${String(body.error.code ?? '')}: ${String(body.error.message ?? '')}`;
  return '';
}
