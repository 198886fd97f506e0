import type { Protocol } from './check.js';
import { PROTOCOL } from './protocols.js';

export const CLOUDS = ['global', 'usgov', 'usgovdod', 'china'] as const;
export type Cloud = (typeof CLOUDS)[number];

export function isCloud(value: string): value is Cloud {
  return (CLOUDS as readonly string[]).includes(value);
}

/**
 * The services a check's token can be for. Entra issues one token per resource, and each service refuses a token
 * whose aud names another (Exchange answers a Graph token with a plain "AUTHENTICATE failed", docs/exchange-online-errors.md §2).
 */
export const TOKEN_RESOURCE = {
  exchange: { label: 'Exchange Online', appId: '00000002-0000-0ff1-ce00-000000000000' },
  graph: { label: 'Microsoft Graph', appId: '00000003-0000-0000-c000-000000000000' },
} as const satisfies Record<string, { label: string; appId: string }>;
export type TokenResource = keyof typeof TOKEN_RESOURCE;

/** A resource in one cloud: its v1 resource URI (a token's aud, and the scope with /.default) and other URIs Entra issues it under. */
export interface ResourceUri {
  uri: string;
  aliases?: readonly string[];
}

export interface CloudEndpoints {
  /** What people call it, for fix texts. */
  label: string;
  authorityHost: string;
  /** Each token resource's URI here; Exchange's scope is what the agent requests (and fix texts name) unless the tenant sets its own. */
  resources: Record<TokenResource, ResourceUri>;
  /** The admin-consent scope for mailbox protocols when it differs from Exchange's scope (worldwide documents ps.outlook.com). */
  mailboxConsentScope?: string;
  /** IMAP and POP3. */
  mailHost: string;
  smtpHost: string;
  /** High Volume Email's SMTP host, only where Microsoft documents one (docs/exchange-online-errors.md §10). */
  hveSmtpHost?: string;
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
    resources: {
      exchange: { uri: 'https://outlook.office.com', aliases: ['https://outlook.office365.com', 'https://ps.outlook.com'] },
      graph: { uri: 'https://graph.microsoft.com' },
    },
    mailboxConsentScope: 'https://ps.outlook.com/.default',
    mailHost: 'outlook.office365.com',
    smtpHost: 'smtp.office365.com',
    hveSmtpHost: 'smtp-hve.office365.com',
    federatedAudience: 'api://AzureADTokenExchange',
  },
  usgov: {
    label: 'GCC High',
    authorityHost: 'login.microsoftonline.us',
    resources: { exchange: { uri: 'https://outlook.office365.us' }, graph: { uri: 'https://graph.microsoft.us' } },
    mailHost: 'outlook.office365.us',
    smtpHost: 'smtp.office365.us',
    federatedAudience: 'api://AzureADTokenExchangeUSGov',
  },
  usgovdod: {
    label: 'DoD',
    authorityHost: 'login.microsoftonline.us',
    resources: { exchange: { uri: 'https://outlook-dod.office365.us' }, graph: { uri: 'https://dod-graph.microsoft.us' } },
    mailHost: 'outlook-dod.office365.us',
    smtpHost: 'outlook-dod.office365.us',
    federatedAudience: 'api://AzureADTokenExchangeUSGov',
  },
  china: {
    label: '21Vianet',
    authorityHost: 'login.partner.microsoftonline.cn',
    resources: { exchange: { uri: 'https://partner.outlook.cn' }, graph: { uri: 'https://microsoftgraph.chinacloudapi.cn' } },
    mailHost: 'partner.outlook.cn',
    smtpHost: 'partner.outlook.cn',
    federatedAudience: 'api://AzureADTokenExchangeChina',
  },
};

/** The client-credentials scope for a resource in a cloud. */
export function resourceScope(cloud: Cloud, resource: TokenResource): string {
  return `${CLOUD_ENDPOINTS[cloud].resources[resource].uri}/.default`;
}

/**
 * Every aud a token for the resource may carry: its URIs in every cloud and (v2 tokens) its application ID. Any
 * cloud's: a token for the right service in the wrong cloud is refused by the server in its own words, and the
 * wrong cloud is its own diagnosis (token_wrong_cloud). Built once: every check judges its token against it.
 */
const AUDIENCES: Record<TokenResource, ReadonlySet<string>> = { exchange: audiencesOf('exchange'), graph: audiencesOf('graph') };

function audiencesOf(resource: TokenResource): ReadonlySet<string> {
  const uris = CLOUDS.flatMap((cloud) => {
    const { uri, aliases = [] } = CLOUD_ENDPOINTS[cloud].resources[resource];
    return [uri, ...aliases];
  });
  return new Set([...uris, TOKEN_RESOURCE[resource].appId]);
}

/** Whether a token's aud names the resource (case and trailing slashes aside). */
export function isAudienceOf(aud: string, resource: TokenResource): boolean {
  return AUDIENCES[resource].has(aud.trim().toLowerCase().replace(/\/+$/, ''));
}

/** The cloud's Microsoft Graph API host. */
export function graphHost(cloud: Cloud): string {
  return new URL(CLOUD_ENDPOINTS[cloud].resources.graph.uri).host;
}

/** The cloud's host for a protocol: one of Exchange Online's, or Microsoft Graph's. */
export function cloudHost(cloud: Cloud, protocol: Protocol): string {
  const endpoints = CLOUD_ENDPOINTS[cloud];
  const { host } = PROTOCOL[protocol] as { host: 'mail' | 'smtp' | 'graph' };
  if (host === 'graph') return graphHost(cloud);
  return host === 'smtp' ? endpoints.smtpHost : endpoints.mailHost;
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
