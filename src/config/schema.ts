import { z } from 'zod';
import { AlertingConfig } from './alerting.js';
import { CHECK_KINDS } from '../core/check.js';
import { HistoryConfig, SlaConfig } from './history.js';
import { CLOUDS } from '../core/clouds.js';
import { LISTEN_SHAPE, LISTEN_SHAPE_MESSAGE, listenProblem } from './listen.js';
import { SecretSource } from './secret-source.js';
import { proxySettingProblem } from './proxy.js';

// Every field is documented here, once, via .describe(); the published JSON Schema carries these texts to editors.

const hostname = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9.:_\-[\]]+$/, 'a host name or IP address without scheme or path');

const port = z.number().int().min(1).max(65535);

// An outbound proxy setting: checked here (src/net/proxy.ts parses it the same way at connect time, and says
// what is wrong without quoting it, since the URL may hold a password).
const proxySetting = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const problem = proxySettingProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const EndpointOverride = z
  .object({
    host: hostname.optional().describe('Server host; defaults to the tenant cloud’s Exchange Online host (Microsoft Graph’s for graph).'),
    port: port.optional().describe('Server port; defaults to 993 (IMAP), 995 (POP3), 587 (SMTP), 443 (Microsoft Graph).'),
  })
  .strict();

export const TlsOptions = z
  .object({
    caFile: z.string().min(1).optional().describe('PEM file of extra CA certificates to trust (private test servers). NODE_EXTRA_CA_CERTS works too.'),
    rejectUnauthorized: z.boolean().optional().describe('false disables certificate verification. Never the default; logged as a warning.'),
  })
  .strict();

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isoDate = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'an ISO 8601 date such as 2027-03-31 or 2027-03-31T00:00:00Z');

export const Credential = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('secret'),
      secret: SecretSource.describe('The client secret VALUE (not its Secret ID).'),
      expires: isoDate.optional().describe('The secret’s expiry date as shown in Entra, exported as a metric.'),
    })
    .strict(),
  z
    .object({
      type: z.literal('certificate'),
      certFile: z.string().min(1).describe('PEM certificate registered on the app; its thumbprint is computed.'),
      keyFile: z.string().min(1).describe('PEM private key of that certificate.'),
      passphrase: SecretSource.optional().describe('Passphrase of an encrypted private key.'),
    })
    .strict(),
  z
    .object({
      type: z.literal('federated'),
      tokenFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          'File holding the external OIDC token the app’s federated credential trusts (a Kubernetes projected service-account token, a CI job’s OIDC token), relative to this file. Default: the AZURE_FEDERATED_TOKEN_FILE environment variable, as Azure Workload Identity sets it. Read again for every token request, so a rotated file needs no restart.',
        ),
      audience: z
        .string()
        .min(1)
        .optional()
        .describe('The audience the token must carry, as in the federated credential; default: the cloud’s (api://AzureADTokenExchange worldwide).'),
    })
    .strict(),
  z
    .object({
      type: z.literal('managedIdentity'),
      clientId: z
        .string()
        .regex(GUID, 'a GUID: the client ID of the user-assigned managed identity')
        .optional()
        .describe('Client ID of the user-assigned managed identity; omitted: the system-assigned one.'),
      endpoint: z
        .string()
        .url()
        .optional()
        .describe(
          'Identity endpoint asked in the instance-metadata (IMDS) form, e.g. for tests or a sidecar. Default: IDENTITY_ENDPOINT with IDENTITY_HEADER (App Service, Container Apps) when set, else http://169.254.169.254/metadata/identity/oauth2/token.',
        ),
      audience: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Resource the managed identity’s token is asked for, which the app’s federated credential must name; default: the cloud’s (api://AzureADTokenExchange worldwide).',
        ),
    })
    .strict(),
  z
    .object({
      type: z.literal('delegated'),
      account: z
        .string()
        .email('an e-mail address: the user who signs in')
        .describe(
          'The user who signs in once with `mailprobe login --monitor NAME` (device code); the agent then renews the sign-in with its refresh token, kept encrypted in agent.stateDir. The app is a public client with the delegated IMAP.AccessAsUser.All, POP.AccessAsUser.All and SMTP.Send permissions its monitors’ checks need, and offline_access.',
        ),
      signInFrequencyHours: z
        .number()
        .positive()
        .max(8760)
        .optional()
        .describe(
          'The Conditional Access sign-in frequency that applies to this user, in hours, so the lapse is shown and alerted before it comes. Learned from AADSTS70043 when left out.',
        ),
    })
    .strict(),
]);

/** The credential types monitors.json knows, for the error that names them. */
export const CREDENTIAL_TYPES = Credential.options.map((option) => option.shape.type.value);

// How the app is allowed to send over SMTP. Declared, because the token cannot show an Exchange-side grant.
const Authorization = z
  .enum(['rbac', 'entra'])
  .describe(
    'How the app is granted SMTP sending: "rbac" — Exchange RBAC for Applications ("Application SMTP.SendAsApp" over a management scope), so tokens carry no SMTP.SendAsApp, doctor warns when one does (Entra and RBAC grants add up: the Entra permission makes the scoped grant tenant-wide) and fixes never suggest the Entra permission; "entra" — the Entra SMTP.SendAsApp permission. Unset: fixes offer RBAC first. IMAP and POP always need their Entra permission (Exchange has no RBAC role for them).',
  );

export const Tenant = z
  .object({
    tenantId: z.string().min(1).describe('Directory (tenant) ID: a GUID or a verified domain such as contoso.onmicrosoft.com.'),
    clientId: z.string().regex(GUID, 'an Application (client) ID GUID').describe('Application (client) ID of the Entra app.'),
    credential: Credential,
    cloud: z.enum(CLOUDS).optional().describe('National cloud; sets the login host, scope and mail hosts.'),
    authorityHost: z.string().min(1).optional().describe('Login host override, e.g. login.microsoftonline.us or 127.0.0.1:8443 for a test service.'),
    scope: z.string().min(1).optional().describe('Token scope; defaults to the cloud’s Exchange resource with /.default.'),
    credentialExpiryFromGraph: z
      .boolean()
      .optional()
      .describe('Read the app’s own secret/certificate expiry from Microsoft Graph (needs Application.Read.All).'),
    authorityTls: TlsOptions.optional().describe(
      'TLS towards the login host and Microsoft Graph, apart from the mail servers’ tls: caFile adds trust (default: the caFile of defaults.tls); rejectUnauthorized false, only written here, sends the client secret or signed assertion to any certificate and is logged as a warning.',
    ),
    graphUrl: z
      .string()
      .url()
      .optional()
      .describe('Microsoft Graph base URL override (tests, proxies); the token is still asked for the cloud’s Graph resource.'),
    authorization: Authorization.optional(),
    proxy: proxySetting
      .optional()
      .describe(
        'Outbound proxy for the login service and Microsoft Graph: http://[user:password@]host:port (HTTP CONNECT), or "direct" to ignore the environment. Unset: HTTPS_PROXY (then ALL_PROXY) and NO_PROXY decide, as for curl. Put a password in the environment rather than here.',
      ),
  })
  .strict();

const checks = z
  .array(z.enum(CHECK_KINDS))
  .min(1)
  .refine((list) => new Set(list).size === list.length, 'each check at most once');

const schedule = z.string().min(1).describe('Cron expression (5 or 6 fields), e.g. "*/5 * * * *".');

const timeoutSeconds = z.number().positive().max(3600);

export const RoundtripSettings = z
  .object({
    deadlineSeconds: timeoutSeconds
      .optional()
      .describe(
        'How long the roundtrip check waits for its probe message to appear in the INBOX before failing with delivery_timeout (default 300). The roundtrip check’s own deadline is timeoutSeconds plus this.',
      ),
    pollSeconds: z
      .number()
      .min(0.1)
      .max(60)
      .optional()
      .describe('Seconds between two searches of the INBOX while waiting (default 5; kept below stepTimeoutSeconds).'),
  })
  .strict();

export const SendBudget = z
  .object({
    perMinute: z
      .number()
      .int()
      .min(1)
      .max(30)
      .optional()
      .describe('Most probe messages per mailbox in any 60 s (default 3, a tenth of Exchange’s 30 per minute).'),
    perDay: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .optional()
      .describe('Most probe messages per mailbox in any 24 h (default 1000, a tenth of Exchange’s 10,000 recipients a day).'),
  })
  .strict();

const CheckSettings = {
  checks: checks
    .optional()
    .describe(
      'Checks to run: imap, pop3, smtp, roundtrip, graph (a round trip over Microsoft Graph: sendMail, find, delete), graphread (Microsoft Graph lists the INBOX, for an app granted only to read). The graph checks take a token of their own for Microsoft Graph and need an app credential (not a delegated sign-in).',
    ),
  schedule: schedule.optional(),
  timeoutSeconds: timeoutSeconds.optional().describe('Deadline for one whole check.'),
  stepTimeoutSeconds: timeoutSeconds.optional().describe('Deadline for one network step (connect, one reply).'),
  imap: EndpointOverride.extend({
    imap4rev2: z
      .boolean()
      .optional()
      .describe(
        'true lets the IMAP sessions that search the mailbox (roundtrip, cleanup) ENABLE IMAP4rev2 when the server offers it; the imap check itself never ENABLEs anything. Default false: some Exchange Online tenants advertise IMAP4rev2, whose SEARCH is reported broken (MailKit #2016), so the probe stays IMAP4rev1.',
      ),
  })
    .strict()
    .optional(),
  pop3: EndpointOverride.optional(),
  smtp: EndpointOverride.optional(),
  graph: EndpointOverride.optional().describe(
    'Microsoft Graph endpoint of the graph checks (tests, a private gateway); reached through the tenant’s proxy, as the login service is.',
  ),
  tls: TlsOptions.optional(),
  proxy: proxySetting
    .optional()
    .describe(
      'Outbound proxy for IMAP, POP3 and SMTP: http://[user:password@]host:port, reached with HTTP CONNECT (the proxy must allow CONNECT to ports 993, 995 and 587), or "direct" to ignore the environment. Unset: ALL_PROXY and NO_PROXY decide, as for curl; HTTPS_PROXY does not apply to the mail protocols.',
    ),
  roundtrip: RoundtripSettings.optional(),
  cleanup: z
    .boolean()
    .optional()
    .describe(
      'false leaves probe messages in the mailbox. Otherwise (default) the roundtrip check deletes its own probe message and sweeps older ones from Inbox, Junk Email, Deleted Items and Sent Items, as does the smtp check of a monitor without roundtrip; only messages whose X-Mailprobe-Id verifies as this monitor’s are touched.',
    ),
  sendBudget: SendBudget.optional().describe(
    'Probe messages per mailbox the agent may send (smtp and roundtrip checks together, across monitors on the mailbox); a check over budget fails with send_budget_exhausted without sending.',
  ),
};

export const Defaults = z.object(CheckSettings).strict();

export const Monitor = z
  .object({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash or underscore')
      .describe('Unique monitor name, used as a metric label.'),
    tenant: z.string().min(1).describe('Key of an entry in "tenants".'),
    mailbox: z.string().email('an e-mail address').describe('Mailbox to log in to (user= in XOAUTH2).'),
    enabled: z.boolean().optional().describe('false keeps the monitor in the file without running it.'),
    displayName: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('Name shown on the status page instead of "name"; public, so never a mailbox address or an ID.'),
    group: z.string().min(1).max(100).optional().describe('Heading the status page groups this monitor under (default: the key of its tenant in "tenants").'),
    public: z.boolean().optional().describe('false keeps the monitor off the public status page (/status and its feeds); /status/detail still shows it.'),
    authorization: Authorization.optional().describe(
      'As the tenant’s "authorization", for this mailbox only (a mailbox outside the app’s management scope, for example).',
    ),
    hve: z
      .object({
        recipient: z
          .string()
          .email('an e-mail address')
          .optional()
          .describe('Internal mailbox the probe message goes to (default: the monitored mailbox itself); HVE accounts cannot send outside the organisation.'),
      })
      .strict()
      .optional()
      .describe(
        'The mailbox is a High Volume Email account: SMTP goes to smtp-hve.office365.com:587 (worldwide cloud only; smtp.host still overrides it), and the token must hold the Office 365 Exchange Online Mail.Send application permission instead of SMTP.SendAsApp.',
      ),
    ...CheckSettings,
  })
  .strict();

export const Agent = z
  .object({
    listen: z
      .string()
      .regex(LISTEN_SHAPE, LISTEN_SHAPE_MESSAGE)
      .superRefine((value, ctx) => {
        const problem = listenProblem(value);
        if (problem && LISTEN_SHAPE.test(value)) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('Address of the /metrics, /healthz, /readyz and /api/status listener (default 127.0.0.1:9465).'),
    insecureListen: z
      .boolean()
      .optional()
      .describe(
        'true lets the agent listen on an address other hosts can reach (0.0.0.0, a pod IP) without asking for a credential (basic_auth_users, agent.bearerTokenFile or a verified client certificate); without it such a listener refuses to start, because /api/status and /status/detail show mailboxes, tenant and app IDs. For a network that already admits only the scraper (a NetworkPolicy, a firewall). MAILPROBE_INSECURE_LISTEN=true does the same.',
      ),
    webConfigFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Prometheus exporter-toolkit web configuration file (YAML: tls_server_config, basic_auth_users, http_server_config.headers, rate_limit), relative to this file; --web.config.file overrides it. Re-read while running, so certificates rotate without a restart.',
      ),
    bearerTokenFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'File of bearer tokens, one a line, relative to this file; "Authorization: Bearer <token>" with any of them opens /metrics and /api/*. Re-read while running.',
      ),
    concurrency: z.number().int().min(1).max(10000).optional().describe('Most checks in flight at once.'),
    logLevel: z.enum(['error', 'warn', 'info', 'debug']).optional(),
    metrics: z
      .enum(['full', 'basic'])
      .optional()
      .describe(
        'full (default): every /metrics family; basic: only what the shipped alerts and recording rules read (no latest-duration or last-success gauges per check, no per-step histogram).',
      ),
    shutdownGraceSeconds: timeoutSeconds.optional().describe('How long SIGTERM waits for checks in flight.'),
    stateDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Folder for the agent’s own state, relative to this file (default ".mailprobe"). It holds probe-id.key, the key that signs probe ids (created 0600 on first use); replicas that clean up after each other must share it.',
      ),
    probeIdKeyFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The key file that signs probe ids, relative to this file (default probe-id.key in stateDir, created 0600 on first use). Replicas that take over each other’s monitors (shards) must share it, e.g. from a Kubernetes Secret.',
      ),
    tokenCacheKeyFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The key that encrypts delegated monitors’ refresh tokens at rest (AES-256-GCM), relative to this file (default token-cache.key in stateDir, created 0600 by `mailprobe login`). The MAILPROBE_TOKEN_CACHE_KEY environment variable (32 bytes, base64) wins over it. Keep it apart from backups of the state folder.',
      ),
    totalShards: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('How many replicas divide the monitors between them (default 1). --total-shards and MAILPROBE_TOTAL_SHARDS override it.'),
    shard: z
      .number()
      .int()
      .min(0)
      .max(999)
      .optional()
      .describe(
        'Which of the totalShards this replica is (0-based). Usually left out: --shard, MAILPROBE_SHARD, or a StatefulSet pod name such as mailprobe-2 (POD_NAME, HOSTNAME) gives it.',
      ),
  })
  .strict();

export const StatusPage = z
  .object({
    title: z.string().min(1).max(100).optional().describe('Heading of the status page (default "Mail status").'),
    public: z
      .boolean()
      .optional()
      .describe(
        'true (default): /status, its badges, Atom feed and summary.json are open to anyone who reaches the listener, showing only display names, groups and plain-words reasons. false: they need the listener’s authentication like /status/detail, /metrics and /api/*.',
      ),
    reasons: z
      .boolean()
      .optional()
      .describe('false hides why a check fails (the reason in plain words) and incident causes from the public view (default true).'),
    incidents: z.boolean().optional().describe('false leaves the list of recent incidents off the public view (default true).'),
    pageSize: z.number().int().min(1).max(1000).optional().describe('Monitors per page of the status page (default 50).'),
    refreshSeconds: z
      .number()
      .int()
      .min(10)
      .max(3600)
      .optional()
      .describe('How often an open status page reloads itself (default 60); the page has a link that stops it.'),
  })
  .strict();

export const MonitorsFile = z
  .object({
    $schema: z.string().optional(),
    agent: Agent.optional(),
    defaults: Defaults.optional(),
    tenants: z.record(z.string().min(1), Tenant).describe('Entra apps by a short name of your choice.'),
    monitors: z.array(Monitor).describe('One entry per mailbox to watch.'),
    alerting: AlertingConfig.optional().describe('Built-in notifications (webhook, Teams, Slack, Alertmanager) for people without Alertmanager rules.'),
    statusPage: StatusPage.optional().describe('The status page at /status: what the public view shows, and how.'),
    history: HistoryConfig.optional().describe('Where every result is kept (SQLite in agent.stateDir by default, or a shared PostgreSQL).'),
    sla: SlaConfig.optional().describe('How availability is accounted and reported: SLO targets, maintenance windows, time zone, monthly summary.'),
  })
  .strict();

export type MonitorsFileInput = z.infer<typeof MonitorsFile>;
export type TenantInput = z.infer<typeof Tenant>;
export type MonitorInput = z.infer<typeof Monitor>;
export type CredentialInput = z.infer<typeof Credential>;
export type StatusPageInput = z.infer<typeof StatusPage>;
