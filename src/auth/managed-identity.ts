import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Secret } from '../core/secret.js';
import type { CredentialInput } from '../config/schema.js';
import { errorCode } from '../config/secrets.js';
import { decodeJwtPayload } from '../diagnose/claims.js';
import { assertionClaims, type AssertionClaims } from './federated.js';

export type ManagedIdentityCredential = Extract<CredentialInput, { type: 'managedIdentity' }>;

/** Azure's instance metadata service, as the Azure SDKs reach it from a VM, a scale set or an AKS node. */
export const IMDS_TOKEN_URL = 'http://169.254.169.254/metadata/identity/oauth2/token';

/** Where the identity endpoint is and how it is asked: IMDS, or the App Service / Container Apps form. */
export interface IdentityEndpoint {
  form: 'imds' | 'appService';
  url: string;
  /** The App Service form's shared secret (IDENTITY_HEADER), sent as X-IDENTITY-HEADER. */
  header?: Secret;
}

export type ManagedIdentityToken =
  { ok: true; assertion: Secret; claims: AssertionClaims; expiresAt: number } | { ok: false; message: string; serverText?: string };

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The configured endpoint (tests, a sidecar) is asked in the IMDS form; otherwise IDENTITY_ENDPOINT with
 * IDENTITY_HEADER, which App Service and Container Apps set, then IMDS — the order the Azure SDKs use.
 */
export function identityEndpoint(credential: ManagedIdentityCredential, env: NodeJS.ProcessEnv): IdentityEndpoint {
  if (credential.endpoint) return { form: 'imds', url: credential.endpoint };
  const url = env['IDENTITY_ENDPOINT'];
  const header = env['IDENTITY_HEADER'];
  if (url && header) return { form: 'appService', url, header: new Secret(header) };
  return { form: 'imds', url: IMDS_TOKEN_URL };
}

/**
 * Asks the identity endpoint for a token of the managed identity with the token-exchange audience as its resource:
 * that token is the client assertion the app's federated credential (issuer: the tenant, subject: the identity's
 * principal ID) accepts. Errors quote the endpoint's error_description, never a token.
 */
export async function fetchManagedIdentityToken(
  endpoint: IdentityEndpoint,
  options: { clientId?: string | undefined; resource: string; timeoutMs: number },
): Promise<ManagedIdentityToken> {
  const url = new URL(endpoint.url);
  url.searchParams.set('api-version', endpoint.form === 'imds' ? '2018-02-01' : '2019-08-01');
  url.searchParams.set('resource', options.resource);
  if (options.clientId) url.searchParams.set('client_id', options.clientId);
  const headers: Record<string, string> = endpoint.form === 'imds' ? { Metadata: 'true' } : { 'X-IDENTITY-HEADER': endpoint.header?.reveal() ?? '' };
  let answer: { status: number; body: string };
  try {
    answer = await get(url, headers, options.timeoutMs);
  } catch (error) {
    return { ok: false, message: `cannot reach the identity endpoint ${endpoint.url}: ${errorCode(error)}` };
  }
  const body = parseObject(answer.body);
  if (answer.status !== 200) {
    const description =
      typeof body?.['error_description'] === 'string' ? body['error_description'] : typeof body?.['message'] === 'string' ? body['message'] : undefined;
    return {
      ok: false,
      message: `the identity endpoint ${endpoint.url} refused the token request (HTTP ${answer.status})`,
      ...(description !== undefined ? { serverText: description.slice(0, 500) } : {}),
    };
  }
  const token = body?.['access_token'];
  if (typeof token !== 'string' || !token) return { ok: false, message: `the identity endpoint ${endpoint.url} answered without an access_token` };
  const decoded = decodeJwtPayload(token);
  if ('error' in decoded) return { ok: false, message: `the identity endpoint ${endpoint.url} answered with a token that is not a JWT: ${decoded.error}` };
  const claims = assertionClaims(decoded.claims);
  const expiresOn = Number(body?.['expires_on']);
  const expiresAt = Number.isFinite(expiresOn) && expiresOn > 0 ? expiresOn * 1000 : (claims.exp ?? 0) * 1000;
  return { ok: true, assertion: new Secret(token), claims, expiresAt };
}

function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(Object.assign(new Error('answer too large'), { code: 'EMSGSIZE' }));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const deadline = setTimeout(() => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })), timeoutMs);
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    req.end();
  });
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
