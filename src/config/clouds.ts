import type { Cloud } from './schema.js';

export interface CloudEndpoints {
  authorityHost: string;
  scope: string;
  mailHost: string;
  smtpHost: string;
  /** Microsoft Graph resource, for reading the app's own credential expiry. */
  graph: string;
}

// From Microsoft's national-cloud tables (see the errors catalogue, section 6). A tenant in one cloud
// asking another cloud's login host gets AADSTS900382/90002, so the cloud picks all four together.
export const CLOUD_ENDPOINTS: Record<Cloud, CloudEndpoints> = {
  global: {
    authorityHost: 'login.microsoftonline.com',
    scope: 'https://outlook.office.com/.default',
    mailHost: 'outlook.office365.com',
    smtpHost: 'smtp.office365.com',
    graph: 'https://graph.microsoft.com',
  },
  usgov: {
    authorityHost: 'login.microsoftonline.us',
    scope: 'https://outlook.office365.us/.default',
    mailHost: 'outlook.office365.us',
    smtpHost: 'smtp.office365.us',
    graph: 'https://graph.microsoft.us',
  },
  usgovdod: {
    authorityHost: 'login.microsoftonline.us',
    scope: 'https://outlook-dod.office365.us/.default',
    mailHost: 'outlook-dod.office365.us',
    smtpHost: 'outlook-dod.office365.us',
    graph: 'https://dod-graph.microsoft.us',
  },
  china: {
    authorityHost: 'login.partner.microsoftonline.cn',
    scope: 'https://partner.outlook.cn/.default',
    mailHost: 'partner.outlook.cn',
    smtpHost: 'partner.outlook.cn',
    graph: 'https://microsoftgraph.chinacloudapi.cn',
  },
};

export const DEFAULT_PORTS = { imap: 993, pop3: 995, smtp: 587 } as const;
