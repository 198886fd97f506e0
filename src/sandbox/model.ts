import { createHash, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { certificateThumbprint } from './certs.js';
import { DelegatedGrants } from './delegation.js';
import {
  createTokenSigner,
  decodeJwt,
  issueAccessToken,
  readAccessTokenClaims,
  signJwt,
  verifyJwtSignature,
  type AccessTokenClaims,
  type DecodedJwt,
  type TokenSigner,
} from './jwt.js';

// One in-memory picture of a Microsoft 365 tenant (Entra app registrations + Exchange Online settings) that
// every emulated service reads, so a test or the demo flips one switch and each service fails the way the
// real one would.

export type MailProtocol = 'imap' | 'pop3' | 'smtp';

export const MAIL_ROLES: Record<MailProtocol, string> = {
  imap: 'IMAP.AccessAsApp',
  pop3: 'POP.AccessAsApp',
  smtp: 'SMTP.SendAsApp',
};

/** Audiences Exchange Online accepts for XOAUTH2 (the resource URIs of "Office 365 Exchange Online"). */
/** The delegated permissions a person's token needs per protocol (with offline_access to stay signed in). */
export const DELEGATED_SCOPES: Record<MailProtocol, string> = {
  imap: 'IMAP.AccessAsUser.All',
  pop3: 'POP.AccessAsUser.All',
  smtp: 'SMTP.Send',
};

/** What Exchange reads from a delegated token. */
interface UserTokenClaims {
  aud: string;
  tid: string;
  upn: string;
  appid: string;
  scp: string;
  exp: number;
  nbf: number;
}

export const EXCHANGE_AUDIENCES: readonly string[] = ['https://outlook.office.com', 'https://outlook.office365.com', 'https://ps.outlook.com'];
export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';

export type ResourceKind = 'exchange' | 'graph';

export type MailLoginDenial =
  | 'token_malformed'
  | 'token_expired'
  | 'wrong_audience'
  | 'unknown_tenant'
  | 'role_missing'
  | 'rbac_out_of_scope'
  | 'no_service_principal'
  | 'unknown_mailbox'
  | 'no_full_access'
  | 'protocol_disabled'
  | 'smtp_auth_disabled_tenant'
  | 'smtp_auth_disabled_mailbox';

export type MailLoginDecision = { ok: true; tenantId: string; appId: string } | { ok: false; why: MailLoginDenial };

/** What a Graph mail request does to the mailbox, each with the permissions that allow it. */
export type GraphMailAccess = 'send' | 'read' | 'delete';

/** Entra application permissions (token `roles`) and RBAC for Applications roles per access; any one suffices. */
export const GRAPH_MAIL_GRANTS: Record<GraphMailAccess, { entra: readonly string[]; rbac: readonly ApplicationRole[] }> = {
  send: { entra: ['Mail.Send'], rbac: ['Application Mail.Send'] },
  read: {
    entra: ['Mail.Read', 'Mail.ReadWrite', 'Mail.ReadBasic.All', 'Mail.ReadBasic'],
    rbac: ['Application Mail.Read', 'Application Mail.ReadWrite', 'Application Mail.ReadBasic'],
  },
  delete: { entra: ['Mail.ReadWrite'], rbac: ['Application Mail.ReadWrite'] },
};

/** Mail.ReadBasic leaves out the body and extended properties; the emulator treats internetMessageHeaders as left out too. */
const GRAPH_FULL_READ: { entra: readonly string[]; rbac: readonly ApplicationRole[] } = {
  entra: ['Mail.Read', 'Mail.ReadWrite'],
  rbac: ['Application Mail.Read', 'Application Mail.ReadWrite'],
};

const GRAPH_MAIL_DEFAULT_ROLES = ['Mail.Send', 'Mail.ReadWrite'];

export type GraphMailDenial =
  | 'token_missing'
  | 'token_malformed'
  | 'token_expired'
  | 'wrong_audience'
  | 'unknown_mailbox'
  | 'rest_disabled'
  | 'no_permissions'
  | 'access_denied'
  | 'rbac_out_of_scope'
  | 'odata_disabled';

export type GraphMailDecision = { ok: true; tenantId: string; appId: string; mailbox: string; fullRead: boolean } | { ok: false; why: GraphMailDenial };

// ---- declarative spec (JSON-serialisable; every default yields a healthy tenant) ----

export interface SecretSpec {
  /** Entra's "Secret ID" (keyId); a GUID is derived when omitted. */
  id?: string;
  /** Entra's "Value", what the client must send. Defaults to defaultSecretValue(clientId). */
  value?: string;
  displayName?: string;
  /** ISO 8601; defaults to 180 days after model creation. */
  expiresAt?: string;
}

export interface CertificateSpec {
  certPem: string;
  displayName?: string;
  /** ISO 8601; defaults to the certificate's own notAfter. */
  expiresAt?: string;
}

export interface AppSpec {
  clientId?: string;
  displayName?: string;
  /** Object ID of the app registration (what people wrongly pass to New-ServicePrincipal). */
  applicationObjectId?: string;
  /** Object ID of the enterprise application (service principal): the token's oid. */
  servicePrincipalObjectId?: string;
  /** Omitted: one valid secret with defaultSecretValue(clientId). An empty list means no secret. */
  secrets?: SecretSpec[];
  certificates?: CertificateSpec[];
  /** Admin-consented application permissions on Exchange Online; defaults to all three mail roles. */
  roles?: string[];
  /**
   * Admin-consented application permissions on Microsoft Graph; defaults to Application.Read.All (credential expiry
   * checks) with Mail.Send and Mail.ReadWrite (the graph check's send, read and delete).
   */
  graphRoles?: string[];
  /** Enterprise app "Enabled for users to sign in". */
  enabled?: boolean;
  /** New-ServicePrincipal state in Exchange Online. 'wrongObjectId' = registered with the app registration's object ID. */
  exchangeServicePrincipal?: 'registered' | 'missing' | 'wrongObjectId';
  /** Workload identity federation: external tokens the app accepts as client assertions. */
  federatedCredentials?: FederatedCredentialSpec[];
  /** "Allow public client flows": the device-code and refresh-token grants without a client credential. */
  publicClient?: boolean;
}

/** One federated identity credential of an app: Entra matches issuer and subject exactly, and one audience. */
export interface FederatedCredentialSpec {
  name?: string;
  issuer: string;
  subject: string;
  /** Defaults to api://AzureADTokenExchange. */
  audiences?: string[];
}

export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

export interface MailboxSpec {
  address: string;
  imapEnabled?: boolean;
  popEnabled?: boolean;
  /** null (default) follows the tenant setting; a boolean overrides it. */
  smtpClientAuthDisabled?: boolean | null;
  /** Client IDs whose service principal holds FullAccess; defaults to every app of the tenant. */
  fullAccess?: string[];
  /** Client IDs whose service principal holds SendAs; defaults to none. */
  sendAs?: string[];
}

export interface TenantSpec {
  /** Defaults to a GUID derived from the domain. */
  tenantId?: string;
  /** Defaults to contoso.onmicrosoft.com. */
  domain?: string;
  displayName?: string;
  /** Set-TransportConfig -SmtpClientAuthenticationDisabled; defaults to false. */
  smtpClientAuthDisabled?: boolean;
  /** false: an Entra-only tenant (no Exchange Online), whose tokens Exchange does not know. Defaults to true. */
  exchangeOnline?: boolean;
  /** Defaults to one app. */
  apps?: AppSpec[];
  /** Defaults to probe@<domain>. */
  mailboxes?: MailboxSpec[];
}

export interface SandboxFaults {
  /** Token endpoint answers 429 with `Retry-After: <n>`. */
  tokenThrottleSeconds: number | null;
  /** Token endpoint accepts the request and never answers. */
  tokenHang: boolean;
  /** Token endpoint answers HTTP 500 (an Entra outage behind its front door). */
  tokenServerError: boolean;
  /** IMAP answers "Request is throttled. Suggested Backoff Time: <n> milliseconds". */
  imapThrottleMs: number | null;
  /** IMAP accepts AUTHENTICATE, then "BAD User is authenticated but not connected." */
  imapNotConnected: boolean;
  /** SMTP answers AUTH with a transient 4xx. */
  smtpThrottle: boolean;
  /** The protocol's server accepts the connection and never says anything. */
  hang: Record<MailProtocol, boolean>;
  /** The protocol's server accepts the connection and closes it at once, before any greeting (a reset). */
  reset: Record<MailProtocol, boolean>;
  /**
   * IMAP advertises IMAP4rev2 beside IMAP4rev1, as some tenants now do, and accepts ENABLE IMAP4rev2; once it is
   * enabled every SEARCH finds nothing (the broken rev2 search reported against Exchange, MailKit #2016).
   */
  imapRev2: boolean;
  /** IMAP SEARCH HEADER … matches no message (whether Exchange answers it is unconfirmed); other keys work. */
  imapHeaderSearchBlind: boolean;
  // Microsoft Graph mail (src/sandbox/graph.ts); texts in docs/exchange-online-errors.md §10, "Microsoft Graph (mail)".
  /** Mailboxes an application access policy keeps from Entra-granted apps: 403 ErrorAccessDenied "Access to OData is disabled.". */
  graphOdataDisabled: string[];
  /** Mailboxes Graph cannot reach (unlicensed, on-premises, not provisioned): 404 MailboxNotEnabledForRESTAPI. */
  graphRestDisabled: string[];
  /** Every Graph mail request answers 429 ApplicationThrottled with `Retry-After: <n>`. */
  graphThrottleSeconds: number | null;
  /** Each Graph mail answer is held back this long (makes concurrent requests overlap, as Exchange's do). */
  graphLatencyMs: number;
  /** Graph accepts requests and never answers. */
  graphHang: boolean;
}

export function defaultFaults(): SandboxFaults {
  return {
    tokenThrottleSeconds: null,
    tokenHang: false,
    tokenServerError: false,
    imapThrottleMs: null,
    imapNotConnected: false,
    smtpThrottle: false,
    hang: { imap: false, pop3: false, smtp: false },
    reset: { imap: false, pop3: false, smtp: false },
    imapRev2: false,
    imapHeaderSearchBlind: false,
    graphOdataDisabled: [],
    graphRestDisabled: [],
    graphThrottleSeconds: null,
    graphLatencyMs: 0,
    graphHang: false,
  };
}

// ---- records ----

export interface SecretRecord {
  id: string;
  value: string;
  displayName: string;
  /** Epoch milliseconds. */
  startsAt: number;
  expiresAt: number;
}

export interface CertificateRecord {
  keyId: string;
  /** Uppercase hex SHA-1 / SHA-256 of the DER. */
  thumbprint: string;
  thumbprintSha256: string;
  certPem: string;
  publicKey: KeyObject;
  displayName: string;
  startsAt: number;
  expiresAt: number;
}

export interface AppRecord {
  clientId: string;
  displayName: string;
  applicationObjectId: string;
  servicePrincipalObjectId: string;
  secrets: SecretRecord[];
  certificates: CertificateRecord[];
  roles: Record<ResourceKind, Set<string>>;
  enabled: boolean;
  federatedCredentials: Array<Required<FederatedCredentialSpec>>;
  publicClient: boolean;
}

export interface MailboxRecord {
  address: string;
  imapEnabled: boolean;
  popEnabled: boolean;
  smtpClientAuthDisabled: boolean | null;
  /** Service principal object IDs. */
  fullAccess: Set<string>;
  sendAs: Set<string>;
}

export interface TenantRecord {
  tenantId: string;
  domain: string;
  displayName: string;
  smtpClientAuthDisabled: boolean;
  exchangeOnline: boolean;
  apps: Map<string, AppRecord>;
  /** Exchange Online service principals: appId -> objectId given to New-ServicePrincipal. */
  exchangeServicePrincipals: Map<string, string>;
  /** Keyed by lowercased address. */
  mailboxes: Map<string, MailboxRecord>;
  /** Exchange RBAC for Applications (docs/exchange-online-errors.md §10): management scopes by name. */
  managementScopes: Map<string, ManagementScopeRecord>;
  roleAssignments: RoleAssignmentRecord[];
}

/**
 * New-ManagementScope. Exchange evaluates a RecipientRestrictionFilter; the emulator keeps the mailboxes it
 * selects (`PrimarySmtpAddress -eq …`, or the members of the group a `MemberOfGroup` filter names).
 */
export interface ManagementScopeRecord {
  name: string;
  /** Lowercased addresses. */
  mailboxes: Set<string>;
}

/** RBAC for Applications roles: SMTP's, and Graph's mail roles (for the Graph checks to come). */
export const APPLICATION_ROLES = [
  'Application SMTP.SendAsApp',
  'Application Mail.Send',
  'Application Mail.Read',
  'Application Mail.ReadBasic',
  'Application Mail.ReadWrite',
] as const;
export type ApplicationRole = (typeof APPLICATION_ROLES)[number];

/** New-ManagementRoleAssignment -App <clientId> -Role <role> -CustomResourceScope <scope>. */
export interface RoleAssignmentRecord {
  name: string;
  app: string;
  role: ApplicationRole;
  scope: string;
}

/** One row of Test-ServicePrincipalAuthorization -Identity <app> -Resource <mailbox>. */
export interface AuthorizationRow {
  RoleName: ApplicationRole;
  GrantedPermissions: string;
  AllowedResourceScope: string;
  ScopeType: 'CustomRecipientScope';
  InScope: boolean;
}

const DAY_MS = 86_400_000;
const DEFAULT_DOMAIN = 'contoso.onmicrosoft.com';

/** A stable GUID-shaped id from a name, so specs without ids give the same ids on every run. */
export function deterministicGuid(name: string): string {
  const hex = createHash('sha1').update(name).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function defaultSecretValue(clientId: string): string {
  return `sandbox~${clientId}`;
}

function parseTime(iso: string | undefined, fallback: number): number {
  if (iso === undefined) return fallback;
  const value = Date.parse(iso);
  if (Number.isNaN(value)) throw new Error(`invalid date ${JSON.stringify(iso)}`);
  return value;
}

function certificateRecord(spec: CertificateSpec, keyId: string): CertificateRecord {
  const x509 = new X509Certificate(spec.certPem);
  const notAfter = Date.parse(x509.validTo);
  return {
    keyId,
    thumbprint: certificateThumbprint(spec.certPem),
    thumbprintSha256: x509.fingerprint256.replaceAll(':', '').toUpperCase(),
    certPem: spec.certPem,
    publicKey: x509.publicKey,
    displayName: spec.displayName ?? x509.subject.replace(/^CN=/, ''),
    startsAt: Date.parse(x509.validFrom),
    expiresAt: parseTime(spec.expiresAt, notAfter),
  };
}

function appRecord(spec: AppSpec, domain: string, index: number, now: number): AppRecord {
  const clientId = spec.clientId ?? deterministicGuid(`${domain}/app/${index}`);
  const secrets = (spec.secrets ?? [{}]).map((secret, n) => ({
    id: secret.id ?? deterministicGuid(`${clientId}/secret/${n}`),
    value: secret.value ?? defaultSecretValue(clientId),
    displayName: secret.displayName ?? 'mailprobe',
    startsAt: now,
    expiresAt: parseTime(secret.expiresAt, now + 180 * DAY_MS),
  }));
  return {
    clientId,
    displayName: spec.displayName ?? 'mailprobe',
    applicationObjectId: spec.applicationObjectId ?? deterministicGuid(`${clientId}/application`),
    servicePrincipalObjectId: spec.servicePrincipalObjectId ?? deterministicGuid(`${clientId}/servicePrincipal`),
    secrets,
    certificates: (spec.certificates ?? []).map((cert, n) => certificateRecord(cert, deterministicGuid(`${clientId}/cert/${n}`))),
    roles: {
      exchange: new Set(spec.roles ?? Object.values(MAIL_ROLES)),
      graph: new Set(spec.graphRoles ?? ['Application.Read.All', ...GRAPH_MAIL_DEFAULT_ROLES]),
    },
    enabled: spec.enabled ?? true,
    federatedCredentials: (spec.federatedCredentials ?? []).map(federatedCredentialRecord),
    publicClient: spec.publicClient ?? false,
  };
}

function federatedCredentialRecord(spec: FederatedCredentialSpec, index: number): Required<FederatedCredentialSpec> {
  return { name: spec.name ?? `federated-${index}`, issuer: spec.issuer, subject: spec.subject, audiences: spec.audiences ?? [TOKEN_EXCHANGE_AUDIENCE] };
}

function tenantRecord(spec: TenantSpec, now: number): TenantRecord {
  const domain = (spec.domain ?? DEFAULT_DOMAIN).toLowerCase();
  const appSpecs = spec.apps ?? [{}];
  const apps = appSpecs.map((app, index) => appRecord(app, domain, index, now));
  const exchangeServicePrincipals = new Map<string, string>();
  appSpecs.forEach((appSpec, index) => {
    const app = apps[index] as AppRecord;
    const state = appSpec.exchangeServicePrincipal ?? 'registered';
    if (state === 'missing') return;
    exchangeServicePrincipals.set(app.clientId, state === 'registered' ? app.servicePrincipalObjectId : app.applicationObjectId);
  });
  const objectIdOf = (clientId: string): string => {
    const app = apps.find((candidate) => candidate.clientId === clientId);
    if (!app) throw new Error(`mailbox grant names unknown app ${clientId} in ${domain}`);
    return app.servicePrincipalObjectId;
  };
  const mailboxSpecs = spec.mailboxes ?? [{ address: `probe@${domain}` }];
  const mailboxes = new Map<string, MailboxRecord>();
  for (const mailbox of mailboxSpecs) {
    mailboxes.set(mailbox.address.toLowerCase(), {
      address: mailbox.address,
      imapEnabled: mailbox.imapEnabled ?? true,
      popEnabled: mailbox.popEnabled ?? true,
      smtpClientAuthDisabled: mailbox.smtpClientAuthDisabled ?? null,
      fullAccess: new Set((mailbox.fullAccess ?? apps.map((app) => app.clientId)).map(objectIdOf)),
      sendAs: new Set((mailbox.sendAs ?? []).map(objectIdOf)),
    });
  }
  return {
    tenantId: (spec.tenantId ?? deterministicGuid(`tenant/${domain}`)).toLowerCase(),
    domain,
    displayName: spec.displayName ?? domain.split('.')[0] ?? domain,
    smtpClientAuthDisabled: spec.smtpClientAuthDisabled ?? false,
    exchangeOnline: spec.exchangeOnline ?? true,
    apps: new Map(apps.map((app) => [app.clientId, app])),
    exchangeServicePrincipals,
    mailboxes,
    managementScopes: new Map(),
    roleAssignments: [],
  };
}

// ---- the model ----

export interface IssueTokenInput {
  tenantId: string;
  clientId: string;
  /** The audience to put in the token, e.g. https://outlook.office365.com. */
  audience: string;
  resource: ResourceKind;
  credential: 'secret' | 'certificate' | 'federated';
}

/** A token of an external OIDC issuer (a Kubernetes cluster, a CI system) that an app may accept as its assertion. */
export interface ExternalTokenInput {
  issuer: string;
  subject: string;
  audience: string | string[];
  /** Default one hour, as Azure Workload Identity projects it. */
  lifetimeSeconds?: number;
}

export class SandboxModel {
  readonly faults: SandboxFaults = defaultFaults();
  /** Device codes and refresh tokens of delegated sign-ins. */
  readonly delegation = new DelegatedGrants();
  /** Lifetime of issued tokens in seconds from issue (exp - iat is this + 300 because iat is backdated). */
  tokenLifetimeSeconds = 3600;
  readonly #tenants = new Map<string, TenantRecord>();
  readonly #signer: TokenSigner = createTokenSigner();
  /** External OIDC issuers whose signing keys Entra could fetch (their discovery documents), by issuer URL. */
  readonly #issuers = new Map<string, TokenSigner>();
  readonly #clock: () => number;

  private constructor(clock: () => number) {
    this.#clock = clock;
  }

  static fromSpec(tenants: TenantSpec[], clock: () => number = Date.now): SandboxModel {
    const model = new SandboxModel(clock);
    const now = clock();
    for (const spec of tenants) {
      const tenant = tenantRecord(spec, now);
      if (model.#tenants.has(tenant.tenantId)) throw new Error(`duplicate tenant ${tenant.tenantId}`);
      model.#tenants.set(tenant.tenantId, tenant);
    }
    return model;
  }

  now(): number {
    return this.#clock();
  }

  tenants(): TenantRecord[] {
    return [...this.#tenants.values()];
  }

  /** By tenant ID (GUID, any case) or verified domain, as the token endpoint accepts both. */
  findTenant(idOrDomain: string): TenantRecord | undefined {
    const key = idOrDomain.toLowerCase();
    return this.#tenants.get(key) ?? this.tenants().find((tenant) => tenant.domain === key);
  }

  tenant(tenantId: string): TenantRecord {
    const tenant = this.findTenant(tenantId);
    if (!tenant) throw new Error(`unknown tenant ${tenantId}`);
    return tenant;
  }

  app(tenantId: string, clientId: string): AppRecord {
    const app = this.tenant(tenantId).apps.get(clientId);
    if (!app) throw new Error(`unknown app ${clientId} in tenant ${tenantId}`);
    return app;
  }

  mailbox(tenantId: string, address: string): MailboxRecord {
    const mailbox = this.tenant(tenantId).mailboxes.get(address.toLowerCase());
    if (!mailbox) throw new Error(`unknown mailbox ${address} in tenant ${tenantId}`);
    return mailbox;
  }

  issueAccessToken(input: IssueTokenInput): string {
    const tenant = this.tenant(input.tenantId);
    const app = this.app(input.tenantId, input.clientId);
    return issueAccessToken(this.#signer, {
      tenantId: tenant.tenantId,
      appId: app.clientId,
      servicePrincipalObjectId: app.servicePrincipalObjectId,
      audience: input.audience,
      credential: input.credential,
      roles: [...app.roles[input.resource]].sort(),
      now: this.now(),
      lifetimeSeconds: this.tokenLifetimeSeconds,
    });
  }

  /** A delegated (user) v1.0 access token, as Entra issues it for a user's sign-in to an app. */
  issueUserAccessToken(input: { tenantId: string; clientId: string; user: string; audience: string; scopes: string[] }): string {
    const now = Math.floor(this.now() / 1000);
    const oid = deterministicGuid(`${input.tenantId}/user/${input.user.toLowerCase()}`);
    return signJwt(
      { typ: 'JWT', x5t: this.#signer.kid, kid: this.#signer.kid },
      {
        aud: input.audience,
        iss: `https://sts.windows.net/${input.tenantId}/`,
        iat: now - 300,
        nbf: now - 300,
        exp: now + this.tokenLifetimeSeconds,
        appid: input.clientId,
        idtyp: 'user',
        oid,
        scp: input.scopes.join(' '),
        sub: oid,
        tid: input.tenantId,
        upn: input.user,
        ver: '1.0',
      },
      this.#signer.privateKey,
    );
  }

  /** An external issuer Entra can verify tokens of; idempotent. */
  trustIssuer(issuer: string): void {
    if (!this.#issuers.has(issuer)) this.#issuers.set(issuer, createTokenSigner());
  }

  /** What the issuer (the kubelet, a CI runner) hands the workload: a signed token for the given subject and audience. */
  issueExternalToken(input: ExternalTokenInput): string {
    this.trustIssuer(input.issuer);
    const signer = this.#issuers.get(input.issuer) as TokenSigner;
    const now = Math.floor(this.now() / 1000);
    return signJwt(
      { typ: 'JWT', kid: signer.kid },
      { aud: input.audience, iss: input.issuer, sub: input.subject, iat: now, nbf: now, exp: now + (input.lifetimeSeconds ?? 3600) },
      signer.privateKey,
    );
  }

  /** Whether a presented external token carries a valid signature of its (known) issuer. */
  verifyExternalToken(decoded: DecodedJwt): boolean {
    const issuer = decoded.payload['iss'];
    const signer = typeof issuer === 'string' ? this.#issuers.get(issuer) : undefined;
    return !!signer && verifyJwtSignature(decoded, signer.publicKey);
  }

  addFederatedCredential(tenantId: string, clientId: string, spec: FederatedCredentialSpec): void {
    const app = this.app(tenantId, clientId);
    app.federatedCredentials.push(federatedCredentialRecord(spec, app.federatedCredentials.length));
  }

  /** Deletes one federated credential by name, or all of them. */
  removeFederatedCredential(tenantId: string, clientId: string, name?: string): void {
    const app = this.app(tenantId, clientId);
    app.federatedCredentials = name === undefined ? [] : app.federatedCredentials.filter((record) => record.name !== name);
  }

  /** Claims of a token this model issued and signed, or null. Expiry is not checked here. */
  readIssuedToken(accessToken: string): AccessTokenClaims | null {
    const decoded = decodeJwt(accessToken);
    if (!decoded || !verifyJwtSignature(decoded, this.#signer.publicKey)) return null;
    return readAccessTokenClaims(decoded.payload);
  }

  /** Exchange Online's verdict on XOAUTH2 `user=<user>` + bearer token, checked in the order Exchange does. */
  authorizeMailLogin(user: string, accessToken: string, protocol: MailProtocol): MailLoginDecision {
    const deny = (why: MailLoginDenial): MailLoginDecision => ({ ok: false, why });
    const delegated = this.#readUserToken(accessToken);
    if (delegated) return this.#authorizeUserLogin(user, delegated, protocol);
    const claims = this.readIssuedToken(accessToken);
    if (!claims) return deny('token_malformed');
    const nowSeconds = Math.floor(this.now() / 1000);
    if (claims.exp <= nowSeconds || claims.nbf > nowSeconds) return deny('token_expired');
    if (!EXCHANGE_AUDIENCES.includes(claims.aud)) return deny('wrong_audience');
    const tenant = this.#tenants.get(claims.tid);
    if (!tenant?.exchangeOnline) return deny('unknown_tenant');
    // Entra's role in the token grants every mailbox (with FullAccess); without it, only SMTP can be granted
    // inside Exchange, by an RBAC assignment whose scope holds the mailbox. The grants add up.
    const entra = (claims.roles ?? []).includes(MAIL_ROLES[protocol]);
    const rbac = !entra && protocol === 'smtp' && this.#rbacCovers(tenant, claims.appid, 'Application SMTP.SendAsApp', user);
    if (!entra && !rbac) {
      const assigned =
        protocol === 'smtp' && tenant.roleAssignments.some((assignment) => assignment.app === claims.appid && assignment.role === 'Application SMTP.SendAsApp');
      return deny(assigned ? 'rbac_out_of_scope' : 'role_missing');
    }
    if (tenant.exchangeServicePrincipals.get(claims.appid) !== claims.oid) return deny('no_service_principal');
    const mailbox = tenant.mailboxes.get(user.toLowerCase());
    if (!mailbox) return deny('unknown_mailbox');
    if (!rbac && !mailbox.fullAccess.has(claims.oid)) return deny('no_full_access');
    const denial = this.#protocolDenial(tenant, mailbox, protocol);
    if (denial) return deny(denial);
    return { ok: true, tenantId: tenant.tenantId, appId: claims.appid };
  }

  /** A delegated token this model issued: the person's own mailbox, with the scope of the protocol. */
  #readUserToken(accessToken: string): UserTokenClaims | null {
    const decoded = decodeJwt(accessToken);
    if (!decoded || decoded.payload['idtyp'] !== 'user' || !verifyJwtSignature(decoded, this.#signer.publicKey)) return null;
    const p = decoded.payload;
    const text = ['aud', 'tid', 'upn', 'appid', 'scp'].every((name) => typeof p[name] === 'string');
    const numbers = ['exp', 'nbf'].every((name) => typeof p[name] === 'number');
    return text && numbers ? (p as unknown as UserTokenClaims) : null;
  }

  #authorizeUserLogin(user: string, claims: UserTokenClaims, protocol: MailProtocol): MailLoginDecision {
    const deny = (why: MailLoginDenial): MailLoginDecision => ({ ok: false, why });
    const nowSeconds = Math.floor(this.now() / 1000);
    if (claims.exp <= nowSeconds || claims.nbf > nowSeconds) return deny('token_expired');
    if (!EXCHANGE_AUDIENCES.includes(claims.aud)) return deny('wrong_audience');
    const tenant = this.#tenants.get(claims.tid);
    if (!tenant?.exchangeOnline) return deny('unknown_tenant');
    if (!claims.scp.split(' ').includes(DELEGATED_SCOPES[protocol])) return deny('role_missing');
    const mailbox = tenant.mailboxes.get(user.toLowerCase());
    if (!mailbox) return deny('unknown_mailbox');
    // Another person's mailbox would need FullAccess granted to the signed-in user, which the sandbox does not model.
    if (claims.upn.toLowerCase() !== user.toLowerCase()) return deny('no_full_access');
    const denial = this.#protocolDenial(tenant, mailbox, protocol);
    if (denial) return deny(denial);
    return { ok: true, tenantId: tenant.tenantId, appId: claims.appid };
  }

  /**
   * Microsoft Graph's verdict on an app-only request to a mailbox (src/sandbox/graph.ts): the token, the mailbox,
   * then the grant — an Entra permission in the token (every mailbox, unless an application access policy keeps
   * the app out) or an RBAC for Applications assignment whose scope holds the mailbox. The grants add up.
   */
  authorizeGraphMail(accessToken: string | undefined, address: string, access: GraphMailAccess): GraphMailDecision {
    const deny = (why: GraphMailDenial): GraphMailDecision => ({ ok: false, why });
    if (!accessToken) return deny('token_missing');
    const claims = this.readIssuedToken(accessToken);
    if (!claims) return deny('token_malformed');
    const nowSeconds = Math.floor(this.now() / 1000);
    if (claims.exp <= nowSeconds || claims.nbf > nowSeconds) return deny('token_expired');
    if (claims.aud !== GRAPH_AUDIENCE) return deny('wrong_audience');
    const tenant = this.#tenants.get(claims.tid);
    const mailbox = tenant?.mailboxes.get(address.toLowerCase());
    if (!tenant?.exchangeOnline || !mailbox) return deny('unknown_mailbox');
    const key = mailbox.address.toLowerCase();
    if (this.faults.graphRestDisabled.some((candidate) => candidate.toLowerCase() === key)) return deny('rest_disabled');
    const roles = claims.roles ?? [];
    const grants = GRAPH_MAIL_GRANTS[access];
    const entra = grants.entra.some((role) => roles.includes(role));
    const rows = this.testServicePrincipalAuthorization(tenant.tenantId, claims.appid, key);
    const rbac = rows.some((row) => row.InScope && grants.rbac.includes(row.RoleName));
    if (!entra && !rbac) {
      if (rows.some((row) => grants.rbac.includes(row.RoleName))) return deny('rbac_out_of_scope');
      return deny(roles.length === 0 ? 'no_permissions' : 'access_denied');
    }
    // An application access policy restricts what Entra granted; an RBAC grant is already scoped.
    if (!rbac && this.faults.graphOdataDisabled.some((candidate) => candidate.toLowerCase() === key)) return deny('odata_disabled');
    const fullRead =
      GRAPH_FULL_READ.entra.some((role) => roles.includes(role)) || rows.some((row) => row.InScope && GRAPH_FULL_READ.rbac.includes(row.RoleName));
    return { ok: true, tenantId: tenant.tenantId, appId: claims.appid, mailbox: key, fullRead };
  }

  #rbacCovers(tenant: TenantRecord, appId: string, role: ApplicationRole, address: string): boolean {
    return this.testServicePrincipalAuthorization(tenant.tenantId, appId, address).some((row) => row.RoleName === role && row.InScope);
  }

  /** Test-ServicePrincipalAuthorization: each RBAC assignment of the app, and whether its scope holds the mailbox. */
  testServicePrincipalAuthorization(tenantId: string, clientId: string, mailbox: string): AuthorizationRow[] {
    const tenant = this.tenant(tenantId);
    return tenant.roleAssignments
      .filter((assignment) => assignment.app === clientId)
      .map((assignment) => ({
        RoleName: assignment.role,
        GrantedPermissions: assignment.role.replace(/^Application /, ''),
        AllowedResourceScope: assignment.scope,
        ScopeType: 'CustomRecipientScope' as const,
        InScope: tenant.managementScopes.get(assignment.scope)?.mailboxes.has(mailbox.toLowerCase()) ?? false,
      }));
  }

  /** New-ManagementScope (or Set-ManagementScope: the same name again replaces the selection). */
  setManagementScope(tenantId: string, name: string, mailboxes: string[]): void {
    this.tenant(tenantId).managementScopes.set(name, { name, mailboxes: new Set(mailboxes.map((address) => address.toLowerCase())) });
  }

  /** New-ManagementRoleAssignment -App -Role -CustomResourceScope; returns the assignment's name. */
  assignRole(tenantId: string, clientId: string, role: ApplicationRole, scope: string): string {
    const tenant = this.tenant(tenantId);
    this.app(tenantId, clientId);
    if (!tenant.managementScopes.has(scope)) throw new Error(`unknown management scope ${scope} in tenant ${tenantId}`);
    const name = `${role}-${clientId}-${scope}`;
    tenant.roleAssignments = [...tenant.roleAssignments.filter((assignment) => assignment.name !== name), { name, app: clientId, role, scope }];
    return name;
  }

  /** Remove-ManagementRoleAssignment, one by name or all of an app. */
  removeRoleAssignment(tenantId: string, clientId: string, name?: string): void {
    const tenant = this.tenant(tenantId);
    tenant.roleAssignments = tenant.roleAssignments.filter((assignment) => assignment.app !== clientId || (name !== undefined && assignment.name !== name));
  }

  #protocolDenial(tenant: TenantRecord, mailbox: MailboxRecord, protocol: MailProtocol): MailLoginDenial | null {
    switch (protocol) {
      case 'imap':
        return mailbox.imapEnabled ? null : 'protocol_disabled';
      case 'pop3':
        return mailbox.popEnabled ? null : 'protocol_disabled';
      case 'smtp':
        if (mailbox.smtpClientAuthDisabled === true) return 'smtp_auth_disabled_mailbox';
        if (mailbox.smtpClientAuthDisabled === null && tenant.smtpClientAuthDisabled) return 'smtp_auth_disabled_tenant';
        return null;
    }
  }

  /**
   * Whether the app a login was granted to may submit with `from` as sender after authenticating as
   * `user`: its own address always, another only with SendAs (Add-RecipientPermission).
   */
  authorizeSendAs(login: { tenantId: string; appId: string }, user: string, from: string): boolean {
    if (from.toLowerCase() === user.toLowerCase()) return true;
    const tenant = this.findTenant(login.tenantId);
    const app = tenant?.apps.get(login.appId);
    const mailbox = tenant?.mailboxes.get(from.toLowerCase());
    return !!app && !!mailbox && mailbox.sendAs.has(app.servicePrincipalObjectId);
  }

  // ---- mutators (tests, control API, demo) ----

  /** Adds a client secret and returns its id (keyId). */
  addSecret(tenantId: string, clientId: string, secret: { value: string; displayName?: string; expiresAt?: number }): string {
    const id = randomUUID();
    const now = this.now();
    this.app(tenantId, clientId).secrets.push({
      id,
      value: secret.value,
      displayName: secret.displayName ?? 'mailprobe',
      startsAt: now,
      expiresAt: secret.expiresAt ?? now + 180 * DAY_MS,
    });
    return id;
  }

  /** Deletes one secret, or every secret when secretId is omitted. */
  revokeSecret(tenantId: string, clientId: string, secretId?: string): void {
    const app = this.app(tenantId, clientId);
    app.secrets = secretId === undefined ? [] : app.secrets.filter((secret) => secret.id !== secretId);
  }

  /** Moves a secret's (or every secret's) end date into the past. */
  expireSecret(tenantId: string, clientId: string, secretId?: string): void {
    const past = this.now() - 1000;
    for (const secret of this.app(tenantId, clientId).secrets) {
      if (secretId === undefined || secret.id === secretId) secret.expiresAt = past;
    }
  }

  addCertificate(tenantId: string, clientId: string, certificate: CertificateSpec): string {
    const record = certificateRecord(certificate, randomUUID());
    this.app(tenantId, clientId).certificates.push(record);
    return record.thumbprint;
  }

  /** Removes one certificate by thumbprint, or every certificate when omitted. */
  removeCertificate(tenantId: string, clientId: string, thumbprint?: string): void {
    const app = this.app(tenantId, clientId);
    const wanted = thumbprint?.toUpperCase();
    app.certificates = wanted === undefined ? [] : app.certificates.filter((cert) => cert.thumbprint !== wanted);
  }

  /** Replaces the admin-consented application permissions on a resource (an empty list = consent revoked). */
  setRoles(tenantId: string, clientId: string, roles: string[], resource: ResourceKind = 'exchange'): void {
    this.app(tenantId, clientId).roles[resource] = new Set(roles);
  }

  setAppEnabled(tenantId: string, clientId: string, enabled: boolean): void {
    this.app(tenantId, clientId).enabled = enabled;
  }

  /** New-ServicePrincipal; objectId defaults to the right one (the enterprise app's). */
  registerServicePrincipal(tenantId: string, clientId: string, objectId?: string): void {
    const app = this.app(tenantId, clientId);
    this.tenant(tenantId).exchangeServicePrincipals.set(clientId, objectId ?? app.servicePrincipalObjectId);
  }

  /** Remove-ServicePrincipal. */
  removeServicePrincipal(tenantId: string, clientId: string): void {
    this.app(tenantId, clientId);
    this.tenant(tenantId).exchangeServicePrincipals.delete(clientId);
  }

  /** Add-/Remove-MailboxPermission -AccessRights FullAccess for the app's service principal. */
  setFullAccess(tenantId: string, mailbox: string, clientId: string, granted: boolean): void {
    this.#setGrant(this.mailbox(tenantId, mailbox).fullAccess, this.app(tenantId, clientId).servicePrincipalObjectId, granted);
  }

  /** Add-/Remove-RecipientPermission -AccessRights SendAs for the app's service principal. */
  setSendAs(tenantId: string, mailbox: string, clientId: string, granted: boolean): void {
    this.#setGrant(this.mailbox(tenantId, mailbox).sendAs, this.app(tenantId, clientId).servicePrincipalObjectId, granted);
  }

  #setGrant(grantees: Set<string>, objectId: string, granted: boolean): void {
    if (granted) grantees.add(objectId);
    else grantees.delete(objectId);
  }

  /** Set-CASMailbox -ImapEnabled / -PopEnabled. */
  setProtocol(tenantId: string, mailbox: string, protocol: 'imap' | 'pop3', enabled: boolean): void {
    const record = this.mailbox(tenantId, mailbox);
    if (protocol === 'imap') record.imapEnabled = enabled;
    else record.popEnabled = enabled;
  }

  /**
   * mailbox null: Set-TransportConfig -SmtpClientAuthenticationDisabled (tenant, boolean only).
   * Otherwise Set-CASMailbox -SmtpClientAuthenticationDisabled, where null means "follow the tenant".
   */
  setSmtpAuthDisabled(tenantId: string, mailbox: string | null, disabled: boolean | null): void {
    if (mailbox !== null) {
      this.mailbox(tenantId, mailbox).smtpClientAuthDisabled = disabled;
      return;
    }
    if (disabled === null) throw new Error('the tenant-wide SMTP AUTH setting is a boolean');
    this.tenant(tenantId).smtpClientAuthDisabled = disabled;
  }

  resetFaults(): void {
    Object.assign(this.faults, defaultFaults());
  }
}
