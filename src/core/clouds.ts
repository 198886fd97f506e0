import type { Protocol } from './check.js';
import { PROTOCOL } from './protocols.js';

export const CLOUDS = ['global', 'usgov', 'usgovdod', 'china'] as const;
export type Cloud = (typeof CLOUDS)[number];

export function isCloud(value: string): value is Cloud {
  return (CLOUDS as readonly string[]).includes(value);
}

export interface CloudEndpoints {
  /** What people call it, for fix texts. */
  label: string;
  authorityHost: string;
  /** The token scope the agent requests (and fix texts name) unless the tenant sets its own. */
  scope: string;
  /** The admin-consent scope for mailbox protocols when it differs from `scope` (worldwide documents ps.outlook.com). */
  mailboxConsentScope?: string;
  /** IMAP and POP3. */
  mailHost: string;
  smtpHost: string;
  /** High Volume Email's SMTP host, only where Microsoft documents one (docs/exchange-online-errors.md §10). */
  hveSmtpHost?: string;
  /** Microsoft Graph resource, for reading the app's own credential expiry. */
  graph: string;
  /** Audience of a token Entra accepts as a federated client assertion (workload identity, managed identity). */
  federatedAudience: string;
}

// The one table of Microsoft clouds, read by the config loader and by every fix text. From Microsoft's
// national-cloud endpoint tables (docs/exchange-online-errors.md, "National clouds"): a tenant in
// one cloud asking another cloud's login host gets AADSTS900382/90002, so the cloud picks all of them together.
export const CLOUD_ENDPOINTS: Record<Cloud, CloudEndpoints> = {
  global: {
    label: 'worldwide/GCC',
    authorityHost: 'login.microsoftonline.com',
    scope: 'https://outlook.office.com/.default',
    mailboxConsentScope: 'https://ps.outlook.com/.default',
    mailHost: 'outlook.office365.com',
    smtpHost: 'smtp.office365.com',
    hveSmtpHost: 'smtp-hve.office365.com',
    graph: 'https://graph.microsoft.com',
    federatedAudience: 'api://AzureADTokenExchange',
  },
  usgov: {
    label: 'GCC High',
    authorityHost: 'login.microsoftonline.us',
    scope: 'https://outlook.office365.us/.default',
    mailHost: 'outlook.office365.us',
    smtpHost: 'smtp.office365.us',
    graph: 'https://graph.microsoft.us',
    federatedAudience: 'api://AzureADTokenExchangeUSGov',
  },
  usgovdod: {
    label: 'DoD',
    authorityHost: 'login.microsoftonline.us',
    scope: 'https://outlook-dod.office365.us/.default',
    mailHost: 'outlook-dod.office365.us',
    smtpHost: 'outlook-dod.office365.us',
    graph: 'https://dod-graph.microsoft.us',
    federatedAudience: 'api://AzureADTokenExchangeUSGov',
  },
  china: {
    label: '21Vianet',
    authorityHost: 'login.partner.microsoftonline.cn',
    scope: 'https://partner.outlook.cn/.default',
    mailHost: 'partner.outlook.cn',
    smtpHost: 'partner.outlook.cn',
    graph: 'https://microsoftgraph.chinacloudapi.cn',
    federatedAudience: 'api://AzureADTokenExchangeChina',
  },
};

/** The cloud's Exchange Online host for a protocol. */
export function cloudHost(cloud: Cloud, protocol: Protocol): string {
  const endpoints = CLOUD_ENDPOINTS[cloud];
  return PROTOCOL[protocol].host === 'smtp' ? endpoints.smtpHost : endpoints.mailHost;
}

/**
 * The cloud a login host belongs to, for callers that know only the host: the first cloud with that host (GCC High
 * and DoD share login.microsoftonline.us; GCC High is the likelier one), else the first with the same top-level
 * domain, else worldwide.
 */
export function cloudOfAuthorityHost(host: string): Cloud {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  const tld = (value: string): string => value.slice(value.lastIndexOf('.'));
  return (
    CLOUDS.find((cloud) => CLOUD_ENDPOINTS[cloud].authorityHost === name) ??
    CLOUDS.find((cloud) => cloud !== 'global' && tld(CLOUD_ENDPOINTS[cloud].authorityHost) === tld(name)) ??
    'global'
  );
}
