import type { AlertingConfigInput } from './alerting.js';
import type { HistoryConfigInput, SlaConfigInput } from './history.js';
import type { CheckKind, Protocol } from '../core/check.js';
import type { Endpoint, TlsSettings } from '../core/endpoint.js';
import type { ConfigIssue } from './errors.js';
import type { Cloud } from '../core/clouds.js';
import type { CredentialInput } from './schema.js';

/** rbac: Exchange RBAC for Applications grants SMTP over a management scope; entra: the Entra SMTP.SendAsApp permission. */
export type SmtpAuthorization = 'rbac' | 'entra';

// What the rest of the agent reads: the file's input with every default applied and every path resolved.

export interface ResolvedTenant {
  key: string;
  tenantId: string;
  clientId: string;
  cloud: Cloud;
  credential: CredentialInput;
  /** host[:port] of the login service, no scheme. */
  authorityHost: string;
  scope: string;
  /** Where relative credential paths are resolved from (the config file's folder). */
  baseDir: string;
  tls: TlsSettings;
  /** How the app is granted SMTP sending, when the admin declared it (schema.ts, "authorization"). */
  authorization?: SmtpAuthorization;
  /** Set for a delegated credential: whose sign-in, where it is kept, what it asks for. */
  delegated?: DelegatedSettings;
  /** Outbound proxy for the login service and Graph as configured (a URL or "direct"); absent: the environment decides. */
  proxy?: string;
  /** Set when the app's own credential expiry is read from Microsoft Graph. */
  graph?: { resource: string; baseUrl?: string };
}

export interface DelegatedSettings {
  account: string;
  /** The encrypted token cache of this sign-in, and the key it is encrypted under. */
  cacheFile: string;
  keyFile: string;
  /** The delegated scopes the tenant's monitors' checks need, with offline_access, as `mailprobe login` asks them. */
  scopes: string[];
  /** A Conditional Access sign-in frequency stated in the config, seconds. */
  signInFrequencySeconds?: number;
}

export interface ResolvedMonitor {
  name: string;
  tenant: ResolvedTenant;
  mailbox: string;
  enabled: boolean;
  /** Shown instead of name on the status page. */
  displayName?: string;
  /** Status page heading; when absent the page groups by tenant key. */
  group?: string;
  /** Whether the public status page shows this monitor. */
  public: boolean;
  checks: CheckKind[];
  /** The monitor's own "authorization", else its tenant's. */
  authorization?: SmtpAuthorization;
  schedule: string;
  /** Seconds between two runs of the schedule, for freshness alerts and jitter spread. */
  intervalSeconds: number;
  timeoutMs: number;
  stepTimeoutMs: number;
  endpoints: Record<Protocol, Endpoint>;
  /** Always set by the loader; a monitor built by hand (tests) goes without and gets probeMailOf()'s defaults. */
  probeMail?: ProbeMailSettings;
}

/** What the sending checks (smtp, roundtrip) need beyond the endpoints. */
export interface ProbeMailSettings {
  /** false: probe messages are left in the mailbox. */
  cleanup: boolean;
  roundtrip: {
    /** How long to wait for the probe message in the INBOX. */
    deadlineMs: number;
    /** Pause between two INBOX searches; below stepTimeoutMs, so the IMAP session's watchdog never trips between. */
    pollMs: number;
    /**
     * The roundtrip check's whole deadline: the monitor's timeoutSeconds (which covers the SMTP session and the
     * IMAP session with its cleanup, as for the other checks) plus the delivery deadline.
     */
    timeoutMs: number;
  };
  sendBudget: { perMinute: number; perDay: number };
  /** The key file that signs and verifies this agent's probe ids. */
  probeIdKeyFile: string;
}

export interface AgentSettings {
  host: string;
  port: number;
  /** agent.insecureListen: a listener other hosts reach may run without a credential. */
  insecureListen: boolean;
  concurrency: number;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  metrics: 'full' | 'basic';
  shutdownGraceMs: number;
  /** Absolute path of the agent's state folder. */
  stateDir: string;
  /** Absolute paths of the listener's security files, when configured. */
  webConfigFile?: string;
  bearerTokenFile?: string;
  /** As written in the file; resolveShard() combines them with flags and the environment. */
  shard?: number;
  totalShards?: number;
}

/** Settings the environment gives, which win over the file (container images and systemd units set them). */
export interface ConfigOverrides {
  /** State folder, absolute or relative to the working directory (MAILPROBE_STATE_DIR). */
  stateDir?: string | undefined;
}

/** The status page's settings with defaults applied. */
export interface StatusPageSettings {
  title: string;
  public: boolean;
  reasons: boolean;
  incidents: boolean;
  pageSize: number;
  refreshSeconds: number;
}

export interface LoadedConfig {
  file: string;
  agent: AgentSettings;
  tenants: Map<string, ResolvedTenant>;
  monitors: ResolvedMonitor[];
  alerting?: AlertingConfigInput;
  statusPage: StatusPageSettings;
  history?: HistoryConfigInput;
  sla?: SlaConfigInput;
  warnings: ConfigIssue[];
}
