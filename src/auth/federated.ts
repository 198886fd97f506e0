import { CLOUD_ENDPOINTS } from '../core/clouds.js';
import { FileTooLargeError, readFileBounded } from '../files/bounded-read.js';
import { Secret } from '../core/secret.js';
import { errorCode, resolveFrom } from '../config/secrets.js';
import type { ResolvedTenant } from '../config/types.js';
import type { CredentialInput } from '../config/schema.js';
import { decodeJwtPayload } from '../diagnose/claims.js';

export type FederatedCredential = Extract<CredentialInput, { type: 'federated' }>;

/** What a federated assertion shows about itself: what Entra matches against the app's federated credentials. */
export interface AssertionClaims {
  iss?: string;
  sub?: string;
  /** A Kubernetes token carries a list; a single string is read as a list of one. */
  aud: string[];
  /** Epoch seconds. */
  exp?: number;
}

export type AssertionRead = { ok: true; assertion: Secret; claims: AssertionClaims; path: string } | { ok: false; message: string };

/** The variable Azure Workload Identity's webhook (and the Azure SDKs) use for the projected token's path. */
export const FEDERATED_TOKEN_FILE_ENV = 'AZURE_FEDERATED_TOKEN_FILE';

// A projected service-account token is about 1 KB; anything far larger is not one, and is not read whole.
const MAX_TOKEN_BYTES = 64 * 1024;

export function federatedTokenPath(credential: FederatedCredential, baseDir: string, env: NodeJS.ProcessEnv): string | undefined {
  if (credential.tokenFile) return resolveFrom(baseDir, credential.tokenFile);
  const fromEnv = env[FEDERATED_TOKEN_FILE_ENV];
  return fromEnv ? resolveFrom(baseDir, fromEnv) : undefined;
}

/** The audience Entra expects in a federated assertion for this tenant's cloud, unless the credential names its own. */
export function federatedAudience(tenant: ResolvedTenant): string {
  const credential = tenant.credential;
  const own = credential.type === 'federated' || credential.type === 'managedIdentity' ? credential.audience : undefined;
  return own ?? CLOUD_ENDPOINTS[tenant.cloud].federatedAudience;
}

/**
 * Reads the token file as it is now: the kubelet (or a CI runner) replaces it before it expires, so it is read
 * for every token request rather than once. Messages name the file, never its content.
 */
export function readFederatedToken(credential: FederatedCredential, baseDir: string, env: NodeJS.ProcessEnv): AssertionRead {
  const path = federatedTokenPath(credential, baseDir, env);
  if (!path) return { ok: false, message: `no tokenFile configured and ${FEDERATED_TOKEN_FILE_ENV} is not set` };
  let text: string;
  try {
    text = readFileBounded(path, MAX_TOKEN_BYTES);
  } catch (error) {
    return {
      ok: false,
      message:
        error instanceof FileTooLargeError
          ? `token file ${path} is larger than ${MAX_TOKEN_BYTES} bytes`
          : `cannot read token file ${path}: ${errorCode(error)}`,
    };
  }
  const token = text.trim();
  if (!token) return { ok: false, message: `token file ${path} is empty` };
  const decoded = decodeJwtPayload(token);
  if ('error' in decoded) return { ok: false, message: `token file ${path} does not hold a JWT: ${decoded.error}` };
  return { ok: true, assertion: new Secret(token), claims: assertionClaims(decoded.claims), path };
}

export function assertionClaims(payload: Record<string, unknown>): AssertionClaims {
  const aud = payload['aud'];
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((value): value is string => typeof value === 'string') : [];
  const { iss, sub, exp } = payload;
  return {
    aud: audiences,
    ...(typeof iss === 'string' ? { iss } : {}),
    ...(typeof sub === 'string' ? { sub } : {}),
    ...(typeof exp === 'number' && Number.isFinite(exp) ? { exp } : {}),
  };
}
