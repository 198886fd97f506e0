import { isAudienceOf, TOKEN_RESOURCE, type TokenResource } from '../core/clouds.js';
import type { GrantKind } from '../core/checks.js';
import { holdsRole } from '../core/protocols.js';
import type { ReasonCode } from '../core/reasons.js';

export interface TokenClaims {
  aud?: string;
  /** Application permissions (an app-only token). */
  roles: string[];
  /** Delegated permissions of a user's token: the `scp` claim, space-separated in the token. */
  scopes?: string[];
  /** The user a delegated token was issued to (upn, else preferred_username). */
  upn?: string;
  appid?: string;
  tid?: string;
  /** The service principal's object ID: the value `New-ServicePrincipal -ObjectId` needs. */
  oid?: string;
  exp?: number;
  iat?: number;
  /** 1 = client secret, 2 = certificate. */
  appidacr?: string;
  idtyp?: string;
  iss?: string;
  ver?: string;
}

const stringClaims = ['aud', 'appid', 'tid', 'oid', 'appidacr', 'idtyp', 'iss', 'ver'] as const;
const numberClaims = ['exp', 'iat'] as const;

/**
 * Reads the payload of a JWT access token without checking its signature: Exchange checks that, we only
 * want to see what Entra put in it. Errors never quote the token.
 */
export function decodeAccessToken(token: string): TokenClaims | { error: string } {
  const payload = decodeJwtPayload(token);
  if ('error' in payload) return payload;
  const claims: TokenClaims = { roles: [] };
  const record = payload.claims;
  for (const key of stringClaims) {
    const value = record[key];
    if (typeof value === 'string') claims[key] = value;
  }
  for (const key of numberClaims) {
    const value = record[key];
    if (typeof value === 'number' && Number.isFinite(value)) claims[key] = value;
  }
  const roles = record['roles'];
  if (Array.isArray(roles)) claims.roles = roles.filter((role): role is string => typeof role === 'string');
  const scp = record['scp'];
  if (typeof scp === 'string') claims.scopes = scp.split(' ').filter(Boolean);
  const upn = record['upn'] ?? record['preferred_username'];
  if (typeof upn === 'string') claims.upn = upn;
  return claims;
}

/**
 * The payload of a compact JWS as a JSON object, unverified. Errors never quote the token: it may be a
 * credential (a federated assertion) as much as an access token.
 */
export function decodeJwtPayload(token: string): { claims: Record<string, unknown> } | { error: string } {
  const parts = token.trim().split('.');
  if (parts.length !== 3) return { error: `not a JWS compact token (expected 3 dot-separated parts, found ${parts.length})` };
  const payloadPart = parts[1] ?? '';
  if (!/^[A-Za-z0-9_-]+$/.test(payloadPart)) return { error: 'token payload is not base64url' };
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  } catch {
    return { error: 'token payload is not JSON' };
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { error: 'token payload is not a JSON object' };
  }
  return { claims: payload as Record<string, unknown> };
}

/** What the token grants: a user's delegated permissions (scp) or the app's roles. */
export function grantedPermissions(claims: TokenClaims, grant: GrantKind = 'application'): string[] {
  return grant === 'delegated' ? (claims.scopes ?? []) : claims.roles;
}

export function isDecodeError(value: TokenClaims | { error: string }): value is { error: string } {
  return 'error' in value;
}

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: string): boolean {
  return guidPattern.test(value);
}

export interface TokenExpectation {
  /** The configured tenant: a GUID or a domain name. Only a GUID can be compared with `tid`. */
  tenantId: string;
  /** The service the token is for (the check descriptor's); a token for another fails on every server. */
  resource: TokenResource;
  /** The permissions the token must hold: application roles, or with grant "delegated" the delegated permissions. */
  requiredRoles: string[];
  /** Absent: application (the roles claim). */
  grant?: GrantKind;
  /** Wall time, epoch milliseconds. */
  now: number;
  /** Tolerated clock difference before `exp` counts as past; default 300 s. */
  skewSeconds?: number;
}

export interface TokenProblem {
  reason: ReasonCode;
  detail: string;
}

const DEFAULT_SKEW_SECONDS = 300;

/** A token for another resource or tenant, or an expired one, fails on every server; a missing role may not. */
export function isCertain(problem: TokenProblem): boolean {
  return problem.reason !== 'role_missing';
}

/**
 * What the token shows wrong, most fundamental first: a token for another resource or tenant carries that
 * resource's roles, so a wrong aud/tid explains a missing role and is reported before it. A missing role is
 * evidence only: Exchange can grant access the token does not show (RBAC for Applications grants SMTP sending
 * without the Entra SMTP.SendAsApp role; docs/exchange-online-errors.md §10), so only `isCertain` problems
 * may stop a check before the server answers.
 */
export function tokenProblems(claims: TokenClaims, expected: TokenExpectation): TokenProblem[] {
  const problems: TokenProblem[] = [];
  if (claims.aud === undefined) {
    problems.push({ reason: 'token_wrong_audience', detail: 'the token has no aud claim' });
  } else if (!isAudienceOf(claims.aud, expected.resource)) {
    problems.push({ reason: 'token_wrong_audience', detail: `the token is for ${claims.aud}, not ${TOKEN_RESOURCE[expected.resource].label}` });
  }

  if (isGuid(expected.tenantId) && claims.tid?.toLowerCase() !== expected.tenantId.toLowerCase()) {
    problems.push({
      reason: 'token_wrong_tenant',
      detail: `the token was issued by tenant ${claims.tid ?? '(no tid claim)'}, not ${expected.tenantId}`,
    });
  }

  const granted = grantedPermissions(claims, expected.grant);
  const missing = expected.requiredRoles.filter((role) => !holdsRole(granted, role));
  if (missing.length > 0) {
    const held = granted.length > 0 ? granted.join(', ') : 'none';
    problems.push({
      reason: 'role_missing',
      detail:
        expected.grant === 'delegated'
          ? `the token lacks the delegated permission ${missing.join(', ')} (scp: ${held})`
          : `the token lacks ${missing.join(', ')} (roles: ${held})`,
    });
  }

  const skew = expected.skewSeconds ?? DEFAULT_SKEW_SECONDS;
  if (claims.exp !== undefined && claims.exp * 1000 < expected.now - skew * 1000) {
    problems.push({
      reason: 'token_expired',
      detail: `the token expired at ${new Date(claims.exp * 1000).toISOString()} (now ${new Date(expected.now).toISOString()})`,
    });
  }
  return problems;
}
