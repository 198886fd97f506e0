import { constants, createHash, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

// Just enough JWS (compact serialisation, RS256) for the sandbox to issue Entra-shaped access tokens and to
// check client assertions; nothing outside the sandbox trusts these tokens.

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `base64url(header).base64url(payload)`, the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

/** App-only v1.0 access token claims as Entra ID issues them for the client-credentials grant. */
export interface AccessTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  aio: string;
  appid: string;
  /** '1' client secret, '2' certificate or federated assertion. */
  appidacr: '1' | '2';
  idp: string;
  idtyp: 'app';
  oid: string;
  rh: string;
  /** Absent when the app holds no granted application permission on the resource, as with Entra. */
  roles?: string[];
  sub: string;
  tid: string;
  uti: string;
  ver: '1.0';
}

export interface TokenSigner {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Key id; Entra puts the signing certificate's thumbprint in both x5t and kid. */
  kid: string;
}

export function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function createTokenSigner(): TokenSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { privateKey, publicKey, kid: createHash('sha1').update(spki).digest('base64url') };
}

export function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const signingInput = `${base64UrlJson({ ...header, alg: 'RS256' })}.${base64UrlJson(payload)}`;
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
}

function parseJsonObject(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Splits and parses a compact JWS without checking the signature; null when it is not one. */
export function decodeJwt(token: string): DecodedJwt | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = parseJsonObject(headerPart);
  const payload = parseJsonObject(payloadPart);
  if (!header || !payload || !/^[A-Za-z0-9_-]+$/.test(signaturePart)) return null;
  return { header, payload, signingInput: `${headerPart}.${payloadPart}`, signature: Buffer.from(signaturePart, 'base64url') };
}

/** RS256 and PS256 are the two algorithms msal-node signs client assertions with. */
export function verifyJwtSignature(decoded: DecodedJwt, key: KeyObject): boolean {
  const data = Buffer.from(decoded.signingInput);
  try {
    switch (decoded.header['alg']) {
      case 'RS256':
        return verify('sha256', data, key, decoded.signature);
      case 'PS256':
        return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, decoded.signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

// Opaque Entra claims (aio, rh, uti) carry no meaning here; random filler keeps token size realistic.
function opaque(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export interface AccessTokenInput {
  tenantId: string;
  appId: string;
  servicePrincipalObjectId: string;
  audience: string;
  credential: 'secret' | 'certificate' | 'federated';
  roles: string[];
  /** Epoch milliseconds. */
  now: number;
  lifetimeSeconds: number;
}

export function issueAccessToken(signer: TokenSigner, input: AccessTokenInput): string {
  const nowSeconds = Math.floor(input.now / 1000);
  // Entra backdates iat/nbf by five minutes, so exp - iat is lifetime + 300 (3900 s for the default hour).
  const issuedAt = nowSeconds - 300;
  const claims: AccessTokenClaims = {
    aud: input.audience,
    iss: `https://sts.windows.net/${input.tenantId}/`,
    iat: issuedAt,
    nbf: issuedAt,
    exp: nowSeconds + input.lifetimeSeconds,
    aio: opaque(66),
    appid: input.appId,
    appidacr: input.credential === 'secret' ? '1' : '2',
    idp: `https://sts.windows.net/${input.tenantId}/`,
    idtyp: 'app',
    oid: input.servicePrincipalObjectId,
    rh: `1.${opaque(60)}.`,
    ...(input.roles.length > 0 ? { roles: [...input.roles] } : {}),
    sub: input.servicePrincipalObjectId,
    tid: input.tenantId,
    uti: opaque(16),
    ver: '1.0',
  };
  return signJwt({ typ: 'JWT', x5t: signer.kid, kid: signer.kid }, { ...claims }, signer.privateKey);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Reads the claims a mail server needs; null when the token is not a well-formed sandbox access token. */
export function readAccessTokenClaims(payload: Record<string, unknown>): AccessTokenClaims | null {
  const strings = ['aud', 'iss', 'appid', 'oid', 'tid', 'sub'] as const;
  if (!strings.every((name) => typeof payload[name] === 'string')) return null;
  if (!['iat', 'nbf', 'exp'].every((name) => typeof payload[name] === 'number')) return null;
  if (payload['roles'] !== undefined && !isStringArray(payload['roles'])) return null;
  if (payload['ver'] !== '1.0' || payload['idtyp'] !== 'app') return null;
  return payload as unknown as AccessTokenClaims;
}
