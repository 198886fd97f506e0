import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Pem } from './certs.js';
import { decodeJwt, verifyJwtSignature, type DecodedJwt } from './jwt.js';
import { graphError, readBody } from './graph.js';
import { GRAPH_AUDIENCE, type AppRecord, type ResourceKind, type SandboxModel, type TenantRecord } from './model.js';

// Emulates the parts of the Microsoft identity platform (login.microsoftonline.com) and Microsoft Graph that
// mailprobe touches: OIDC discovery, the v2.0 token endpoint for client credentials, and reading an app's
// credential end dates. Error bodies follow Entra's shape byte for byte; the texts are the public ones.

export interface EntraServer {
  /** https://127.0.0.1:PORT — base for authority (`${url}/${tenantId}`) and for the Graph base URL. */
  url: string;
  /** '127.0.0.1:PORT', what msal-node needs in knownAuthorities. */
  authorityHost: string;
  /** POSTs to the token endpoint, faulted ones included. */
  tokenRequests(): number;
  close(): Promise<void>;
}

export interface EntraOptions {
  model: SandboxModel;
  tls: Pem;
  host?: string;
  port?: number;
  /** Extra routes tried before Entra's own (e.g. the sandbox control API); return true when handled. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean | Promise<boolean>;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, no-cache' };
const MAX_BODY_BYTES = 256 * 1024;
/** Tenant segments that are not tenants; client credentials needs a real one. */
const MULTI_TENANT_SEGMENTS = new Set(['common', 'consumers']);

/** Resource hosts this sandbox knows, keyed by the host in `https://<host>/.default`. */
const RESOURCE_HOSTS: Record<string, ResourceKind> = {
  'outlook.office.com': 'exchange',
  'outlook.office365.com': 'exchange',
  'ps.outlook.com': 'exchange',
  'graph.microsoft.com': 'graph',
};

function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(value) };
}

/** `2023-05-06 06:03:00Z`, the form Entra writes into error_description and timestamp. */
function entraTimestamp(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

export interface EntraErrorContext {
  now: number;
  /** msal's client-request-id, which Entra echoes as correlation_id. */
  correlationId: string;
}

export function entraError(ctx: EntraErrorContext, status: number, error: string, code: number, description: string): HttpAnswer {
  const traceId = randomUUID();
  const timestamp = entraTimestamp(ctx.now);
  return json(status, {
    error,
    error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: ctx.correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

/** Either the value a check produced or the error answer that ends the request. */
type Verdict<T> = { ok: true; value: T } | { ok: false; answer: HttpAnswer };

const DEFAULT_SUFFIX = '/.default';

/** Syntax of the scope parameter; yields the one resource URI it names. */
function parseScope(ctx: EntraErrorContext, scopeParam: string): Verdict<string> {
  const scopes = scopeParam.split(' ').filter((scope) => scope !== '');
  const defaults = scopes.filter((scope) => scope.endsWith(DEFAULT_SUFFIX));
  const resources = new Set(defaults.map((scope) => scope.slice(0, -DEFAULT_SUFFIX.length).toLowerCase()));
  if (resources.size > 1) {
    return {
      ok: false,
      answer: entraError(
        ctx,
        400,
        'invalid_scope',
        700022,
        `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scopes.join(' ')} is not valid.`,
      ),
    };
  }
  const offending = scopes.find((scope) => !scope.endsWith(DEFAULT_SUFFIX));
  const [first] = defaults;
  if (offending === undefined && first !== undefined) return { ok: true, value: first.slice(0, -DEFAULT_SUFFIX.length) };
  // A specific permission on a resource URI (…/IMAP.AccessAsApp) gets the /.default hint; anything else is malformed.
  if (offending !== undefined && /^https?:\/\/[^/\s]+\/\S+$/i.test(offending)) {
    return {
      ok: false,
      answer: entraError(
        ctx,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${offending} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      ),
    };
  }
  return {
    ok: false,
    answer: entraError(
      ctx,
      400,
      'invalid_scope',
      70011,
      `The provided value for the input parameter 'scope' is not valid. The scope ${scopeParam} is not valid.`,
    ),
  };
}

function resolveResource(ctx: EntraErrorContext, tenant: TenantRecord, resourceUri: string): Verdict<{ audience: string; resource: ResourceKind }> {
  const host = /^https:\/\/([^/]+)\/?$/i.exec(resourceUri)?.[1]?.toLowerCase();
  const resource = host === undefined ? undefined : RESOURCE_HOSTS[host];
  if (host === undefined || resource === undefined) {
    return {
      ok: false,
      answer: entraError(
        ctx,
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resourceUri} was not found in the tenant named ${tenant.displayName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      ),
    };
  }
  return { ok: true, value: { audience: `https://${host}`, resource } };
}

type Credential = 'secret' | 'certificate' | 'federated';

function checkSecret(ctx: EntraErrorContext, app: AppRecord, secret: string): Verdict<Credential> {
  const matching = app.secrets.filter((candidate) => candidate.value === secret);
  if (matching.some((candidate) => candidate.expiresAt > ctx.now)) return { ok: true, value: 'secret' };
  if (matching.length > 0) {
    return {
      ok: false,
      answer: entraError(
        ctx,
        401,
        'invalid_client',
        7000222,
        `The provided client secret keys for app '${app.clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      ),
    };
  }
  return {
    ok: false,
    answer: entraError(
      ctx,
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
    ),
  };
}

function thumbprintFromHeader(value: unknown): string {
  return typeof value === 'string' ? Buffer.from(value, 'base64url').toString('hex').toUpperCase() : '';
}

/** Entra's time format in AADSTS700024: seven fractional digits. */
function ticks(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/Z$/, '0000Z');
}

const FEDERATION_DOC = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';

/**
 * A client assertion that is not the app's own (iss and sub are not its client ID) is an external token, matched
 * against the app's federated credentials: issuer, then subject, exactly and case-sensitively, then audience.
 * Texts: docs/exchange-online-errors.md, "Federated credentials".
 */
function checkFederatedAssertion(ctx: EntraErrorContext, model: SandboxModel, app: AppRecord, decoded: DecodedJwt): Verdict<Credential> {
  const fail = (status: number, error: string, code: number, text: string): Verdict<Credential> => ({
    ok: false,
    answer: entraError(ctx, status, error, code, text),
  });
  const payload = decoded.payload;
  const issuer = typeof payload['iss'] === 'string' ? payload['iss'] : '';
  const subject = typeof payload['sub'] === 'string' ? payload['sub'] : '';
  const rawAudience = payload['aud'];
  const audiences =
    typeof rawAudience === 'string' ? [rawAudience] : Array.isArray(rawAudience) ? rawAudience.filter((a): a is string => typeof a === 'string') : [];
  const exp = typeof payload['exp'] === 'number' ? payload['exp'] * 1000 : 0;
  const nbf = typeof payload['nbf'] === 'number' ? payload['nbf'] * 1000 : 0;
  if (exp <= ctx.now || nbf > ctx.now + 300_000) {
    return fail(
      401,
      'invalid_client',
      700024,
      `Client assertion is not within its valid time range. Current time: ${ticks(ctx.now)}, assertion valid from ${ticks(nbf)}, expiry time of assertion ${ticks(exp)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
    );
  }
  const byIssuer = app.federatedCredentials.filter((record) => record.issuer === issuer);
  if (byIssuer.length === 0) {
    return fail(
      401,
      'invalid_client',
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${FEDERATION_DOC}`,
    );
  }
  const bySubject = byIssuer.filter((record) => record.subject === subject);
  if (bySubject.length === 0) {
    if (byIssuer.some((record) => record.subject.toLowerCase() === subject.toLowerCase())) {
      return fail(
        401,
        'invalid_client',
        7002138,
        `No matching federated identity record found for presented assertion subject '${subject}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: ${FEDERATION_DOC}.`,
      );
    }
    return fail(
      401,
      'invalid_client',
      700213,
      `No matching federated identity record found for presented assertion subject '${subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${FEDERATION_DOC}`,
    );
  }
  if (!bySubject.some((record) => record.audiences.some((audience) => audiences.includes(audience)))) {
    return fail(
      400,
      'invalid_request',
      70021,
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. Assertion Audience: '${audiences.join(',')}'. ${FEDERATION_DOC}`,
    );
  }
  // Entra fetches the issuer's keys from its discovery document; the sandbox knows them from issueExternalToken.
  if (!model.verifyExternalToken(decoded)) return fail(401, 'invalid_client', 50013, 'Assertion failed signature validation.');
  return { ok: true, value: 'federated' };
}

function checkAssertion(ctx: EntraErrorContext, model: SandboxModel, app: AppRecord, assertion: string, assertionType: string | null): Verdict<Credential> {
  const fail = (status: number, error: string, code: number, text: string): Verdict<Credential> => ({
    ok: false,
    answer: entraError(ctx, status, error, code, text),
  });
  if (assertionType !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return fail(400, 'invalid_request', 70002, `The client_assertion_type '${assertionType ?? ''}' is not supported.`);
  }
  const decoded = decodeJwt(assertion);
  if (!decoded) return fail(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  if (decoded.payload['iss'] !== app.clientId && decoded.payload['sub'] !== app.clientId) return checkFederatedAssertion(ctx, model, app, decoded);
  if (decoded.payload['iss'] !== app.clientId || decoded.payload['sub'] !== app.clientId) {
    return fail(
      401,
      'invalid_client',
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
    );
  }
  const sha256 = thumbprintFromHeader(decoded.header['x5t#S256']);
  const sha1 = thumbprintFromHeader(decoded.header['x5t']);
  const presented = sha256 || sha1;
  const certificate = app.certificates.find((cert) => (sha256 ? cert.thumbprintSha256 === sha256 : cert.thumbprint === sha1));
  if (!certificate) {
    return fail(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${presented}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/${app.applicationObjectId}']`,
    );
  }
  const found = `Found key 'Start=${new Date(certificate.startsAt).toISOString()}, End=${new Date(certificate.expiresAt).toISOString()}'`;
  if (!verifyJwtSignature(decoded, certificate.publicKey)) {
    return fail(
      401,
      'invalid_client',
      700027,
      `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${presented}', ${found}]`,
    );
  }
  if (certificate.expiresAt <= ctx.now) {
    return fail(
      401,
      'invalid_client',
      700027,
      `Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '${presented}', ${found}]`,
    );
  }
  return { ok: true, value: 'certificate' };
}

function unknownTenant(ctx: EntraErrorContext, tenantSegment: string): HttpAnswer {
  return entraError(
    ctx,
    400,
    'invalid_tenant',
    90002,
    `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  );
}

function missingParameter(ctx: EntraErrorContext, name: string): HttpAnswer {
  return entraError(ctx, 400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
}

/**
 * The token endpoint's decision for one request. Checks run tenant → request shape → app → scope syntax →
 * credential → app enabled → resource; Entra's real order for combined faults is not documented.
 */
export function decideTokenRequest(model: SandboxModel, tenantSegment: string, form: URLSearchParams, correlationId: string): HttpAnswer {
  const ctx: EntraErrorContext = { now: model.now(), correlationId };
  if (MULTI_TENANT_SEGMENTS.has(tenantSegment.toLowerCase())) {
    return entraError(
      ctx,
      400,
      'invalid_request',
      9001023,
      "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
    );
  }
  const tenant = model.findTenant(tenantSegment);
  if (!tenant) return unknownTenant(ctx, tenantSegment);
  const grantType = form.get('grant_type');
  if (!grantType) return missingParameter(ctx, 'grant_type');
  if (grantType === DEVICE_CODE_GRANT || grantType === 'refresh_token') return decideDelegatedGrant(ctx, model, tenant, grantType, form);
  if (grantType !== 'client_credentials') {
    return entraError(ctx, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
  }
  const clientId = form.get('client_id');
  if (!clientId) return missingParameter(ctx, 'client_id');
  const scope = form.get('scope');
  if (!scope) return missingParameter(ctx, 'scope');
  const scopeResource = parseScope(ctx, scope);
  const app = tenant.apps.get(clientId);
  if (!app) {
    return entraError(
      ctx,
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    );
  }
  if (!scopeResource.ok) return scopeResource.answer;
  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  if (!secret && !assertion) {
    return entraError(ctx, 401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }
  const credential = secret ? checkSecret(ctx, app, secret) : checkAssertion(ctx, model, app, assertion ?? '', form.get('client_assertion_type'));
  if (!credential.ok) return credential.answer;
  if (!app.enabled) {
    return entraError(ctx, 400, 'unauthorized_client', 7000112, `Application '${app.clientId}'(${app.displayName}) is disabled.`);
  }
  const target = resolveResource(ctx, tenant, scopeResource.value);
  if (!target.ok) return target.answer;
  const accessToken = model.issueAccessToken({
    tenantId: tenant.tenantId,
    clientId: app.clientId,
    audience: target.value.audience,
    resource: target.value.resource,
    credential: credential.value,
  });
  const expiresIn = model.tokenLifetimeSeconds;
  return json(200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken });
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const OUTLOOK_RESOURCE = 'https://outlook.office.com';

/** Delegated scopes as Entra echoes them: the Outlook permission names, and offline_access when asked. */
function delegatedScopes(scope: string | null): string[] {
  return (scope ?? '')
    .split(' ')
    .filter((item) => item !== '' && item !== 'openid' && item !== 'profile')
    .map((item) => (item.toLowerCase().startsWith(`${OUTLOOK_RESOURCE}/`) ? item.slice(OUTLOOK_RESOURCE.length + 1) : item));
}

/** POST /{tenant}/oauth2/v2.0/devicecode: the code a person enters at the verification page. */
export function decideDeviceCode(model: SandboxModel, tenantSegment: string, form: URLSearchParams, correlationId: string): HttpAnswer {
  const ctx: EntraErrorContext = { now: model.now(), correlationId };
  const tenant = model.findTenant(tenantSegment);
  if (!tenant) return unknownTenant(ctx, tenantSegment);
  const clientId = form.get('client_id');
  if (!clientId) return missingParameter(ctx, 'client_id');
  if (!tenant.apps.get(clientId)) {
    return entraError(
      ctx,
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    );
  }
  const started = model.delegation.startDeviceCode(tenant.tenantId, clientId, delegatedScopes(form.get('scope')), ctx.now);
  const verificationUri = 'https://microsoft.com/devicelogin';
  return json(200, {
    user_code: started.userCode,
    device_code: started.deviceCode,
    verification_uri: verificationUri,
    expires_in: started.expiresIn,
    interval: started.interval,
    message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${started.userCode} to authenticate.`,
  });
}

/** The device-code and refresh-token grants of a public client app (a person's delegated sign-in). */
function decideDelegatedGrant(ctx: EntraErrorContext, model: SandboxModel, tenant: TenantRecord, grantType: string, form: URLSearchParams): HttpAnswer {
  const clientId = form.get('client_id');
  if (!clientId) return missingParameter(ctx, 'client_id');
  const app = tenant.apps.get(clientId);
  if (!app)
    return entraError(
      ctx,
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant.displayName}'.`,
    );
  if (!app.publicClient) {
    return entraError(ctx, 401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }
  let issued: { refreshToken: string; grant: { user: string; scopes: string[] } };
  if (grantType === DEVICE_CODE_GRANT) {
    const code = form.get('device_code');
    if (!code) return missingParameter(ctx, 'device_code');
    const record = model.delegation.deviceCode(code);
    if (!record || record.expiresAt <= ctx.now)
      return entraError(
        ctx,
        400,
        'expired_token',
        70020,
        "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
      );
    if (!record.approvedBy)
      return entraError(ctx, 400, 'authorization_pending', 70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.');
    issued = model.delegation.completeDeviceCode(record, ctx.now);
  } else {
    const refreshToken = form.get('refresh_token');
    if (!refreshToken) return missingParameter(ctx, 'refresh_token');
    const refusal = model.delegation.refusal(refreshToken, ctx.now);
    if (refusal) return entraError(ctx, 400, 'invalid_grant', refusal.code, refusal.text);
    issued = model.delegation.redeem(refreshToken, ctx.now);
  }
  const scopes = issued.grant.scopes.filter((scope) => scope !== 'offline_access');
  const accessToken = model.issueUserAccessToken({ tenantId: tenant.tenantId, clientId, user: issued.grant.user, audience: OUTLOOK_RESOURCE, scopes });
  const expiresIn = model.tokenLifetimeSeconds;
  return json(200, {
    token_type: 'Bearer',
    scope: scopes.map((scope) => `${OUTLOOK_RESOURCE}/${scope}`).join(' '),
    expires_in: expiresIn,
    ext_expires_in: expiresIn,
    access_token: accessToken,
    ...(issued.grant.scopes.includes('offline_access') ? { refresh_token: issued.refreshToken } : {}),
  });
}

/**
 * The tenant's OpenID configuration. Entra refuses it for an unknown tenant exactly as it refuses the token
 * request (400 invalid_tenant, AADSTS90002), which msal-node turns into endpoints_resolution_error. The
 * multi-tenant segments have metadata; their refusal comes at the token endpoint (AADSTS9001023).
 */
function openIdConfiguration(base: string, tenantSegment: string, model: SandboxModel, correlationId: string): HttpAnswer {
  const known = model.findTenant(tenantSegment)?.tenantId;
  const multiTenant = MULTI_TENANT_SEGMENTS.has(tenantSegment.toLowerCase()) || tenantSegment.toLowerCase() === 'organizations';
  if (!known && !multiTenant) return unknownTenant({ now: model.now(), correlationId }, tenantSegment);
  const root = `${base}/${known ?? tenantSegment}`;
  return json(200, {
    token_endpoint: `${root}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${root}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${root}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${root}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${root}/oauth2/v2.0/logout`,
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    msgraph_host: 'graph.microsoft.com',
  });
}

function instanceDiscovery(base: string, host: string): HttpAnswer {
  return json(200, {
    tenant_discovery_endpoint: `${base}/common/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  });
}

const APPLICATION_READ_ROLES = ['Application.Read.All', 'Application.ReadWrite.All'];

/** GET /v1.0/applications(appId='<clientId>') — an app's credential metadata, never secret values. */
export function graphApplication(model: SandboxModel, authorization: string | undefined, appId: string): HttpAnswer {
  const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return graphError(model.now(), 401, 'InvalidAuthenticationToken', 'Access token is empty.');
  const claims = model.readIssuedToken(token);
  if (!claims) return graphError(model.now(), 401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed, there are no dots (.).');
  if (claims.exp <= Math.floor(model.now() / 1000)) {
    return graphError(model.now(), 401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
  }
  if (claims.aud !== GRAPH_AUDIENCE) {
    return graphError(model.now(), 401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
  }
  if (!(claims.roles ?? []).some((role) => APPLICATION_READ_ROLES.includes(role))) {
    return graphError(model.now(), 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  }
  const app = model.findTenant(claims.tid)?.apps.get(appId);
  if (!app) {
    return graphError(
      model.now(),
      404,
      'Request_ResourceNotFound',
      `Resource '${appId}' does not exist or one of its queried reference-property objects are not present.`,
    );
  }
  const iso = (epochMs: number): string => new Date(epochMs).toISOString().replace(/\.000Z$/, 'Z');
  return json(200, {
    '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#applications(passwordCredentials,keyCredentials)/$entity',
    passwordCredentials: app.secrets.map((secret) => ({
      customKeyIdentifier: null,
      displayName: secret.displayName,
      endDateTime: iso(secret.expiresAt),
      hint: secret.value.slice(0, 3),
      keyId: secret.id,
      secretText: null,
      startDateTime: iso(secret.startsAt),
    })),
    keyCredentials: app.certificates.map((cert) => ({
      customKeyIdentifier: cert.thumbprint,
      displayName: `CN=${cert.displayName}`,
      endDateTime: iso(cert.expiresAt),
      key: null,
      keyId: cert.keyId,
      startDateTime: iso(cert.startsAt),
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
    })),
  });
}

function send(res: ServerResponse, answer: HttpAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function startEntra(options: EntraOptions): Promise<EntraServer> {
  const { model } = options;
  const host = options.host ?? '127.0.0.1';
  let tokenRequests = 0;
  const sockets = new Set<Socket>();
  let base = '';
  let authorityHost = '';

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === null) return send(res, json(413, { error: 'request_too_large' }));
    if (options.extraRoutes && (await options.extraRoutes(req, res, body))) return;
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;
    const requestId = req.headers['client-request-id'];
    const correlationId = typeof requestId === 'string' && GUID.test(requestId) ? requestId : randomUUID();
    const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (req.method === 'POST' && tokenPath) {
      tokenRequests += 1;
      if (model.faults.tokenHang) return; // accepted, never answered; close() destroys the socket
      if (model.faults.tokenServerError) return send(res, { status: 500, headers: { 'content-type': 'text/plain' }, body: 'Internal Server Error' });
      const throttle = model.faults.tokenThrottleSeconds;
      if (throttle !== null) {
        return send(res, { status: 429, headers: { 'content-type': 'text/plain', 'retry-after': String(throttle) }, body: 'Too Many Requests' });
      }
      return send(res, decideTokenRequest(model, decodeURIComponent(tokenPath[1] ?? ''), new URLSearchParams(body), correlationId));
    }
    const deviceCodePath = /^\/([^/]+)\/oauth2\/v2\.0\/devicecode$/.exec(path);
    if (req.method === 'POST' && deviceCodePath) {
      return send(res, decideDeviceCode(model, decodeURIComponent(deviceCodePath[1] ?? ''), new URLSearchParams(body), correlationId));
    }
    const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (req.method === 'GET' && discovery) {
      return send(res, openIdConfiguration(base, decodeURIComponent(discovery[1] ?? ''), model, correlationId));
    }
    if (req.method === 'GET' && path === '/common/discovery/instance') return send(res, instanceDiscovery(base, authorityHost));
    const application = /^\/v1\.0\/applications\(appId='([^']+)'\)$/.exec(decodeURIComponent(path));
    if (req.method === 'GET' && application) {
      return send(res, graphApplication(model, req.headers.authorization, application[1] ?? ''));
    }
    send(res, json(404, { error: 'not_found' }));
  }

  const server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    route(req, res).catch(() => {
      if (!res.headersSent) send(res, json(500, { error: 'server_error' }));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  authorityHost = `${host}:${port}`;
  base = `https://${authorityHost}`;

  return {
    url: base,
    authorityHost,
    tokenRequests: () => tokenRequests,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
