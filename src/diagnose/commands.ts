import type { ResolvedMonitor, SmtpAuthorization } from '../config/types.js';
import type { Protocol } from '../core/check.js';
import { CLOUD_ENDPOINTS, CLOUDS, cloudHost, cloudOfAuthorityHost, resourceScope, type Cloud, type TokenResource } from '../core/clouds.js';
import { PROTOCOL, SUBMISSION, type ProtocolDescriptor } from '../core/protocols.js';

// The exact commands and URLs remediation prints, with the monitor's values filled in. Kept apart from the
// remediation table so each command is spelled once (docs/exchange-online-errors.md, "Remediation commands", and the hand-test in
// ../shared/reference/seed-exchange-oauth-openssl.txt).

export interface MonitorRef {
  name: string;
  mailbox: string;
  tenantId: string;
  clientId: string;
  /** Token host, e.g. login.microsoftonline.us; absent means the cloud's own. */
  authorityHost?: string;
  /** The tenant's cloud, which names the hosts and scope in fixes; absent: judged from authorityHost. */
  cloud?: Cloud;
  /** How the admin said the app is granted SMTP; absent: not declared. */
  authorization?: SmtpAuthorization;
  /** Roles the monitor's endpoints expect instead of the protocol's (a High Volume Email account's SMTP: Mail.Send). */
  roles?: Partial<Record<Protocol, string>>;
  /** Where the configured credential is read from, so a missing one is told where to put it. */
  credential?: CredentialWhere;
}

export type CredentialWhere =
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'certificate'; certFile: string; keyFile: string }
  | { kind: 'inline' }
  | { kind: 'delegated'; account: string };

/** What fix texts need to know about a configured monitor: its login host and cloud. */
export function monitorRef(monitor: ResolvedMonitor): MonitorRef {
  const roles = Object.fromEntries(Object.entries(monitor.endpoints).flatMap(([protocol, endpoint]) => (endpoint.role ? [[protocol, endpoint.role]] : [])));
  return {
    ...tenantRef(monitor.tenant),
    name: monitor.name,
    mailbox: monitor.mailbox,
    ...(monitor.authorization ? { authorization: monitor.authorization } : {}),
    ...(Object.keys(roles).length > 0 ? { roles } : {}),
  };
}

/** For what concerns a tenant entry alone (its token): named after the entry, no mailbox yet. */
export function tenantRef(tenant: ResolvedMonitor['tenant']): MonitorRef {
  return {
    name: `of tenant ${tenant.key}`,
    mailbox: '<mailbox>',
    tenantId: tenant.tenantId,
    clientId: tenant.clientId,
    authorityHost: tenant.authorityHost,
    cloud: tenant.cloud,
    credential: credentialWhere(tenant.credential),
  };
}

function credentialWhere(credential: ResolvedMonitor['tenant']['credential']): CredentialWhere | undefined {
  if (credential.type === 'certificate') return { kind: 'certificate', certFile: credential.certFile, keyFile: credential.keyFile };
  if (credential.type === 'delegated') return { kind: 'delegated', account: credential.account };
  if (credential.type !== 'secret') return undefined;
  const source = credential.secret;
  if (typeof source === 'string') return { kind: 'inline' };
  return 'env' in source ? { kind: 'env', name: source.env } : { kind: 'file', path: source.file };
}

/** The command that signs a delegated monitor's user in again. */
export function loginCommand(monitor: MonitorRef): string {
  return `mailprobe login --monitor ${monitor.name.startsWith('of tenant ') ? '<monitor of this tenant>' : monitor.name}`;
}

export interface EndpointRef {
  host: string;
  port: number;
}

export function authorityHost(monitor: MonitorRef): string {
  const host = monitor.authorityHost
    ?.trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/.*$/, '');
  return host ? host.toLowerCase() : CLOUD_ENDPOINTS[monitor.cloud ?? 'global'].authorityHost;
}

function cloudOf(monitor: MonitorRef): Cloud {
  return monitor.cloud ?? cloudOfAuthorityHost(authorityHost(monitor));
}

/** The scope a monitor of this cloud requests by default for a resource: what a fix for a wrong scope or audience names. */
export function scopeOf(monitor: MonitorRef, resource: TokenResource = 'exchange'): string {
  return resourceScope(cloudOf(monitor), resource);
}

function consentScope(monitor: MonitorRef, protocol: Protocol | undefined): string {
  const mailboxScope = CLOUD_ENDPOINTS[cloudOf(monitor)].mailboxConsentScope;
  return mailboxScope && protocol !== SUBMISSION ? mailboxScope : scopeOf(monitor);
}

/** The audience a federated assertion carries for this cloud (api://AzureADTokenExchange worldwide). */
export function tokenExchangeAudience(monitor: MonitorRef): string {
  return CLOUD_ENDPOINTS[cloudOf(monitor)].federatedAudience;
}

export function adminConsentUrl(monitor: MonitorRef, protocol?: Protocol): string {
  return `https://${authorityHost(monitor)}/${monitor.tenantId}/v2.0/adminconsent?client_id=${monitor.clientId}&scope=${consentScope(monitor, protocol)}`;
}

export function tokenEndpoint(monitor: MonitorRef): string {
  return `https://${authorityHost(monitor)}/${monitor.tenantId}/oauth2/v2.0/token`;
}

export function openIdConfigUrl(monitor: MonitorRef): string {
  return `https://${authorityHost(monitor)}/${monitor.tenantId}/v2.0/.well-known/openid-configuration`;
}

export function defaultEndpoint(monitor: MonitorRef, protocol: Protocol): EndpointRef {
  return { host: cloudHost(cloudOf(monitor), protocol), port: PROTOCOL[protocol].defaultPort };
}

/** Which login host each cloud uses, as one sentence for a fix. */
export function cloudLoginHosts(): string {
  const byHost = new Map<string, string[]>();
  for (const cloud of CLOUDS) {
    const { authorityHost: host, label } = CLOUD_ENDPOINTS[cloud];
    byHost.set(host, [...(byHost.get(host) ?? []), label]);
  }
  return [...byHost].map(([host, labels]) => `${host} for ${labels.join('/')}`).join(', ');
}

/** The seed procedure's manual test, pointed at the endpoint the probe used. */
export function opensslCommand(protocol: Protocol, endpoint: EndpointRef): string {
  const starttls = (PROTOCOL[protocol].starttlsPorts as readonly number[]).includes(endpoint.port) ? `-starttls ${protocol} ` : '';
  return `openssl s_client ${starttls}-connect ${endpoint.host}:${endpoint.port} -crlf -quiet`;
}

export const GET_SERVICE_PRINCIPAL = 'Get-ServicePrincipal | fl AppId,ObjectId,Identity';
export const ENABLE_TENANT_SMTP_AUTH = 'Set-TransportConfig -SmtpClientAuthenticationDisabled $false';

export function newServicePrincipal(clientId: string, objectId: string): string {
  return `New-ServicePrincipal -AppId ${clientId} -ObjectId ${objectId}`;
}

export function getMailboxPermission(mailbox: string): string {
  return `Get-MailboxPermission -Identity ${mailbox}`;
}

export function addFullAccess(mailbox: string, principal: string): string {
  return `Add-MailboxPermission -Identity ${mailbox} -User ${principal} -AccessRights FullAccess -AutoMapping $false`;
}

export function addSendAs(mailbox: string, principal: string): string {
  return `Add-RecipientPermission ${mailbox} -Trustee ${principal} -AccessRights SendAs`;
}

export function getCasMailbox(mailbox: string): string {
  return `Get-CASMailbox -Identity ${mailbox} | fl ${Object.values(PROTOCOL as Record<string, ProtocolDescriptor>)
    .flatMap((protocol) => (protocol.mailboxSwitch ? [protocol.mailboxSwitch.property] : []))
    .join(',')}`;
}

/** The Set-CASMailbox that turns the protocol back on; a protocol without a per-mailbox switch has none. */
export function enableProtocol(mailbox: string, protocol: Protocol): string {
  const mailboxSwitch = (PROTOCOL[protocol] as ProtocolDescriptor).mailboxSwitch;
  return mailboxSwitch ? `Set-CASMailbox -Identity ${mailbox} -${mailboxSwitch.property} ${mailboxSwitch.on}` : '';
}

export function secretsPage(clientId: string): string {
  return `Entra admin center → App registrations → ${clientId} → Certificates & secrets`;
}

export function newClientSecretStep(clientId: string): string {
  return `${secretsPage(clientId)} → New client secret (copy the Value, not the Secret ID)`;
}

/** Exchange RBAC for Applications' SMTP role (docs/exchange-online-errors.md §9 and §10). */
export const RBAC_SMTP_ROLE = 'Application SMTP.SendAsApp';

/** Where a permission change is the fix: the hand test saw Exchange take 60 minutes to apply one. */
export const PERMISSION_DELAY = 'Exchange Online can take up to an hour to apply a permission change; re-check after that';

function scopeName(monitor: MonitorRef): string {
  return `mailprobe-${monitor.name}`.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** A management scope over the monitored mailbox; for several mailboxes, filter on a group (MemberOfGroup). */
export function newManagementScope(monitor: MonitorRef): string {
  return `New-ManagementScope -Name "${scopeName(monitor)}" -RecipientRestrictionFilter "PrimarySmtpAddress -eq '${monitor.mailbox}'"`;
}

export function newSmtpRoleAssignment(monitor: MonitorRef): string {
  return newRoleAssignment(monitor, RBAC_SMTP_ROLE);
}

/** New-ManagementRoleAssignment of an RBAC for Applications role (SMTP's, or Graph's "Application Mail.Send" …) over the monitor's scope. */
export function newRoleAssignment(monitor: MonitorRef, role: string): string {
  return `New-ManagementRoleAssignment -App ${monitor.clientId} -Role "${role}" -CustomResourceScope "${scopeName(monitor)}"`;
}

export function testServicePrincipalAuthorization(clientId: string, mailbox: string): string {
  return `Test-ServicePrincipalAuthorization -Identity ${clientId} -Resource ${mailbox}`;
}
