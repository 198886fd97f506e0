import type { CheckKind, Protocol, Stage } from '../core/check.js';
import { CHECK, requiredRoles, type CheckDescriptor } from '../core/checks.js';
import type { TokenClaims } from './claims.js';
import { MAIL_ROLES, PROTOCOL, type ProtocolDescriptor } from '../core/protocols.js';
import {
  ENABLE_TENANT_SMTP_AUTH,
  GET_SERVICE_PRINCIPAL,
  addFullAccess,
  addSendAs,
  adminConsentUrl,
  authorityHost,
  cloudLoginHosts,
  defaultEndpoint,
  enableProtocol,
  getCasMailbox,
  getMailboxPermission,
  loginCommand,
  newClientSecretStep,
  newManagementScope,
  secretsPage,
  newServicePrincipal,
  newSmtpRoleAssignment,
  newRoleAssignment,
  PERMISSION_DELAY,
  RBAC_SMTP_ROLE,
  testServicePrincipalAuthorization,
  openIdConfigUrl,
  opensslCommand,
  scopeOf,
  tokenEndpoint,
  tokenExchangeAudience,
  type EndpointRef,
  type MonitorRef,
} from './commands.js';
import type { ReasonCode } from '../core/reasons.js';
import { TOKEN_RESOURCE, type TokenResource } from '../core/clouds.js';
import type { TokenErrorInput } from './token-errors.js';

export interface RemedyContext {
  monitor: MonitorRef;
  stage: Stage;
  protocol?: Protocol;
  /** The server's reply with the Exchange bracket removed. */
  serverText?: string;
  claims?: TokenClaims;
  /** What tokenProblems found for this reason, when it came from the token. */
  detail?: string;
  /** How long the server asked us to wait. */
  backoffMs?: number;
  tokenError?: TokenErrorInput;
  endpoint?: EndpointRef;
  /** The service the check's token is for; absent: Exchange Online. */
  resource?: TokenResource;
  /** The check that failed, when known: its own roles (Graph's) name the permissions in fixes. */
  check?: CheckKind;
}

export interface Remedy {
  summary: string;
  candidates: string[];
  fixes: string[];
}

type RemedyFn = (c: RemedyContext) => Remedy;

function label(c: RemedyContext): string {
  if (c.stage === 'token') return 'HTTPS';
  return c.protocol ? PROTOCOL[c.protocol].label : 'mail';
}

/** The per-mailbox switch of the failed protocol (Set-CASMailbox), if it has one (Graph has none). */
function switchOf(c: RemedyContext): ProtocolDescriptor['mailboxSwitch'] {
  return c.protocol ? (PROTOCOL[c.protocol] as ProtocolDescriptor).mailboxSwitch : undefined;
}

/** The SP object ID from the token, or a placeholder that says where to find it. */
function principal(c: RemedyContext): string {
  return c.claims?.oid ?? '<Enterprise-app ObjectId>';
}

// Transport failures happen on the way to the token endpoint too; point at the host that failed.
function endpointOf(c: RemedyContext): EndpointRef {
  if (c.stage === 'token') return { host: authorityHost(c.monitor), port: 443 };
  return c.endpoint ?? defaultEndpoint(c.monitor, c.protocol ?? 'imap');
}

function loginCertificateCommand(c: RemedyContext): string {
  const host = authorityHost(c.monitor);
  const name = host.replace(/:\d+$/, '');
  const target = name === host ? `${host}:443` : host;
  return `openssl s_client -connect ${target} -servername ${name} </dev/null | openssl x509 -noout -issuer -subject -dates`;
}

function where(c: RemedyContext): string {
  const endpoint = endpointOf(c);
  return `${endpoint.host}:${endpoint.port}`;
}

function fetchOpenIdConfig(c: RemedyContext): string {
  return `From the monitor host: curl -sS -o /dev/null -w '%{http_code}\\n' ${openIdConfigUrl(c.monitor)}`;
}

function manualTest(c: RemedyContext): string {
  if (c.stage === 'token') return fetchOpenIdConfig(c);
  return `Reproduce from the monitor host: ${opensslCommand(c.protocol ?? 'imap', endpointOf(c))}`;
}

function tokenRef(c: RemedyContext): string {
  const parts: string[] = [];
  const code = c.tokenError?.errorCodes?.[0];
  if (code !== undefined) parts.push(`AADSTS${code}`);
  if (c.tokenError?.httpStatus !== undefined) parts.push(`HTTP ${c.tokenError.httpStatus}`);
  if (c.tokenError?.networkCode !== undefined) parts.push(c.tokenError.networkCode);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function app(c: RemedyContext): string {
  return `app ${c.monitor.clientId} in tenant ${c.monitor.tenantId}`;
}

function account(c: RemedyContext): string {
  return c.monitor.credential?.kind === 'delegated' ? c.monitor.credential.account : 'the monitor’s user';
}

/** A delegated monitor signs in as a user: its causes and fixes are the user's and the mailbox's, never a service principal's. */
function isDelegated(c: RemedyContext): boolean {
  return c.monitor.credential?.kind === 'delegated';
}

/** The delegated permission a user's token needs for the protocol (the descriptor's), or every protocol's. */
function delegatedPermission(c: RemedyContext): string {
  return c.protocol
    ? PROTOCOL[c.protocol].delegatedScope
    : Object.values(PROTOCOL)
        .map((protocol) => protocol.delegatedScope)
        .join(' / ');
}

/** The same account as the mailbox: a user's token opens its own mailbox, another one only with a grant to the user. */
function ownMailbox(c: RemedyContext): boolean {
  return account(c).toLowerCase() === c.monitor.mailbox.toLowerCase();
}

// Microsoft's IMAP/POP/SMTP OAuth page: the delegated permissions are added under Microsoft Graph → Delegated
// permissions and requested with the Outlook resource (docs/exchange-online-errors.md §10, "Delegated").
function delegatedConsentFixes(c: RemedyContext): string[] {
  return [
    `Entra admin center → App registrations → ${c.monitor.clientId} → API permissions → Add a permission → Microsoft Graph → Delegated permissions → ${delegatedPermission(c)} and offline_access → Grant admin consent (or let ${account(c)} consent when signing in)`,
    `${account(c)} signs in again, so the new sign-in carries the permission: ${loginCommand(c.monitor)}`,
  ];
}

/**
 * Why Exchange refused a user's own XOAUTH2 login (it does not say which): the mailbox, its protocol switch and
 * the sign-in's permissions, likeliest first. No service principal is involved in a delegated login.
 */
function userAccessCandidates(c: RemedyContext): string[] {
  const { mailbox } = c.monitor;
  const candidates: string[] = [];
  if (!ownMailbox(c)) candidates.push(`${mailbox} is not ${account(c)}'s own mailbox, and ${account(c)} has no FullAccess on it`);
  const mailboxSwitch = switchOf(c);
  if (mailboxSwitch) {
    const { offText, property, off } = mailboxSwitch;
    candidates.push(`${offText} for ${mailbox} (${property} ${off}), for this user only or by the organisation's default`);
  }
  candidates.push(
    `${account(c)} has no Exchange Online licence (no mailbox), or the mailbox was created moments ago and is not provisioned yet`,
    `the sign-in lacks ${delegatedPermission(c)}: it carries only the delegated permissions consented when ${account(c)} signed in`,
    'a licence, mailbox or protocol change made in the last 60 minutes has not reached Exchange yet',
  );
  return candidates;
}

function userAccessFixes(c: RemedyContext): string[] {
  const { mailbox } = c.monitor;
  const fixes = [`Get-EXOMailbox -Identity ${mailbox} -Properties RecipientTypeDetails   (none: assign ${account(c)} an Exchange Online licence)`];
  if (c.protocol && switchOf(c)) fixes.push(getCasMailbox(mailbox), enableProtocol(mailbox, c.protocol));
  if (!ownMailbox(c)) fixes.push(addFullAccess(mailbox, account(c)));
  fixes.push(...delegatedConsentFixes(c), PERMISSION_DELAY);
  return fixes;
}

/** AADSTS70043 names the policy's limit in seconds. */
function frequencyOf(c: RemedyContext): string {
  const seconds = /maximum allowed lifetime for this request is (\d+)/.exec(c.serverText ?? '')?.[1];
  return seconds ? ` (the policy allows ${Number(seconds) / 3600} h)` : '';
}

function requiredRole(c: RemedyContext): string {
  return c.protocol ? (c.monitor.roles?.[c.protocol] ?? PROTOCOL[c.protocol].role) : MAIL_ROLES.join(' / ');
}

function consentFixes(c: RemedyContext): string[] {
  return [
    `Entra admin center → App registrations → ${c.monitor.clientId} → API permissions → Add a permission → APIs my organization uses → Office 365 Exchange Online → Application permissions → ${requiredRole(c)} → Grant admin consent`,
    `Or open as a tenant admin: ${adminConsentUrl(c.monitor, c.protocol)}`,
  ];
}

/**
 * The server refused and the token lacks the protocol's role: no grant covers the mailbox. Both ways to grant
 * it, least privilege first. SMTP can be granted in Exchange over a management scope (RBAC for Applications);
 * Entra and RBAC grants add up, so the Entra permission widens a scoped grant to every mailbox. IMAP and POP
 * have no RBAC role: Entra consent plus FullAccess is the only way (docs/exchange-online-errors.md §10).
 */
function refusedWithoutRole(c: RemedyContext): Remedy {
  if (isGraph(c)) return graphRefused(c);
  const { clientId, mailbox } = c.monitor;
  const role = requiredRole(c);
  const lacks = `${label(c)} refused ${mailbox}: ${c.detail ?? `the token lacks ${role}`}`;
  const later = 'a grant made in the last 60 minutes that Exchange has not applied yet';
  if (c.protocol && c.monitor.roles?.[c.protocol]) return endpointRoleMissing(c, lacks, later);
  if (c.protocol !== 'smtp') {
    return {
      summary: `${lacks}; admin consent for it is missing`,
      candidates: [
        `admin consent for ${role} was never granted or was revoked (Exchange has no RBAC role for ${label(c)}; the Entra permission is the only way)`,
        later,
      ],
      fixes: [...consentFixes(c), addFullAccess(mailbox, principal(c)), PERMISSION_DELAY],
    };
  }
  if (c.monitor.authorization === 'rbac') return outsideRbacScope(c);
  const entraFirst = c.monitor.authorization === 'entra';
  if (entraFirst) {
    return {
      summary: `${lacks}; admin consent for it is missing`,
      candidates: [`admin consent for ${role} was never granted or was revoked`, later],
      fixes: [
        ...consentFixes(c),
        `Least-privilege alternative: Exchange RBAC for Applications over a management scope (${newSmtpRoleAssignment(c.monitor)}); then remove the Entra permission, as the two add up`,
        PERMISSION_DELAY,
      ],
    };
  }
  return {
    summary: `${lacks}, and no Exchange RBAC assignment covers the mailbox either`,
    candidates: [
      `no Exchange RBAC for Applications assignment of "${RBAC_SMTP_ROLE}" whose management scope includes ${mailbox}`,
      `no Entra ${role} permission with admin consent`,
      later,
    ],
    fixes: [
      `Least privilege, only the monitored mailboxes (Exchange RBAC for Applications): ${newManagementScope(c.monitor)}`,
      newSmtpRoleAssignment(c.monitor),
      `${testServicePrincipalAuthorization(clientId, mailbox)}   (InScope must be True)`,
      `Or every mailbox of the tenant (Entra): ${consentFixes(c)[0] ?? ''}. Warning: Entra and RBAC grants add up, so this permission makes any scoped RBAC grant tenant-wide; choose one`,
      PERMISSION_DELAY,
    ],
  };
}

/**
 * The endpoint expects its own role (a High Volume Email account: Exchange Mail.Send), which neither SMTP.SendAsApp
 * nor an RBAC SMTP assignment replaces; the grant is that permission plus the account's HVE setup.
 */
function endpointRoleMissing(c: RemedyContext, lacks: string, later: string): Remedy {
  const role = requiredRole(c);
  return {
    summary: `${lacks}; ${c.monitor.mailbox} is a High Volume Email account, which authenticates with the Exchange ${role} application permission`,
    candidates: [
      `admin consent for the Office 365 Exchange Online ${role} application permission was never granted or was revoked`,
      `${c.monitor.mailbox} is not (or no longer) a High Volume Email account`,
      later,
    ],
    fixes: [
      ...consentFixes(c),
      `Exchange admin center → Mail flow → High volume email: ${c.monitor.mailbox} must be listed and enabled (Get-MailUser -HVEAccount lists them)`,
      `The app must be on the HVE account's Allowed Apps list: Add-HVEAppAccess -Identity ${c.monitor.mailbox} -AppIds ${c.monitor.clientId}`,
      `Not ${PROTOCOL.smtp.role}: High Volume Email does not accept it`,
      PERMISSION_DELAY,
    ],
  };
}

/** The admin said SMTP is granted through RBAC for Applications, and the server refused: the mailbox is not in the scope. */
function outsideRbacScope(c: RemedyContext): Remedy {
  const { clientId, mailbox } = c.monitor;
  return {
    summary: `SMTP refused ${mailbox}: the app is granted SMTP through Exchange RBAC (authorization "rbac"), and no "${RBAC_SMTP_ROLE}" assignment's management scope includes ${mailbox}`,
    candidates: [
      `${mailbox} is outside the management scope of the app's "${RBAC_SMTP_ROLE}" assignment (not in the group the scope filters on, or the filter does not match it)`,
      'the role assignment or its management scope was removed',
      'a scope or group-membership change made in the last 60 minutes that Exchange has not applied yet',
    ],
    fixes: [
      `${testServicePrincipalAuthorization(clientId, mailbox)}   (AllowedResourceScope names the scope; InScope must be True)`,
      `Get-ManagementRoleAssignment -Role "${RBAC_SMTP_ROLE}" | fl Name,RoleAssignee,CustomResourceScope`,
      `Bring ${mailbox} into the scope: add it to the group the scope's RecipientRestrictionFilter names, or give it a scope of its own: ${newManagementScope(c.monitor)}, then ${newSmtpRoleAssignment(c.monitor)}`,
      `Do not grant the Entra ${PROTOCOL.smtp.role} permission to fix this: Entra and RBAC grants add up, so the app could then send as every mailbox in the tenant`,
      PERMISSION_DELAY,
    ],
  };
}

/** A check whose token is for Microsoft Graph: its grants are Graph permissions or Exchange RBAC for Applications roles. */
function isGraph(c: RemedyContext): boolean {
  return c.resource === 'graph';
}

/** The Graph permissions the failed check needs, and the RBAC for Applications roles that grant the same. */
function graphGrants(c: RemedyContext): { roles: string[]; rbac: string[] } {
  if (!c.check) return { roles: [requiredRole(c)], rbac: [] };
  const descriptor: CheckDescriptor = CHECK[c.check];
  return { roles: requiredRoles(c.check, c.monitor.roles), rbac: [...(descriptor.rbacRoles ?? [])] };
}

/**
 * Microsoft Graph refused the mailbox: no grant covers it. Graph takes two grants that add up, either of which
 * suffices: admin consent for the Graph application permission in Entra (every mailbox of the tenant), or an
 * Exchange RBAC for Applications assignment over a management scope (only the mailboxes in it). Least privilege
 * first; never a new application access policy, which RBAC for Applications replaces (docs/exchange-online-errors.md §10).
 */
function graphRefused(c: RemedyContext): Remedy {
  const { clientId, mailbox } = c.monitor;
  const { roles, rbac } = graphGrants(c);
  const held = c.claims ? roles.filter((role) => c.claims?.roles.includes(role)) : [];
  const why =
    c.detail ??
    (c.claims && held.length === roles.length ? 'the token holds its permissions, yet Exchange keeps the app out' : `the token lacks ${roles.join(', ')}`);
  return {
    summary: `Microsoft Graph refused ${mailbox}: ${why}; grant it by consent in Entra or by an RBAC for Applications assignment in Exchange`,
    candidates: [
      `no Entra admin consent for the Microsoft Graph application permission${roles.length > 1 ? 's' : ''} ${roles.join(', ')}`,
      ...(rbac.length > 0
        ? [`no Exchange RBAC for Applications assignment of ${rbac.map((role) => `"${role}"`).join(' and ')} whose management scope includes ${mailbox}`]
        : []),
      `an application access policy (from before RBAC for Applications) that leaves ${mailbox} out of the app's mailboxes`,
      'a grant made in the last 60 minutes that Exchange has not applied yet',
    ],
    fixes: [
      ...(rbac.length > 0
        ? [
            `Least privilege, only the monitored mailboxes (Exchange RBAC for Applications), once per app: ${newServicePrincipal(clientId, principal(c))}`,
            newManagementScope(c.monitor),
            ...rbac.map((role) => newRoleAssignment(c.monitor, role)),
            `${testServicePrincipalAuthorization(clientId, mailbox)}   (InScope must be True for ${rbac.join(', ')})`,
          ]
        : []),
      `Or every mailbox of the tenant (Entra): Entra admin center → App registrations → ${clientId} → API permissions → Add a permission → Microsoft Graph → Application permissions → ${roles.join(', ')} → Grant admin consent. Entra and RBAC grants add up: the Entra permission makes a scoped RBAC grant tenant-wide, so choose one`,
      'Do not create a new application access policy: Microsoft replaced them with RBAC for Applications',
      PERMISSION_DELAY,
    ],
  };
}

function retryLater(ms: number | undefined): string {
  if (ms === undefined) return 'Retry with back-off; mailprobe spaces out its next attempts';
  const minutes = ms / 60_000;
  const rounded = minutes >= 1 ? `, about ${Math.round(minutes)} min` : '';
  return `Wait ${ms} ms${rounded} before the next attempt; mailprobe backs off by that much`;
}

// The candidates Exchange does not tell apart on the wire (docs/exchange-online-errors.md, "IMAP": `NO AUTHENTICATE failed.`), likeliest first.
function exchangeAccessCandidates(c: RemedyContext): string[] {
  const { clientId, mailbox, tenantId } = c.monitor;
  const candidates = [
    `no Exchange service principal for app ${clientId}, or one created with the App registration's Object ID instead of the Enterprise application's ObjectId ${principal(c)} (the token's oid)`,
    `the service principal ${principal(c)} has no FullAccess on ${mailbox}`,
  ];
  const mailboxSwitch = switchOf(c);
  if (mailboxSwitch) candidates.push(`${mailboxSwitch.offText} for ${mailbox} (${mailboxSwitch.property} ${mailboxSwitch.off})`);
  candidates.push(
    `user=${mailbox} is not a mailbox in tenant ${tenantId}`,
    'a permission or service-principal change made in the last 60 minutes has not reached Exchange yet',
  );
  return candidates;
}

function exchangeAccessFixes(c: RemedyContext): string[] {
  const { clientId, mailbox } = c.monitor;
  const fixes = [
    `${GET_SERVICE_PRINCIPAL}   (ObjectId must equal the token's oid ${principal(c)})`,
    `${newServicePrincipal(clientId, principal(c))}   (-ServiceId is deprecated; use -ObjectId with the Enterprise application's ObjectId)`,
    getMailboxPermission(mailbox),
    addFullAccess(mailbox, principal(c)),
  ];
  if (c.protocol && switchOf(c)) fixes.push(getCasMailbox(mailbox), enableProtocol(mailbox, c.protocol));
  fixes.push(PERMISSION_DELAY);
  return fixes;
}

/** FullAccess for the service principal, then the switches the caller adds, then how long Exchange takes. */
function mailboxAccessFixes(c: RemedyContext, ...more: string[]): string[] {
  if (isDelegated(c)) {
    // A user opens its own mailbox without a grant; another one needs FullAccess for the user, not for an app.
    const grant = ownMailbox(c) ? [] : [getMailboxPermission(c.monitor.mailbox), addFullAccess(c.monitor.mailbox, account(c))];
    return [`Get-EXOMailbox -Identity ${c.monitor.mailbox} -Properties RecipientTypeDetails`, ...grant, ...more, PERMISSION_DELAY];
  }
  return [getMailboxPermission(c.monitor.mailbox), addFullAccess(c.monitor.mailbox, principal(c)), ...more, PERMISSION_DELAY];
}

/** Who opens the mailbox: the app's service principal, or a delegated monitor's user. */
function opener(c: RemedyContext): string {
  return isDelegated(c) ? account(c) : 'the service principal';
}

function cloudHostFix(c: RemedyContext): string {
  return `Set "cloud" (or authorityHost) of the tenant in monitors.json to the tenant's cloud (now ${authorityHost(c.monitor)}): ${cloudLoginHosts()}`;
}

/** What Entra quoted of the assertion it could not match (AADSTS70021 names all three, 700211/700213 one each). */
function presented(c: RemedyContext, part: 'issuer' | 'subject' | 'audience'): string | undefined {
  const text = c.serverText ?? '';
  const label = part[0]?.toUpperCase() + part.slice(1);
  return new RegExp(`Assertion ${label}: '([^']*)'`).exec(text)?.[1] ?? new RegExp(`presented assertion ${part} '([^']*)'`).exec(text)?.[1];
}

function federatedCredentialFixes(c: RemedyContext): string[] {
  const issuer = presented(c, 'issuer') ?? '<issuer of the token file>';
  const subject = presented(c, 'subject') ?? '<subject of the token file, e.g. system:serviceaccount:NAMESPACE:SERVICEACCOUNT>';
  const audience = tokenExchangeAudience(c.monitor);
  return [
    `az ad app federated-credential list --id ${c.monitor.clientId} --query "[].{name:name,issuer:issuer,subject:subject,audiences:audiences}"   (matching is exact and case-sensitive)`,
    `az ad app federated-credential create --id ${c.monitor.clientId} --parameters '{"name":"mailprobe","issuer":"${issuer}","subject":"${subject}","audiences":["${audience}"]}'`,
  ];
}

/** Where the credential goes: the variable or file the configuration already names, else the file itself. */
function credentialFix(c: RemedyContext): string {
  const where = c.monitor.credential;
  const value = `the client secret's Value (${secretsPage(c.monitor.clientId)})`;
  switch (where?.kind) {
    case 'env':
      return `Set the environment variable ${where.name} to ${value} where mailprobe runs (the shell, the systemd unit's environment file, the container's environment), then run it again`;
    case 'file':
      return `Write ${value} into ${where.path}, readable by the user mailprobe runs as`;
    case 'delegated':
      return `${where.account} signs in: ${loginCommand(c.monitor)}`;
    case 'certificate':
      return `Make ${where.certFile} and ${where.keyFile} (the certificate registered on app ${c.monitor.clientId} and its key) readable by the user mailprobe runs as`;
    default:
      return `Configure a client secret (its Value) or a certificate for monitor ${c.monitor.name}`;
  }
}

// The proxy's failures: the target is the mail server or the login host the tunnel was for; the proxy's own address
// is in the failure's message (never its user info), and doctor lists which proxy carries which host.
const PROXY_WHICH =
  'mailprobe doctor shows which proxy each host goes through and where that setting comes from (monitors.json "proxy", ALL_PROXY, HTTPS_PROXY, NO_PROXY)';

function tunnelTest(c: RemedyContext): string {
  const scheme = c.stage === 'token' ? 'https' : 'telnet';
  return `From the monitor host: curl -v --proxytunnel -x http://PROXY:PORT ${scheme === 'https' ? `https://${where(c)}/` : `telnet://${where(c)}`}   (-U USER for a proxy that wants credentials)`;
}

const connectFixes = (c: RemedyContext): string[] => [manualTest(c), `Check that ${where(c)} is the right endpoint and that a firewall or proxy allows it`];

// One entry per reason: the Record type makes the compiler refuse a reason without remediation.
export const remedies: Record<ReasonCode, RemedyFn> = {
  config_invalid: (c) => ({
    summary: `The configuration of monitor ${c.monitor.name} is invalid`,
    candidates: [],
    fixes: ['Correct the fields the configuration check names, then reload mailprobe'],
  }),
  credential_missing: (c) => ({
    summary: `Monitor ${c.monitor.name} has no usable client credential for ${app(c)}`,
    candidates: ['the secret file or environment variable is missing or empty', 'the certificate or its key cannot be read'],
    fixes: [
      credentialFix(c),
      ...(c.monitor.credential?.kind === 'certificate' || isDelegated(c)
        ? []
        : [`Only if nobody has the Value any more: ${newClientSecretStep(c.monitor.clientId)}`]),
    ],
  }),

  token_invalid_client_secret: (c) => ({
    summary: `Entra ID refused the client secret of ${app(c)}${tokenRef(c)}`,
    candidates: ['the Secret ID was pasted instead of the secret Value', 'the secret was rotated and the monitor still has the old one'],
    fixes: [newClientSecretStep(c.monitor.clientId), `Put the new Value into the secret of monitor ${c.monitor.name}`],
  }),
  token_secret_expired: (c) => ({
    summary: `The client secret of ${app(c)} has expired${tokenRef(c)}`,
    candidates: [],
    fixes: [
      newClientSecretStep(c.monitor.clientId),
      `Watch the secret's end date: az ad app credential list --id ${c.monitor.clientId} --query "[].endDateTime"`,
    ],
  }),
  token_unknown_app: (c) => ({
    summary: `Entra ID does not know application ${c.monitor.clientId} in tenant ${c.monitor.tenantId}${tokenRef(c)}`,
    candidates: [
      `the Application (client) ID ${c.monitor.clientId} is wrong`,
      `the tenant ${c.monitor.tenantId} is not the one the app is registered in`,
      'a multi-tenant app was never consented to (provisioned) in this tenant',
    ],
    fixes: [
      `Compare Application (client) ID and Directory (tenant) ID on the app's Overview page with clientId ${c.monitor.clientId} and tenantId ${c.monitor.tenantId}`,
      `For a multi-tenant app, as a tenant admin open: ${adminConsentUrl(c.monitor, c.protocol)}`,
    ],
  }),
  token_unknown_tenant: (c) => ({
    summary: `Tenant ${c.monitor.tenantId} was not found at ${authorityHost(c.monitor)}: check the tenant ID and cloud${tokenRef(c)}`,
    candidates: [`the tenant ID ${c.monitor.tenantId} has a typo`, 'the tenant is in a national cloud with its own login host'],
    fixes: ['Copy the Directory (tenant) ID from Entra admin center → Overview', cloudHostFix(c)],
  }),
  token_wrong_cloud: (c) => ({
    summary: `Login host ${authorityHost(c.monitor)} belongs to a different cloud than tenant ${c.monitor.tenantId}${tokenRef(c)}`,
    candidates: [],
    fixes: [cloudHostFix(c)],
  }),
  token_tenant_endpoint_required: (c) => ({
    summary: `Client credentials need a tenant-specific token endpoint, but monitor ${c.monitor.name} uses /${c.monitor.tenantId}${tokenRef(c)}`,
    candidates: [],
    fixes: [`Set tenantId to the Directory (tenant) ID or the tenant's domain instead of ${c.monitor.tenantId}`],
  }),
  token_invalid_scope: (c) =>
    isDelegated(c)
      ? {
          summary: `Entra ID rejected the delegated permissions asked for ${account(c)} on ${app(c)}${tokenRef(c)}`,
          candidates: [
            'the sign-in asked for permissions of two resources at once (Outlook and Graph)',
            `a permission the app does not list: ${delegatedPermission(c)}`,
          ],
          fixes: [...delegatedConsentFixes(c)],
        }
      : {
          summary: `Entra ID rejected the requested scope for ${app(c)}${tokenRef(c)}`,
          candidates: ['a specific permission such as IMAP.AccessAsApp was requested instead of .default', 'Graph and Outlook scopes were mixed'],
          fixes: [`Request exactly one scope: ${scopeOf(c.monitor, c.resource)}`],
        },
  token_invalid_resource: (c) => ({
    summary: `The resource in the requested scope does not exist in tenant ${c.monitor.tenantId}${tokenRef(c)}`,
    candidates: ['the scope host has a typo'],
    fixes: [`Request exactly one scope: ${scopeOf(c.monitor, c.resource)}`],
  }),
  token_certificate_invalid: (c) => ({
    summary: `Entra ID does not accept the certificate ${app(c)} signs with${tokenRef(c)}`,
    candidates: [
      'the certificate was never uploaded to the app',
      'the uploaded certificate expired',
      'the thumbprint (x5t) does not match the uploaded certificate',
    ],
    fixes: [
      `Entra admin center → App registrations → ${c.monitor.clientId} → Certificates & secrets → Certificates → Upload certificate (the public part of the monitor's certificate)`,
    ],
  }),
  token_no_credential: (c) =>
    isDelegated(c)
      ? {
          summary: `${app(c)} does not allow public client flows, which a user's device-code sign-in needs${tokenRef(c)}`,
          candidates: [],
          fixes: [
            `Entra admin center → App registrations → ${c.monitor.clientId} → Authentication → Allow public client flows: Yes`,
            `Then ${account(c)} signs in: ${loginCommand(c.monitor)}`,
          ],
        }
      : { summary: `The token request for ${app(c)} carried no client secret or assertion${tokenRef(c)}`, candidates: [], fixes: [credentialFix(c)] },
  token_app_disabled: (c) => ({
    summary: `The service principal of ${app(c)} is disabled${tokenRef(c)}`,
    candidates: ['an admin disabled sign-in for the enterprise application', 'Microsoft disabled it (consent-phishing protection); check the audit log'],
    fixes: [
      `Entra admin center → Enterprise applications → ${c.monitor.clientId} → Properties → Enabled for users to sign in: Yes`,
      `az ad sp update --id ${c.monitor.clientId} --set accountEnabled=true`,
    ],
  }),
  token_conditional_access: (c) =>
    isDelegated(c)
      ? {
          summary: `A Conditional Access policy blocks the sign-in of ${account(c)} to ${app(c)}${tokenRef(c)}`,
          candidates: [
            `a policy for ${account(c)} requires what the agent cannot give (multi-factor authentication at each sign-in, a compliant or joined device, a trusted location)`,
            'the policy was added or tightened since the last sign-in',
          ],
          fixes: [
            `Entra admin center → Protection → Conditional Access → the sign-in logs of ${account(c)} name the policy that applied`,
            `Exclude ${account(c)} or app ${c.monitor.clientId} from that policy if the organisation allows it, or allow the agent host's location`,
            `${account(c)} signs in again once it is satisfied: ${loginCommand(c.monitor)}`,
          ],
        }
      : {
          summary: `A Conditional Access policy blocks tokens for ${app(c)}${tokenRef(c)}`,
          candidates: ['a workload-identity Conditional Access policy covers this service principal', 'Security Defaults (AADSTS530035)'],
          fixes: [`Entra admin center → Protection → Conditional Access: exclude service principal ${c.monitor.clientId} or allow the monitor host's location`],
        },
  token_assertion_expired: (c) => ({
    summary: `The federated token ${app(c)} signs in with had expired when Entra ID received it${tokenRef(c)}`,
    candidates: [
      'the token file is no longer refreshed (a copied token, a stopped kubelet or sidecar, a projected volume replaced by a Secret)',
      'the monitor host’s clock is wrong',
    ],
    fixes: [
      `Check that the token file of monitor ${c.monitor.name} changes: a projected service-account token is rewritten before 80% of its lifetime`,
      'Mount the token as a projected serviceAccountToken volume (Azure Workload Identity does this), not as a copy',
    ],
  }),
  token_federated_issuer_unknown: (c) => ({
    summary: `No federated credential of ${app(c)} trusts the issuer ${presented(c, 'issuer') ?? 'of the token file'}${tokenRef(c)}`,
    candidates: [
      'the federated credential names another issuer (a different cluster, a trailing slash more or less)',
      'the cluster’s OIDC issuer changed (cluster re-created, issuer feature turned on later)',
    ],
    fixes: [
      'Compare with the cluster’s issuer: az aks show -g RESOURCE_GROUP -n CLUSTER --query oidcIssuerProfile.issuerUrl -o tsv',
      ...federatedCredentialFixes(c),
    ],
  }),
  token_federated_subject_mismatch: (c) => ({
    summary: `No federated credential of ${app(c)} matches the subject ${presented(c, 'subject') ?? 'of the token file'}${tokenRef(c)}`,
    candidates: [
      'the federated credential names another namespace or service account (system:serviceaccount:NAMESPACE:SERVICEACCOUNT)',
      'the subject differs only in upper/lower case (AADSTS7002138): matching is case-sensitive',
    ],
    fixes: federatedCredentialFixes(c),
  }),
  token_federated_audience_mismatch: (c) => ({
    summary: `The federated token of ${app(c)} is for audience ${presented(c, 'audience') ?? '(another)'}, not ${tokenExchangeAudience(c.monitor)}${tokenRef(c)}`,
    candidates: ['the projected service-account token was requested for another audience', 'the tenant is in another cloud, whose audience differs'],
    fixes: [
      `Set the projected volume's serviceAccountToken.audience to ${tokenExchangeAudience(c.monitor)} (Azure Workload Identity's webhook does), or add that audience to the federated credential`,
      ...federatedCredentialFixes(c),
    ],
  }),
  token_federated_no_match: (c) => ({
    summary: `No federated credential of ${app(c)} matches the presented token (issuer ${presented(c, 'issuer') ?? '?'}, subject ${presented(c, 'subject') ?? '?'})${tokenRef(c)}`,
    candidates: ['the issuer, subject or audience of the federated credential differs from the token’s (exact, case-sensitive match)'],
    fixes: federatedCredentialFixes(c),
  }),
  managed_identity_unavailable: (c) => ({
    summary: `The managed identity that ${app(c)} signs in with gave no token${c.serverText ? `: ${c.serverText}` : ''}`,
    candidates: [
      'the user-assigned identity is not assigned to this VM, scale set or container app ("Identity not found")',
      'the clientId is not that of the managed identity (its Client ID, not its Object (principal) ID)',
      'the agent does not run on Azure, or a network policy blocks the identity endpoint',
    ],
    fixes: [
      'az identity show -g RESOURCE_GROUP -n IDENTITY --query "{clientId:clientId,principalId:principalId}"',
      'az vm identity assign -g RESOURCE_GROUP -n VM --identities IDENTITY_RESOURCE_ID   (az containerapp identity assign for a container app)',
      `curl -sS -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${tokenExchangeAudience(c.monitor)}&client_id=CLIENT_ID"   (from the monitor host)`,
      `The app ${c.monitor.clientId} needs a federated credential with issuer https://${authorityHost(c.monitor)}/${c.monitor.tenantId}/v2.0 and the identity's principal ID as subject`,
    ],
  }),
  signin_lapsed_inactive: (c) => ({
    summary: `The refresh token of ${account(c)} lapsed: it went 90 days without being used${tokenRef(c)}`,
    candidates: [
      'the monitor was disabled, or the agent stopped, for 90 days',
      'a rotated refresh token was not saved, and the old one aged out (the token cache is not on persistent storage, or was restored from a backup)',
    ],
    fixes: [
      `${account(c)} signs in again: ${loginCommand(c.monitor)}`,
      'Keep agent.stateDir on persistent storage, so every rotated refresh token survives a restart',
    ],
  }),
  signin_lapsed_frequency: (c) => ({
    summary: `A Conditional Access sign-in frequency ended the sign-in of ${account(c)}${frequencyOf(c)}${tokenRef(c)}`,
    candidates: ['a Conditional Access policy with a sign-in frequency applies to this user and app', 'the policy was tightened since the last sign-in'],
    fixes: [
      `${account(c)} signs in again: ${loginCommand(c.monitor)}`,
      'Set "signInFrequencyHours" on the credential to the policy’s value, so the lapse is alerted ahead',
      `Entra admin center → Protection → Conditional Access: exclude app ${c.monitor.clientId} or this user from the sign-in frequency control, if policy allows`,
    ],
  }),
  signin_revoked: (c) => ({
    summary: `The sign-in of ${account(c)} was revoked${tokenRef(c)}`,
    candidates: [
      'the user’s password was changed or reset',
      'an admin revoked the user’s sessions (Revoke-MgUserSignInSession, "Revoke sessions" in Entra)',
      'the user account was disabled',
    ],
    fixes: [`${account(c)} signs in again: ${loginCommand(c.monitor)}`],
  }),
  signin_required: (c) => ({
    summary: `${account(c)} must sign in${c.serverText ? `: ${c.serverText}` : ''}${tokenRef(c)}`,
    candidates: [
      'nobody has signed in for this monitor yet',
      'the token cache is missing, damaged, or encrypted under another key (agent.tokenCacheKeyFile, MAILPROBE_TOKEN_CACHE_KEY)',
      'Entra refused the refresh token (invalid_grant): a password change, or a policy that now wants multi-factor authentication again',
    ],
    fixes: [`${account(c)} signs in: ${loginCommand(c.monitor)}`],
  }),
  token_endpoint_unreachable: (c) => ({
    summary: `The token endpoint ${tokenEndpoint(c.monitor)} could not be reached${tokenRef(c)}`,
    candidates: [
      'DNS, proxy or firewall on the monitor host blocks the login host',
      `the authority host ${authorityHost(c.monitor)} or tenant ${c.monitor.tenantId} does not resolve to a tenant's metadata`,
      'Entra ID had a server error',
    ],
    fixes: [fetchOpenIdConfig(c)],
  }),
  token_tls_untrusted: (c) => ({
    summary: `The certificate of the login host ${authorityHost(c.monitor)} is not trusted; a TLS-intercepting proxy is the usual cause${tokenRef(c)}`,
    candidates: [
      'a TLS-inspecting (intercepting) proxy or firewall replaces the login host’s certificate with its own',
      'the monitor host’s clock is wrong, so a valid certificate looks expired or not yet valid',
      'a private login service whose CA is not trusted by mailprobe',
    ],
    fixes: [
      `Show who signs the certificate: ${loginCertificateCommand(c)}`,
      `Exempt ${authorityHost(c.monitor)} from TLS inspection, or trust the proxy’s CA: tls.caFile in monitors.json or NODE_EXTRA_CA_CERTS`,
    ],
  }),
  token_error: (c) => {
    const code = c.tokenError?.errorCodes?.[0];
    return {
      summary: `The token request for ${app(c)} failed${tokenRef(c)}`,
      candidates: [],
      fixes: code === undefined ? ['Read the server text in the transcript'] : [`Look the code up: https://login.microsoftonline.com/error?code=${code}`],
    };
  },

  role_missing: (c) =>
    isDelegated(c)
      ? {
          summary: `${c.stage === 'role' ? 'The delegated permission is missing' : `${label(c)} refused ${c.monitor.mailbox}`}: ${c.detail ?? `the sign-in of ${account(c)} lacks ${delegatedPermission(c)}`}`,
          candidates: [
            `the app's API permissions do not include the delegated permission ${delegatedPermission(c)}, or nobody consented to it`,
            `the permission was added after ${account(c)} signed in: a sign-in carries what was consented when it was made`,
          ],
          fixes: delegatedConsentFixes(c),
        }
      : c.stage === 'role' && !isGraph(c)
        ? { summary: `Admin consent is missing: ${c.detail ?? `the token of ${app(c)} lacks ${requiredRole(c)}`}`, candidates: [], fixes: consentFixes(c) }
        : refusedWithoutRole(c),
  token_wrong_audience: (c) => {
    const wanted = c.resource ?? 'exchange';
    const others = (Object.keys(TOKEN_RESOURCE) as TokenResource[]).filter((resource) => resource !== wanted);
    return {
      summary: `The token is for the wrong resource: ${c.detail ?? `its aud is not ${TOKEN_RESOURCE[wanted].label}`}`,
      candidates: others.map((other) => `a ${TOKEN_RESOURCE[other].label} scope (${scopeOf(c.monitor, other)}) was requested`),
      fixes: [`Request exactly one scope: ${scopeOf(c.monitor, wanted)}`],
    };
  },
  token_wrong_tenant: (c) => ({
    summary: `The token comes from another tenant: ${c.detail ?? `its tid is not ${c.monitor.tenantId}`}`,
    candidates: ['the authority or tenantId points at a different directory than the mailbox'],
    fixes: [`Set tenantId to the Directory (tenant) ID of the tenant that holds ${c.monitor.mailbox}`],
  }),
  token_expired: (c) => ({
    summary: `The access token had expired: ${c.detail ?? 'its exp is in the past'}`,
    candidates: ['the monitor host clock is wrong', 'a cached token was used past its expiry'],
    fixes: ['Check the clock on the monitor host: timedatectl status (System clock synchronized: yes)'],
  }),

  connect_refused: (c) => ({
    summary: `${label(c)} connection to ${where(c)} was refused`,
    candidates: ['wrong host or port', 'a local firewall rejects the connection'],
    fixes: connectFixes(c),
  }),
  connect_dns: (c) => ({
    summary: `${endpointOf(c).host} does not resolve`,
    candidates: ['a typo in the host name', 'the monitor host has no working DNS'],
    fixes: [`getent hosts ${endpointOf(c).host}`],
  }),
  connection_reset: (c) => ({
    summary: `${label(c)} connection to ${where(c)} was reset at ${c.stage}`,
    candidates: ['a firewall or proxy cut the connection', 'the server closed it after a protocol error'],
    fixes: connectFixes(c),
  }),
  tls_untrusted: (c) => ({
    summary: `The certificate of ${where(c)} is not trusted`,
    candidates: ['a TLS-inspecting proxy replaces the certificate', 'the CA is not in the trust store'],
    fixes: [
      `${opensslCommand(c.protocol ?? 'imap', endpointOf(c))} -showcerts`,
      "Add the proxy's CA certificate to tls.caFile in monitors.json (or NODE_EXTRA_CA_CERTS)",
    ],
  }),
  tls_hostname_mismatch: (c) => ({
    summary: `The certificate of ${where(c)} does not name ${endpointOf(c).host}`,
    candidates: ['the configured host is an alias or IP address the certificate does not cover'],
    fixes: [`Use the canonical host name, e.g. ${defaultEndpoint(c.monitor, c.protocol ?? 'imap').host}`],
  }),
  tls_handshake_failed: (c) => ({
    summary: `TLS handshake with ${where(c)} failed`,
    candidates: ['implicit TLS was used on a STARTTLS port (SMTP 587) or the reverse', 'a proxy interferes with TLS'],
    fixes: [manualTest(c)],
  }),
  tls_version_rejected: (c) => ({
    summary: `${where(c)} rejected the TLS version; Exchange Online requires TLS 1.2 or newer`,
    candidates: [],
    fixes: ["Allow TLS 1.2+ in the monitor host's OpenSSL configuration and in the endpoint's TLS settings"],
  }),
  starttls_unavailable: (c) => ({
    summary: `${where(c)} did not offer STARTTLS`,
    candidates: ['the host is not Exchange Online', 'a proxy strips STARTTLS'],
    fixes: [manualTest(c)],
  }),
  proxy_unreachable: (c) => ({
    summary: `The outbound proxy for ${label(c)} to ${where(c)} could not be reached`,
    candidates: [
      'a wrong proxy host or port in monitors.json "proxy" or in ALL_PROXY / HTTPS_PROXY',
      'the proxy is down',
      'a firewall between the monitor host and the proxy',
    ],
    fixes: [
      PROXY_WHICH,
      'nc -vz PROXY PORT   (from the monitor host)',
      `A host reached without the proxy: add it to NO_PROXY, or set "proxy": "direct" on the monitor or tenant`,
    ],
  }),
  proxy_refused: (c) => {
    const port = endpointOf(c).port;
    return {
      summary: `The outbound proxy refused CONNECT to ${where(c)}${c.serverText ? ` (${c.serverText})` : ''}`,
      candidates: [
        `the proxy's rules do not allow ${endpointOf(c).host} or port ${port} (many proxies allow CONNECT to port 443 only)`,
        'the proxy cannot reach the host itself (it answers 502 or 503 then)',
      ],
      fixes: [
        `Ask the proxy's administrators to allow CONNECT to ${where(c)} (squid: port ${port} in the SSL_ports acl; tinyproxy: ConnectPort ${port})`,
        tunnelTest(c),
      ],
    };
  },
  proxy_auth_required: (c) => ({
    summary: `The outbound proxy wants credentials (407) for CONNECT to ${where(c)}`,
    candidates: [
      'no user and password in the proxy URL',
      'a wrong or expired proxy password',
      'the proxy accepts only NTLM or Kerberos (Negotiate); mailprobe sends Basic credentials only',
    ],
    fixes: [
      'Put the proxy account in the proxy URL: http://USER:PASSWORD@PROXY:PORT, percent-encoding special characters (in ALL_PROXY / HTTPS_PROXY from a secret store rather than in monitors.json)',
      tunnelTest(c),
    ],
  }),
  proxy_timeout: (c) => ({
    summary: `The outbound proxy did not answer in time for ${where(c)}`,
    candidates: [
      'a firewall silently drops packets to the proxy',
      'the proxy is overloaded',
      'the proxy itself waits for the host and answers only when its own timeout ends',
    ],
    fixes: [tunnelTest(c), PROXY_WHICH],
  }),
  proxy_protocol_error: (c) => ({
    summary: `The outbound proxy's answer to CONNECT for ${where(c)} was no HTTP reply mailprobe can use${c.serverText ? ` (${c.serverText})` : ''}`,
    candidates: [
      'the proxy address points at something other than an HTTP proxy (a SOCKS proxy, a mail server)',
      'the proxy sent an oversized or malformed answer',
    ],
    fixes: [PROXY_WHICH, tunnelTest(c)],
  }),
  xoauth2_not_offered: (c) => ({
    summary: `${label(c)} server ${where(c)} does not offer XOAUTH2`,
    candidates: ['the capabilities were read before TLS', 'the host is not Exchange Online'],
    fixes: [manualTest(c)],
  }),
  timeout: (c) => ({
    summary: `${label(c)} ${c.stage} step with ${where(c)} timed out`,
    candidates: ['a firewall drops packets instead of refusing', 'the server is slow to answer'],
    fixes: connectFixes(c),
  }),

  auth_failed: (c) =>
    isGraph(c)
      ? graphRefused(c)
      : {
          summary: `${label(c)} rejected XOAUTH2 for ${c.monitor.mailbox}${c.claims ? '; nothing in the token explains it' : ''}`,
          candidates: [
            ...(c.claims ? [] : ['the token could not be inspected: a missing role, wrong aud or expired token is still possible']),
            ...(c.serverText && /Logon failure/i.test(c.serverText) ? ['throttling after many rapid logins, if this failure is intermittent'] : []),
            ...(isDelegated(c) ? userAccessCandidates(c) : exchangeAccessCandidates(c)),
          ],
          fixes: isDelegated(c) ? userAccessFixes(c) : exchangeAccessFixes(c),
        },
  auth_not_connected: (c) =>
    isDelegated(c)
      ? {
          summary: `Exchange accepted the sign-in of ${account(c)} but opened no session on ${c.monitor.mailbox}`,
          candidates: [...userAccessCandidates(c), 'too many reconnects (throttling) or a transient backend fault'],
          fixes: [...userAccessFixes(c), retryLater(c.backoffMs ?? 60_000)],
        }
      : {
          summary: `Exchange accepted the token for ${c.monitor.mailbox} but opened no mailbox session`,
          candidates: [
            `the service principal ${principal(c)} has no FullAccess on ${c.monitor.mailbox}, or user= names another mailbox`,
            `IMAP is disabled for ${c.monitor.mailbox}`,
            'too many reconnects (throttling) or a transient backend fault',
          ],
          fixes: [...mailboxAccessFixes(c, enableProtocol(c.monitor.mailbox, 'imap')), retryLater(c.backoffMs ?? 60_000)],
        },
  auth_mechanism_rejected: (c) => ({
    summary: `${where(c)} rejected the authentication mechanism`,
    candidates: ['AUTH was sent before STARTTLS', 'a mechanism other than XOAUTH2 was used'],
    fixes: ['mailprobe bug: it must STARTTLS, EHLO again, then AUTH XOAUTH2; report it with the transcript'],
  }),
  basic_auth_rejected: () => ({
    summary: 'Exchange saw basic authentication (AUTH LOGIN/PLAIN), not XOAUTH2',
    candidates: [],
    fixes: ['mailprobe bug: it never falls back to basic auth; report it with the transcript'],
  }),
  smtp_auth_disabled_tenant: (c) => ({
    summary: 'SMTP AUTH is disabled for the whole tenant, which also blocks OAuth',
    candidates: [],
    fixes: [ENABLE_TENANT_SMTP_AUTH, `Or only for this mailbox (overrides the tenant): ${enableProtocol(c.monitor.mailbox, 'smtp')}`],
  }),
  smtp_auth_disabled_mailbox: (c) => ({
    summary: `SMTP AUTH is disabled for ${c.monitor.mailbox}`,
    candidates: [],
    fixes: [enableProtocol(c.monitor.mailbox, 'smtp')],
  }),
  smtp_auth_policy_blocked: (c) => ({
    summary: `A sign-in policy blocked SMTP authentication for ${c.monitor.mailbox}`,
    candidates: ['a Conditional Access policy', 'Security Defaults', `SMTP AUTH disabled for ${c.monitor.mailbox}`],
    fixes: [
      'Entra admin center → Protection → Conditional Access: check the policies that apply',
      'Entra admin center → Overview → Properties → Manage security defaults',
      getCasMailbox(c.monitor.mailbox),
    ],
  }),
  invalid_user: (c) => ({
    summary: isGraph(c)
      ? `Microsoft Graph finds no mailbox ${c.monitor.mailbox} (ErrorInvalidUser, ResourceNotFound)`
      : `Exchange does not accept user=${c.monitor.mailbox}`,
    candidates: ['the mailbox address is malformed or unknown'],
    fixes: [`Get-Mailbox -Identity ${c.monitor.mailbox}`, 'Set the monitor mailbox to the primary SMTP address'],
  }),

  list_failed: (c) => ({
    summary: `${label(c)} login worked but listing ${c.monitor.mailbox} failed`,
    candidates: [
      isDelegated(c) && ownMailbox(c)
        ? `${c.monitor.mailbox} is not fully provisioned (licence, mailbox database)`
        : `${opener(c)} lacks FullAccess on ${c.monitor.mailbox}`,
      'a transient server fault',
    ],
    fixes: mailboxAccessFixes(c),
  }),
  not_authenticated: () => ({
    summary: 'MAIL FROM was sent without a successful AUTH',
    candidates: [],
    fixes: ['mailprobe bug: it must stop after any AUTH reply other than 235; report it with the transcript'],
  }),
  send_as_denied: (c) => ({
    summary: `${isDelegated(c) ? account(c) : 'The service principal'} may not send as the probe's sender from ${c.monitor.mailbox}`,
    candidates: [`MAIL FROM or From: differs from ${isDelegated(c) ? account(c) : c.monitor.mailbox}`],
    fixes: [`Send as ${c.monitor.mailbox} itself`, addSendAs(c.monitor.mailbox, isDelegated(c) ? account(c) : principal(c)), PERMISSION_DELAY],
  }),
  mailbox_logon_failed: (c) => ({
    summary: `Exchange could not open ${c.monitor.mailbox} to submit the message`,
    candidates: [
      isDelegated(c) && ownMailbox(c)
        ? `${c.monitor.mailbox} has no Exchange Online licence or is not provisioned yet`
        : `${opener(c)} lacks FullAccess on ${c.monitor.mailbox}`,
      'a transient store fault',
    ],
    fixes: [...mailboxAccessFixes(c), retryLater(c.backoffMs)],
  }),
  graph_access_blocked: (c) => ({
    summary: `Exchange keeps app ${c.monitor.clientId} out of ${c.monitor.mailbox} over Microsoft Graph ("Access to OData is disabled.")`,
    candidates: [
      `an application access policy that leaves ${c.monitor.mailbox} out of the app's mailboxes`,
      'the organisation blocks REST/EWS access for this app',
    ],
    fixes: [
      'Do not create a new application access policy: Microsoft replaced them with RBAC for Applications. Grant the app over a management scope instead:',
      newManagementScope(c.monitor),
      ...(graphGrants(c).rbac.length > 0 ? graphGrants(c).rbac : ['Application Mail.Send', 'Application Mail.ReadWrite']).map((role) =>
        newRoleAssignment(c.monitor, role),
      ),
      testServicePrincipalAuthorization(c.monitor.clientId, c.monitor.mailbox),
      "Then remove the old application access policy that names the app, and the app's Entra Mail.* application permissions: Entra and RBAC grants add up, and an Entra grant reaches every mailbox",
      PERMISSION_DELAY,
    ],
  }),
  mailbox_not_enabled_for_rest: (c) => ({
    summary: `Microsoft Graph cannot reach ${c.monitor.mailbox} (MailboxNotEnabledForRESTAPI)`,
    candidates: [
      'the mailbox has no Exchange Online licence',
      'the mailbox is on-premises (hybrid), inactive or soft-deleted',
      'the mailbox was created moments ago and is not provisioned yet',
    ],
    fixes: [`Get-EXOMailbox -Identity ${c.monitor.mailbox} -Properties RecipientTypeDetails,IsInactiveMailbox`, 'Assign the user an Exchange Online licence'],
  }),
  submission_quota_exceeded: (c) => ({
    summary: `${c.monitor.mailbox} exceeded the recipient limit (10,000 per 24 h) and is blocked for about a day`,
    candidates: [],
    fixes: ['Wait about 24 hours; find what else sends from this mailbox'],
  }),
  mailbox_full: (c) => ({
    summary: `${c.monitor.mailbox} is over its quota`,
    candidates: ['probe messages pile up in Inbox or Sent Items'],
    fixes: [
      `Get-MailboxStatistics -Identity ${c.monitor.mailbox} | fl TotalItemSize`,
      'Delete old probe messages from Inbox and Sent Items and set a retention policy',
    ],
  }),
  sender_restricted: (c) => ({
    summary: `${c.monitor.mailbox} is restricted from sending (outbound spam)`,
    candidates: [],
    fixes: ['Microsoft Defender portal → Email & collaboration → Review → Restricted entities → unblock the mailbox'],
  }),
  send_rejected: (c) => ({
    summary: `Exchange rejected the probe message from ${c.monitor.mailbox}`,
    candidates: [],
    fixes: ['Read the server text; it names the rule that refused the message'],
  }),
  delivery_timeout: (c) => ({
    summary: `The probe message was accepted but did not reach ${c.monitor.mailbox} in time`,
    candidates: ['delayed mail flow', 'a transport rule, quarantine or Junk filtering moved it'],
    fixes: [`Get-MessageTraceV2 -SenderAddress ${c.monitor.mailbox} -StartDate (Get-Date).AddHours(-2) -EndDate (Get-Date)`],
  }),
  cleanup_failed: (c) => ({
    summary: `Probe messages could not be deleted from ${c.monitor.mailbox}; they will fill its quota`,
    candidates: [
      isDelegated(c) && ownMailbox(c)
        ? `the sign-in of ${account(c)} lacks ${PROTOCOL.imap.delegatedScope}`
        : `${opener(c)} lacks FullAccess on ${c.monitor.mailbox}`,
    ],
    fixes: mailboxAccessFixes(c, 'Delete old probe messages from Inbox and Sent Items'),
  }),
  tenant_external_limit: (c) => ({
    summary: `Tenant ${c.monitor.tenantId} reached its daily limit for external recipients: every mailbox of the tenant is blocked, not only ${c.monitor.mailbox}`,
    candidates: [
      'a bulk or compromised sender in the tenant sent to many outside recipients in the last 24 hours',
      'a trial tenant (5.7.232), whose limit is low',
    ],
    fixes: [
      'Wait for the 24-hour window to pass; mail to internal recipients still flows',
      'Find the senders: Microsoft Defender portal → Email & collaboration → Review → Restricted entities, and the outbound spam report',
      retryLater(c.backoffMs),
    ],
  }),
  hve_external_recipient: (c) => ({
    summary: `${c.monitor.mailbox} is a High Volume Email account, which sends to internal recipients only`,
    candidates: ["the monitor's HVE recipient is outside the tenant's accepted domains"],
    fixes: [`Set the monitor's "hve": { "recipient": … } to a mailbox in tenant ${c.monitor.tenantId}`],
  }),
  send_budget_exhausted: (c) => ({
    summary: `Monitor ${c.monitor.name} used up its send budget; no probe message was sent`,
    candidates: [],
    fixes: ["Lower the roundtrip check's frequency or raise the monitor's send budget"],
  }),

  throttled: (c) => ({
    summary:
      c.stage === 'token'
        ? `Entra ID throttled token requests for ${app(c)}${tokenRef(c)}`
        : `Exchange throttled ${label(c)} for ${c.monitor.mailbox}${c.backoffMs === undefined ? '' : ` and asked for ${c.backoffMs} ms of back-off`}`,
    candidates: isGraph(c)
      ? [
          `MailboxConcurrency: more than four requests of app ${c.monitor.clientId} to ${c.monitor.mailbox} at once (mailprobe keeps to four; another tool using the same app adds to them)`,
          `ApplicationThrottled: app ${c.monitor.clientId} sent too many requests to the mailboxes of the tenant`,
        ]
      : ['other clients of the same app or mailbox', 'too many connections or logins in a short time'],
    fixes: isGraph(c)
      ? [
          retryLater(c.backoffMs),
          `Find what else calls Microsoft Graph as app ${c.monitor.clientId} for ${c.monitor.mailbox}; give other tools an app of their own`,
        ]
      : [retryLater(c.backoffMs), 'Keep one connection per protocol and cache the token until shortly before exp'],
  }),
  // The server's own doing: it said so before hanging up (BYE, 421, -ERR then close), so no firewall, no bug.
  server_unavailable: (c) => ({
    summary: `${label(c)} server ${where(c)} ended the session or refused it for now, in its own words at ${c.stage}`,
    candidates: [
      'the server is unavailable, restarting or shutting down (Exchange moves sessions between backends)',
      'the server is throttling this app or mailbox: too many connections or logins at once',
    ],
    fixes: [retryLater(c.backoffMs), 'Keep one connection per protocol per mailbox; if it lasts beyond an hour, check Microsoft 365 Service health'],
  }),
  protocol_error: (c) => ({
    summary: `${label(c)} server ${where(c)} did not accept what mailprobe sent at ${c.stage}`,
    candidates:
      c.protocol === 'pop3'
        ? ['the one-line SASL-IR form AUTH XOAUTH2 <data> was used (POP needs two steps)', 'a token over 4096 characters']
        : ['a malformed or overlong command'],
    fixes: ['mailprobe bug: report it with the transcript'],
  }),
  internal_error: () => ({
    summary: 'mailprobe failed internally',
    candidates: [],
    fixes: ['Report it with the log lines and the transcript'],
  }),
};
