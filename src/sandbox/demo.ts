import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/types.js';
import type { CheckKind } from '../core/check.js';
import { createPki } from './certs.js';
import { startEntra, type EntraServer } from './entra.js';
import { startExchange, type ExchangeEmulator } from './exchange.js';
import { defaultSecretValue, deterministicGuid, SandboxModel, type TenantSpec } from './model.js';

export interface DemoEnvironment {
  config: LoadedConfig;
  model: SandboxModel;
  entra: EntraServer;
  exchange: ExchangeEmulator;
  tenants: readonly DemoTenant[];
  /**
   * The demo's `mailprobe login` of its delegated monitors (the emulator approves their device codes as the person
   * would); set by the command that runs the demo, which owns the login (cli/login.ts).
   */
  signInAgain?: () => Promise<void>;
  close(): Promise<void>;
}

interface DemoTenant {
  key: string;
  domain: string;
  clientId: string;
  mailboxes: string[];
  /**
   * SMTP granted through Exchange RBAC for Applications over a management scope holding these mailboxes, with no
   * Entra SMTP.SendAsApp (docs/exchange-online-errors.md §10); the tenant's monitors run the smtp check only.
   */
  rbacSmtpScope?: string[];
  /**
   * The tenant entry signs in as its mailbox's user (a delegated monitor: `mailprobe login`, a refresh token), not
   * as the app; its app is a public client whose device codes the emulator approves at once.
   */
  delegated?: boolean;
}

const TENANTS: readonly DemoTenant[] = [
  {
    key: 'contoso',
    domain: 'contoso.onmicrosoft.com',
    clientId: deterministicGuid('demo-app-contoso'),
    mailboxes: ['helpdesk@contoso.onmicrosoft.com', 'alerts@contoso.onmicrosoft.com', 'reports@contoso.onmicrosoft.com'],
  },
  { key: 'fabrikam', domain: 'fabrikam.onmicrosoft.com', clientId: deterministicGuid('demo-app-fabrikam'), mailboxes: ['scanner@fabrikam.onmicrosoft.com'] },
  { key: 'northwind', domain: 'northwind.onmicrosoft.com', clientId: deterministicGuid('demo-app-northwind'), mailboxes: ['orders@northwind.onmicrosoft.com'] },
  // Both mailboxes are in the app's SMTP scope and pass with a role-less token, until the script takes billing out.
  {
    key: 'woodgrove',
    domain: 'woodgrove.onmicrosoft.com',
    clientId: deterministicGuid('demo-app-woodgrove'),
    mailboxes: ['notify@woodgrove.onmicrosoft.com', 'billing@woodgrove.onmicrosoft.com'],
    rbacSmtpScope: ['notify@woodgrove.onmicrosoft.com', 'billing@woodgrove.onmicrosoft.com'],
  },
  // A person's delegated sign-in: no app permission, no secret; the script revokes it and the person signs in again.
  {
    key: 'tailspin',
    domain: 'tailspin.onmicrosoft.com',
    clientId: deterministicGuid('demo-app-tailspin'),
    mailboxes: ['frontdesk@tailspin.onmicrosoft.com'],
    delegated: true,
  },
];

const RBAC_SCOPE = 'mailprobe-smtp';

// One mailbox does the round trip, the others the SMTP check: one sending check each keeps every mailbox inside
// the send budget at the demo's 10 s schedule (6 a minute, 8,640 a day), so `validate` has nothing to warn about.
const ROUNDTRIP_MAILBOX = 'alerts@contoso.onmicrosoft.com';
// A mailbox a reporting tool sends from over Microsoft Graph (sendMail), watched by the Graph round trip beside IMAP.
const GRAPH_MAILBOX = 'reports@contoso.onmicrosoft.com';

function demoChecks(tenant: DemoTenant, mailbox: string, allowed: readonly CheckKind[]): CheckKind[] {
  // A caller that leaves out roundtrip (tests) gets the SMTP check there, as on the other mailboxes.
  const sends: CheckKind = allowed.includes('roundtrip') ? 'roundtrip' : 'smtp';
  const wanted: CheckKind[] = tenant.rbacSmtpScope
    ? ['smtp']
    : tenant.delegated
      ? ['imap', 'smtp']
      : mailbox === ROUNDTRIP_MAILBOX
        ? ['imap', sends]
        : mailbox === GRAPH_MAILBOX
          ? ['imap', 'graph']
          : ['imap', 'pop3', 'smtp'];
  return wanted.filter((check) => allowed.includes(check));
}

// msal-node renews a cached token 300 s before it expires, so 310 s tokens are renewed about every 10 s: an
// expired secret or revoked consent shows within a run or two, inside its 30 s window, as it would within the
// hour of a real token.
const DEMO_TOKEN_LIFETIME_SECONDS = 310;

/** The emulators plus a generated monitors config pointing at them, in a private temp folder. */
export async function startDemoEnvironment(options: {
  schedule: string;
  /** Checks the demo may run (each monitor runs its own share of them); tests narrow it. */
  checks: readonly CheckKind[];
  listen: string;
  /** The agent's state folder (MAILPROBE_STATE_DIR, e.g. an image's volume); else `state` inside the demo's folder. */
  stateDir?: string | undefined;
  /** A folder of the demo's own that outlives it (config, secrets, history); else a temporary one removed on close. */
  dir?: string | undefined;
  /**
   * Include the delegated tenant (its monitor needs `mailprobe login` before it passes: the demo command signs it
   * in); tests of the app-only tenants leave it out.
   */
  delegated?: boolean;
}): Promise<DemoEnvironment> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'mailprobe-demo-'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = await createPki();
  const included = TENANTS.filter((tenant) => options.delegated === true || !tenant.delegated);
  const specs: TenantSpec[] = included.map((tenant) => ({
    domain: tenant.domain,
    displayName: tenant.key,
    apps: [
      {
        clientId: tenant.clientId,
        displayName: `mailprobe ${tenant.key}`,
        ...(tenant.rbacSmtpScope ? { roles: ['IMAP.AccessAsApp', 'POP.AccessAsApp'] } : {}),
        ...(tenant.delegated ? { roles: [], publicClient: true } : {}),
      },
    ],
    mailboxes: tenant.mailboxes.map((address) => ({ address, ...(tenant.rbacSmtpScope ? { fullAccess: [] } : {}) })),
  }));
  const model = SandboxModel.fromSpec(specs);
  for (const tenant of included) {
    if (tenant.delegated) model.delegation.approveAutomatically(model.tenant(tenant.domain).tenantId, tenant.clientId, tenant.mailboxes[0] ?? '');
    if (!tenant.rbacSmtpScope) continue;
    const { tenantId } = model.tenant(tenant.domain);
    model.setManagementScope(tenantId, RBAC_SCOPE, tenant.rbacSmtpScope);
    model.assignRole(tenantId, tenant.clientId, 'Application SMTP.SendAsApp', RBAC_SCOPE);
  }
  model.tokenLifetimeSeconds = DEMO_TOKEN_LIFETIME_SECONDS;
  const entra = await startEntra({ model, tls: pki.server });
  const exchange = await startExchange({ model, tls: pki.server });

  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  const tenants: Record<string, unknown> = {};
  for (const tenant of included) {
    if (tenant.delegated) {
      tenants[tenant.key] = {
        tenantId: tenant.domain,
        clientId: tenant.clientId,
        credential: { type: 'delegated', account: tenant.mailboxes[0] },
        authorityHost: entra.authorityHost,
      };
      continue;
    }
    const secretFile = join(dir, `${tenant.key}.secret`);
    writeFileSync(secretFile, defaultSecretValue(tenant.clientId), { mode: 0o600 });
    tenants[tenant.key] = {
      tenantId: tenant.domain,
      clientId: tenant.clientId,
      credential: { type: 'secret', secret: { file: secretFile } },
      authorityHost: entra.authorityHost,
      credentialExpiryFromGraph: true,
      graphUrl: entra.url,
      ...(tenant.rbacSmtpScope ? { authorization: 'rbac' } : {}),
    };
  }
  const monitors = included
    .flatMap((tenant) =>
      tenant.mailboxes.map((mailbox) => {
        const local = mailbox.split('@')[0] ?? 'probe';
        // What the public status page shows: names chosen for readers, not the addresses.
        return {
          name: `${tenant.key}-${local}`,
          displayName: `${capitalise(tenant.key)} ${local}`,
          group: capitalise(tenant.key),
          tenant: tenant.key,
          mailbox,
          checks: demoChecks(tenant, mailbox, options.checks),
        };
      }),
    )
    .filter((monitor) => monitor.checks.length > 0); // woodgrove runs smtp only, and only where smtp is allowed
  const file = join(dir, 'monitors.json');
  const text = JSON.stringify(
    {
      agent: { listen: options.listen, concurrency: 8, stateDir: options.stateDir ?? join(dir, 'state') },
      defaults: {
        schedule: options.schedule,
        timeoutSeconds: 4,
        stepTimeoutSeconds: 3,
        // The demo's fast schedule sends far more than a real monitor should; the emulator does not mind.
        sendBudget: { perMinute: 30, perDay: 10000 },
        roundtrip: { deadlineSeconds: 5 },
        tls: { caFile: join(dir, 'ca.pem') },
        imap: { host: exchange.imap.host, port: exchange.imap.port },
        pop3: { host: exchange.pop3.host, port: exchange.pop3.port },
        smtp: { host: exchange.smtp.host, port: exchange.smtp.port },
        graph: { host: exchange.graph.host, port: exchange.graph.port },
      },
      tenants,
      monitors,
    },
    null,
    2,
  );
  writeFileSync(file, text);
  const config = parseConfig(text, file);
  return {
    config,
    model,
    entra,
    exchange,
    tenants: included,
    close: async () => {
      await Promise.allSettled([entra.close(), exchange.close()]);
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export interface DemoEvent {
  atSeconds: number;
  description: string;
  /** What the script does; the narration follows once it is done (a sign-in takes a moment). */
  apply(env: DemoEnvironment): void | Promise<void>;
}

function demoTenant(env: DemoEnvironment, key: string): { tenantId: string; clientId: string; mailbox: string } {
  const tenant = env.tenants.find((candidate) => candidate.key === key);
  const record = tenant && env.model.findTenant(tenant.domain);
  if (!tenant || !record) throw new Error(`demo tenant ${key} missing`);
  return { tenantId: record.tenantId, clientId: tenant.clientId, mailbox: tenant.mailboxes[0] ?? '' };
}

/** How long one pass of the script takes; it then starts again. */
export const DEMO_CYCLE_SECONDS = 330;

/**
 * What breaks and when: one fault at a time, each repaired before the next, so each shows on its own (delivery
 * stops while every tenant is otherwise healthy).
 */
export const DEMO_SCRIPT: readonly DemoEvent[] = [
  {
    atSeconds: 20,
    description: 'fabrikam: the client secret expires (AADSTS7000222)',
    apply: (env) => {
      const t = demoTenant(env, 'fabrikam');
      env.model.expireSecret(t.tenantId, t.clientId);
    },
  },
  {
    atSeconds: 50,
    description: 'repair: fabrikam gets a new secret value (the one configured)',
    apply: (env) => {
      const t = demoTenant(env, 'fabrikam');
      env.model.revokeSecret(t.tenantId, t.clientId);
      env.model.addSecret(t.tenantId, t.clientId, { value: defaultSecretValue(t.clientId) });
    },
  },
  {
    atSeconds: 60,
    description: 'northwind: admin consent revoked (token without roles)',
    apply: (env) => {
      const t = demoTenant(env, 'northwind');
      env.model.setRoles(t.tenantId, t.clientId, []);
    },
  },
  {
    atSeconds: 90,
    description: 'repair: northwind admin consent granted again',
    apply: (env) => {
      const t = demoTenant(env, 'northwind');
      env.model.setRoles(t.tenantId, t.clientId, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    },
  },
  {
    atSeconds: 100,
    description: 'contoso: SMTP AUTH disabled for the tenant (535 5.7.139)',
    apply: (env) => env.model.setSmtpAuthDisabled(demoTenant(env, 'contoso').tenantId, null, true),
  },
  {
    atSeconds: 130,
    description: 'repair: contoso SMTP AUTH enabled again',
    apply: (env) => env.model.setSmtpAuthDisabled(demoTenant(env, 'contoso').tenantId, null, false),
  },
  {
    atSeconds: 140,
    description: 'the IMAP server hangs after accepting connections (timeouts)',
    apply: (env) => {
      env.model.faults.hang.imap = true;
    },
  },
  {
    atSeconds: 165,
    description: 'repair: IMAP answers again',
    apply: (env) => {
      env.model.faults.hang.imap = false;
    },
  },
  {
    atSeconds: 175,
    description: 'Exchange accepts mail but stops delivering it (contoso-alerts round trips time out; everything else healthy)',
    apply: (env) => {
      env.exchange.faults.deliveryStopped = true;
    },
  },
  {
    atSeconds: 200,
    description: 'repair: delivery resumes',
    apply: (env) => {
      env.exchange.faults.deliveryStopped = false;
    },
  },
  {
    atSeconds: 210,
    description: "woodgrove: billing leaves the app's SMTP management scope (RBAC for Applications; notify still passes without an SMTP role)",
    apply: (env) => setWoodgroveScope(env, ['notify@woodgrove.onmicrosoft.com']),
  },
  {
    atSeconds: 240,
    description: "repair: billing is back in woodgrove's SMTP management scope",
    apply: (env) => setWoodgroveScope(env, ['notify@woodgrove.onmicrosoft.com', 'billing@woodgrove.onmicrosoft.com']),
  },
  {
    atSeconds: 250,
    description: "tailspin: an admin revokes frontdesk's sign-in sessions (AADSTS50173): the delegated monitor must sign in again",
    apply: (env) => {
      const tenant = env.tenants.find((candidate) => candidate.delegated);
      if (tenant) env.model.delegation.revoke(tenant.mailboxes[0] ?? '', env.model.now());
    },
  },
  {
    atSeconds: 280,
    description: 'repair: frontdesk signs in again (mailprobe login; the emulator approves the device code as the person would)',
    apply: async (env) => {
      await env.signInAgain?.();
    },
  },
  {
    atSeconds: 290,
    description:
      'contoso: an application access policy keeps the app out of reports over Microsoft Graph ("Access to OData is disabled."; IMAP still reaches the mailbox)',
    apply: (env) => {
      env.model.faults.graphOdataDisabled = [GRAPH_MAILBOX];
    },
  },
  {
    atSeconds: 320,
    description: 'repair: the app reaches reports over Microsoft Graph again',
    apply: (env) => {
      env.model.faults.graphOdataDisabled = [];
    },
  },
];

function setWoodgroveScope(env: DemoEnvironment, mailboxes: string[]): void {
  env.model.setManagementScope(demoTenant(env, 'woodgrove').tenantId, RBAC_SCOPE, mailboxes);
}

/** Plays the script (repeating every cycleSeconds) and reports each event; stop() cancels what is pending. */
export function playDemoScript(
  env: DemoEnvironment,
  options: { cycleSeconds: number; onEvent(event: DemoEvent): void; script?: readonly DemoEvent[] },
): { stop(): void } {
  const timers = new Set<NodeJS.Timeout>();
  const script = options.script ?? DEMO_SCRIPT;
  const schedule = (offsetSeconds: number): void => {
    for (const event of script) {
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          const tell = (): void => options.onEvent(event);
          void Promise.resolve()
            .then(() => event.apply(env))
            .then(tell, tell);
        },
        (offsetSeconds + event.atSeconds) * 1000,
      );
      timers.add(timer);
    }
    const next = setTimeout(
      () => {
        timers.delete(next);
        schedule(0);
      },
      (offsetSeconds + options.cycleSeconds) * 1000,
    );
    timers.add(next);
  };
  schedule(0);
  return {
    stop: () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
