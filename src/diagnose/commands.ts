import type { Protocol } from '../core/check.js';

// The exact commands and URLs remediation prints, with the monitor's values filled in. Kept apart from the
// remediation table so each command is spelled once (catalogue §9, the seed procedure).

export interface MonitorRef {
  name: string;
  mailbox: string;
  tenantId: string;
  clientId: string;
  /** Token host, e.g. login.microsoftonline.us; absent means the worldwide cloud. */
  authorityHost?: string;
}

export interface EndpointRef {
  host: string;
  port: number;
}

const WORLDWIDE_AUTHORITY = 'login.microsoftonline.com';

type Cloud = 'worldwide' | 'usgov' | 'china';

export function authorityHost(monitor: MonitorRef): string {
  const host = monitor.authorityHost?.trim().replace(/^https?:\/\//i, '').replace(/\/.*$/, '');
  return host ? host.toLowerCase() : WORLDWIDE_AUTHORITY;
}

function cloudOf(monitor: MonitorRef): Cloud {
  const host = authorityHost(monitor);
  if (host.endsWith('.us')) return 'usgov';
  if (host.endsWith('.cn')) return 'china';
  return 'worldwide';
}

// GCC High and DoD share login.microsoftonline.us; GCC High's resource is the likelier one (catalogue §6).
const outlookResourceByCloud: Record<Cloud, string> = {
  worldwide: 'https://outlook.office365.com',
  usgov: 'https://outlook.office365.us',
  china: 'https://partner.outlook.cn',
};

export function outlookScope(monitor: MonitorRef): string {
  return `${outlookResourceByCloud[cloudOf(monitor)]}/.default`;
}

/** Microsoft's documented consent scope is ps.outlook.com for IMAP/POP and outlook.office365.com for SMTP. */
function consentScope(monitor: MonitorRef, protocol: Protocol | undefined): string {
  if (cloudOf(monitor) === 'worldwide' && protocol !== 'smtp') return 'https://ps.outlook.com/.default';
  return outlookScope(monitor);
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

const mailHostsByCloud: Record<Cloud, { mailbox: string; smtp: string }> = {
  worldwide: { mailbox: 'outlook.office365.com', smtp: 'smtp.office365.com' },
  usgov: { mailbox: 'outlook.office365.us', smtp: 'smtp.office365.us' },
  china: { mailbox: 'partner.outlook.cn', smtp: 'partner.outlook.cn' },
};

const defaultPorts: Record<Protocol, number> = { imap: 993, pop3: 995, smtp: 587 };

export function defaultEndpoint(monitor: MonitorRef, protocol: Protocol): EndpointRef {
  const hosts = mailHostsByCloud[cloudOf(monitor)];
  return { host: protocol === 'smtp' ? hosts.smtp : hosts.mailbox, port: defaultPorts[protocol] };
}

// Ports where the protocol starts in clear text and upgrades; everything else is implicit TLS.
const starttlsPorts: Record<Protocol, readonly number[]> = { imap: [143], pop3: [110], smtp: [25, 587] };

/** The seed procedure's manual test, pointed at the endpoint the probe used. */
export function opensslCommand(protocol: Protocol, endpoint: EndpointRef): string {
  const starttls = starttlsPorts[protocol].includes(endpoint.port) ? `-starttls ${protocol} ` : '';
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
  return `Get-CASMailbox -Identity ${mailbox} | fl ImapEnabled,PopEnabled,SmtpClientAuthenticationDisabled`;
}

const protocolSwitch: Record<Protocol, string> = {
  imap: '-ImapEnabled $true',
  pop3: '-PopEnabled $true',
  smtp: '-SmtpClientAuthenticationDisabled $false',
};

export function enableProtocol(mailbox: string, protocol: Protocol): string {
  return `Set-CASMailbox -Identity ${mailbox} ${protocolSwitch[protocol]}`;
}

export function newClientSecretStep(clientId: string): string {
  return `Entra admin center → App registrations → ${clientId} → Certificates & secrets → New client secret (copy the Value, not the Secret ID)`;
}
