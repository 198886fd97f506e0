import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CheckKind } from '../../src/core/check.js';
import { CAUSES, plainCause, type Cause } from '../../src/core/cause.js';
import type { SlaReport } from '../../src/history/report.js';
import { createPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { startExchange, type ExchangeEmulator } from '../../src/sandbox/exchange.js';
import { defaultSecretValue, SandboxModel, type MailboxSpec } from '../../src/sandbox/model.js';
import { startAgentProcess, sampleValue, type AgentProcess } from '../support/agent-process.js';
import { runCli } from '../support/cli.js';
import { pickPorts } from '../support/testbed/ports.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

// Attribution end to end (issue 23): one agent, one monitor per cause, each driven into its situation through the
// Entra ID and Exchange Online emulators, and the cause found where people read it: the webhook alert, /api/status,
// the status page (public words and the detail code) and the SLA report. One run hosts every row, so the file stays
// far inside the integration limit; `service` and `unknown` need two phases, since whether a tenant's outage is the
// service's or the agent's own network depends on whether another tenant is down at the same time.

/** The paths every monitor runs: three ways into the same mailbox. */
const PATHS: CheckKind[] = ['imap', 'smtp', 'graph'];

interface Row {
  cause: Cause;
  monitor: string;
  /** The config tenant (one Entra tenant each, so `service` can tell one tenant's outage from two). */
  tenant: string;
  mailbox: string;
  checks: CheckKind[];
  schedule?: string;
  /** How the situation is made. */
  how: string;
}

const ROWS: readonly Row[] = [
  {
    cause: 'identity',
    monitor: 'row-identity',
    tenant: 'fabrikam',
    mailbox: 'probe@fabrikam.onmicrosoft.com',
    checks: PATHS,
    how: 'the client secret revoked',
  },
  {
    cause: 'protocol:imap',
    monitor: 'row-protocol-imap',
    tenant: 'contoso',
    mailbox: 'imapoff@contoso.onmicrosoft.com',
    checks: PATHS,
    how: 'ImapEnabled false; SMTP and Graph reach the same mailbox',
  },
  {
    cause: 'protocol:graph',
    monitor: 'row-protocol-graph',
    tenant: 'contoso',
    mailbox: 'odataoff@contoso.onmicrosoft.com',
    checks: PATHS,
    how: 'an application access policy keeps the app out of the mailbox over Graph (Access to OData is disabled); IMAP and SMTP reach it',
  },
  {
    cause: 'protocol:pop3',
    monitor: 'row-protocol-pop3',
    tenant: 'contoso',
    mailbox: 'popoff@contoso.onmicrosoft.com',
    checks: ['imap', 'pop3', 'smtp', 'graph'],
    how: 'PopEnabled false; IMAP, SMTP and Graph reach the same mailbox',
  },
  {
    cause: 'protocol:smtp',
    monitor: 'row-protocol-smtp',
    tenant: 'woodgrove',
    mailbox: 'probe@woodgrove.onmicrosoft.com',
    checks: PATHS,
    how: "the app's SMTP.SendAsApp consent removed; IMAP and Graph reach the mailbox",
  },
  {
    cause: 'smtp_auth_gate',
    monitor: 'row-smtp-auth-gate',
    tenant: 'contoso',
    mailbox: 'gated@contoso.onmicrosoft.com',
    checks: PATHS,
    how: 'SMTP AUTH disabled for the mailbox',
  },
  {
    cause: 'mailbox',
    monitor: 'row-mailbox',
    tenant: 'contoso',
    mailbox: 'gone@contoso.onmicrosoft.com',
    checks: PATHS,
    how: 'no such mailbox: every path signs in and is refused',
  },
  {
    cause: 'mail_flow',
    monitor: 'row-mail-flow',
    tenant: 'contoso',
    mailbox: 'flow@contoso.onmicrosoft.com',
    checks: ['imap', 'smtp', 'roundtrip', 'graph'],
    // three sending checks every 7 s stay inside the send budget's 30 a minute
    schedule: '*/7 * * * * *',
    how: 'IMAP passes, SMTP and Graph accept; its Exchange front end never delivers the mail',
  },
  {
    cause: 'unknown',
    monitor: 'row-unknown',
    tenant: 'northwind',
    mailbox: 'probe@northwind.onmicrosoft.com',
    checks: PATHS,
    how: "one tenant's servers unreachable",
  },
  {
    cause: 'service',
    monitor: 'row-service-a',
    tenant: 'adatum',
    mailbox: 'probe@adatum.onmicrosoft.com',
    checks: PATHS,
    how: 'servers unreachable for two tenants',
  },
  {
    cause: 'service',
    monitor: 'row-service-b',
    tenant: 'tailspin',
    mailbox: 'probe@tailspin.onmicrosoft.com',
    checks: PATHS,
    how: 'servers unreachable for two tenants',
  },
];

const CONTOSO_MAILBOXES: MailboxSpec[] = [
  { address: 'imapoff@contoso.onmicrosoft.com', imapEnabled: false },
  { address: 'odataoff@contoso.onmicrosoft.com' },
  { address: 'gated@contoso.onmicrosoft.com', smtpClientAuthDisabled: true },
  { address: 'popoff@contoso.onmicrosoft.com', popEnabled: false },
  { address: 'flow@contoso.onmicrosoft.com' },
];

interface Notification {
  status: string;
  event: string;
  monitor: string;
  check: string;
  reason: string | null;
  cause: Cause | null;
}

interface StatusEntry {
  monitor: string;
  check: string;
  state: string;
  cause?: Cause;
}

/** A TCP forwarder in front of one of the emulator's servers that can be cut: then it drops every connection at once. */
interface Gate {
  port: number;
  down: boolean;
  close(): Promise<void>;
}

async function startGate(target: { host: string; port: number }, down: boolean): Promise<Gate> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const gate = { down, port: 0, close: async () => {} };
  const server: Server = createServer((client) => {
    track(client);
    if (gate.down) return void client.destroy();
    const upstream = connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  gate.port = typeof address === 'object' && address ? address.port : 0;
  gate.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return gate;
}

const tenantDomain = (tenant: string): string => `${tenant}.onmicrosoft.com`;

let dir: string;
let model: SandboxModel;
let entra: EntraServer;
let exchange: ExchangeEmulator;
/** A second Exchange front end over the same tenants whose accepted mail is never delivered (mail_flow's). */
let blackhole: ExchangeEmulator;
/** The servers a gated tenant reaches through gates: every path its monitors take. */
const GATED = ['imap', 'smtp', 'graph'] as const;
type GatedPath = (typeof GATED)[number];
const gates = new Map<string, Record<GatedPath, Gate>>();
let receiver: WebhookReceiver<Notification>;
let agent: AgentProcess | undefined;
let received: Notification[] = [];
let begin = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailprobe-attribution-'));
  const pki = await createPki();
  const tenants = [...new Set(ROWS.map((row) => row.tenant))];
  model = SandboxModel.fromSpec(
    tenants.map((tenant) => ({
      domain: tenantDomain(tenant),
      mailboxes: tenant === 'contoso' ? CONTOSO_MAILBOXES : [{ address: `probe@${tenantDomain(tenant)}` }],
    })),
  );
  entra = await startEntra({ model, tls: pki.server });
  exchange = await startExchange({ model, tls: pki.server });
  blackhole = await startExchange({ model, tls: pki.server });
  blackhole.faults.deliveryStopped = true;
  // protocol:graph: Graph answers 403 ErrorAccessDenied for this mailbox only
  model.faults.graphOdataDisabled = ['odataoff@contoso.onmicrosoft.com'];
  // identity: Entra refuses the configured secret on every path
  const fabrikam = model.tenant(tenantDomain('fabrikam'));
  model.revokeSecret(fabrikam.tenantId, [...fabrikam.apps.keys()][0]!);
  // protocol:smtp: the app keeps its IMAP and POP roles only
  const woodgrove = model.tenant(tenantDomain('woodgrove'));
  model.setRoles(woodgrove.tenantId, [...woodgrove.apps.keys()][0]!, ['IMAP.AccessAsApp', 'POP.AccessAsApp']);
  // unknown starts with its servers unreachable; service's two tenants lose theirs later
  for (const tenant of ['northwind', 'adatum', 'tailspin']) {
    const down = tenant === 'northwind';
    const own = await Promise.all(GATED.map(async (path) => [path, await startGate(exchange[path], down)] as const));
    gates.set(tenant, Object.fromEntries(own) as Record<GatedPath, Gate>);
  }

  receiver = await startWebhookReceiver<Notification>();
  received = receiver.received;
  const hookUrl = receiver.url;

  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  const tenantConfig: Record<string, unknown> = {};
  for (const tenant of tenants) {
    const record = model.tenant(tenantDomain(tenant));
    const clientId = [...record.apps.keys()][0]!;
    writeFileSync(join(dir, `${tenant}.secret`), defaultSecretValue(clientId), { mode: 0o600 });
    tenantConfig[tenant] = {
      tenantId: record.tenantId,
      clientId,
      credential: { type: 'secret', secret: { file: `${tenant}.secret` } },
      authorityHost: entra.authorityHost,
    };
  }
  // Each monitor's servers: the mail_flow row's front end, or a gated tenant's gates, else the emulator's own.
  const endpoints = (row: Row): Record<string, unknown> => {
    const front = row.cause === 'mail_flow' ? blackhole : exchange;
    const own = gates.get(row.tenant);
    const servers = { imap: front.imap, pop3: front.pop3, smtp: front.smtp, graph: front.graph };
    return Object.fromEntries(
      Object.entries(servers).map(([path, server]) => [path, { host: server.host, port: own?.[path as GatedPath]?.port ?? server.port }]),
    );
  };
  const config = {
    agent: { stateDir: join(dir, 'state'), concurrency: 16 },
    defaults: {
      // every fifth second: two sending checks (SMTP, Graph) stay inside the send budget's 30 a minute
      schedule: '*/5 * * * * *',
      // generous for a loaded machine: a healthy path that times out would blur its row
      timeoutSeconds: 10,
      stepTimeoutSeconds: 5,
      sendBudget: { perMinute: 30, perDay: 10000 },
      roundtrip: { deadlineSeconds: 3, pollSeconds: 0.5 },
      tls: { caFile: 'ca.pem' },
    },
    tenants: tenantConfig,
    monitors: ROWS.map((row) => ({
      name: row.monitor,
      tenant: row.tenant,
      mailbox: row.mailbox,
      checks: row.checks,
      ...(row.schedule ? { schedule: row.schedule } : {}),
      ...endpoints(row),
    })),
    alerting: { failureThreshold: 2, notifiers: [{ type: 'webhook', name: 'ops', url: hookUrl }] },
    history: { flushSeconds: 0.2 },
  };
  writeFileSync(join(dir, 'monitors.json'), JSON.stringify(config, null, 2));
});

after(async () => {
  await agent?.stop();
  await receiver?.close();
  await Promise.allSettled([...gates.values()].flatMap((own) => Object.values(own).map((gate) => gate.close())));
  await Promise.allSettled([entra?.close(), exchange?.close(), blackhole?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function statusEntries(): Promise<StatusEntry[]> {
  return (JSON.parse((await agent!.get('/api/status')).body) as { checks: StatusEntry[] }).checks;
}

/** The monitor's cause once every check of it reports the same one, else undefined. */
async function apiCause(monitor: string): Promise<Cause | undefined> {
  const entries = (await statusEntries()).filter((entry) => entry.monitor === monitor);
  const causes = new Set(entries.map((entry) => entry.cause));
  return entries.length > 0 && causes.size === 1 ? entries[0]?.cause : undefined;
}

const unescape = (text: string): string =>
  text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');

/** The monitor's card on a status page, as text with its entities decoded. */
function card(page: string, monitor: string): string {
  const start = page.indexOf(`<article class="monitor" id="m-${monitor}"`);
  assert.ok(start >= 0, `no card for ${monitor}`);
  return unescape(page.slice(start, page.indexOf('</article>', start)));
}

/** Waits until the row's cause shows in the webhook, /api/status and the metric, then reads both status pages. */
async function findCause(row: Row, timeoutMs = 60_000): Promise<void> {
  const alert = await agent!
    .waitFor(
      `a firing alert of ${row.monitor} with cause ${row.cause} (${row.how})`,
      async () => received.find((n) => n.status === 'firing' && n.monitor === row.monitor && n.cause === row.cause),
      timeoutMs,
    )
    .catch(async (error: unknown) => {
      // what was told and what /api/status says instead
      const told = received.filter((n) => n.monitor === row.monitor).map((n) => `${n.status} ${n.check} ${n.reason} → ${n.cause}`);
      const entries = (await statusEntries()).filter((entry) => entry.monitor === row.monitor);
      throw new Error(`${String(error).slice(0, 300)}\ntold: ${told.join('; ')}\nstatus: ${JSON.stringify(entries).slice(0, 3000)}`);
    });
  assert.ok(row.checks.includes(alert.check as CheckKind));
  await agent!.waitFor(
    `/api/status: ${row.monitor} cause ${row.cause}`,
    async () => ((await apiCause(row.monitor)) === row.cause ? true : undefined),
    timeoutMs,
  );
  await agent!.waitFor(`mailprobe_monitor_cause of ${row.monitor}`, async () =>
    sampleValue(await agent!.metrics(), 'mailprobe_monitor_cause', { monitor: row.monitor, cause: row.cause }) === 1 ? true : undefined,
  );
  const detail = await agent!.get('/status/detail');
  assert.equal(detail.status, 200);
  const detailCard = card(detail.body, row.monitor);
  assert.ok(detailCard.includes(`<code>cause ${row.cause}</code>`), `${row.monitor} on /status/detail:\n${detailCard.slice(0, 1500)}`);
  const page = await agent!.get('/status');
  assert.equal(page.status, 200);
  assert.ok(card(page.body, row.monitor).includes(plainCause(row.cause)), `${row.monitor} on /status says "${plainCause(row.cause)}"`);
}

function setDown(tenant: string, down: boolean): void {
  for (const gate of Object.values(gates.get(tenant) ?? {})) gate.down = down;
}

const rowsOf = (cause: Cause): Row[] => ROWS.filter((row) => row.cause === cause);

describe('attribution through the running agent: every cause in the alert, /api/status, the status page and the SLA report', () => {
  test('one monitor per cause, driven by the emulators', async (t) => {
    // every cause the rule table can name has its row here (a new protocol's cause needs one)
    assert.deepEqual(
      CAUSES.filter((cause) => !ROWS.some((row) => row.cause === cause)),
      [],
    );
    const [port] = await pickPorts(1);
    begin = Date.now();
    agent = await startAgentProcess(['--config', join(dir, 'monitors.json')], port ?? 0);

    // Phase 1: every row but service is in its situation from the start; service's tenants are healthy.
    for (const row of ROWS.filter((candidate) => candidate.cause !== 'service')) await findCause(row);
    for (const row of rowsOf('service')) {
      await agent.waitFor(`${row.monitor} healthy`, async () => {
        const entries = (await statusEntries()).filter((entry) => entry.monitor === row.monitor);
        return entries.length === row.checks.length && entries.every((entry) => entry.state === 'ok') ? true : undefined;
      });
    }
    t.diagnostic(`phase 1 (every cause but service on every surface) after ${Date.now() - begin} ms`);

    // Phase 2: unknown's tenant comes back, then two other tenants lose their servers at once: the service.
    setDown('northwind', false);
    for (const check of rowsOf('unknown')[0]!.checks) {
      await agent.waitFor(`row-unknown ${check} resolved`, async () =>
        received.find((n) => n.status === 'resolved' && n.monitor === 'row-unknown' && n.check === check),
      );
    }
    for (const tenant of ['adatum', 'tailspin']) setDown(tenant, true);
    for (const row of rowsOf('service')) await findCause(row);
    t.diagnostic(`phase 2 (service) after ${Date.now() - begin} ms`);
    const firing = received.filter((n) => n.status === 'firing');
    for (const row of ROWS) {
      const told = firing.filter((n) => n.monitor === row.monitor).map((n) => `${n.check} ${n.reason} → ${n.cause}`);
      t.diagnostic(`${row.cause} (${row.how}): ${[...new Set(told)].join('; ')}`);
    }

    // The SLA report: the incident of each check whose alert told the row's cause carries it too (the cause last
    // attributed while the incident was open), and each cause has its lost time. Only those checks: on a loaded machine
    // a healthy check of a row may time out once, an incident of its own with another cause.
    const from = new Date(begin - 60_000).toISOString();
    const problems = (report: SlaReport): string[] => [
      ...ROWS.flatMap((row) => {
        const spoke = new Set(firing.filter((n) => n.monitor === row.monitor && n.cause === row.cause).map((n) => n.check));
        return [...spoke].flatMap((check) => {
          const latest = report.incidents
            .filter((incident) => incident.monitor === row.monitor && incident.check === check)
            .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt))
            .at(-1);
          return latest?.cause === row.cause ? [] : [`${row.monitor} ${check} (${row.cause}): ${JSON.stringify(latest ?? 'no incident')}`];
        });
      }),
      ...ROWS.filter((row) => !report.lostByCause.some((entry) => entry.cause === row.cause && entry.failSeconds > 0)).map(
        (row) => `no lost time for ${row.cause}: ${JSON.stringify(report.lostByCause)}`,
      ),
    ];
    let report: SlaReport | undefined;
    try {
      // results reach the store within a flush (0.2 s)
      await agent.waitFor('the report to hold every cause', async () => {
        const served = await agent!.get(`/api/report?from=${encodeURIComponent(from)}`);
        assert.equal(served.status, 200, served.body);
        report = JSON.parse(served.body) as SlaReport;
        return problems(report).length === 0 ? true : undefined;
      });
    } catch (error) {
      assert.deepEqual(report ? problems(report) : [], [], String(error));
      throw error;
    }

    // `mailprobe report` after the agent stops, as an operator runs it: the cause column of the text form.
    assert.equal(await agent.stop(), 0);
    agent = undefined;
    const run = await runCli(['report', '--config', join(dir, 'monitors.json'), '--from', from]);
    assert.equal(run.code, 0, run.stderr);
    for (const row of ROWS) assert.match(run.stdout, new RegExp(` ${row.monitor} \\w+: .*\\n    cause: ${row.cause}\\n`), `${row.monitor} in the text report`);
    assert.match(run.stdout, /Outage time by cause:/);
    t.diagnostic(`done after ${Date.now() - begin} ms`);
  });
});
