import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ALERT_NAME as BUILT_IN_ALERT_NAME } from '../../src/alerting/providers/alertmanager.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { writeMonitors } from '../support/monitors.js';
import { startAlertmanager, startPrometheus, writeTestRuleFiles, type Alertmanager, type AlertmanagerAlert, type Prometheus } from '../support/prometheus.js';
import { startTestbed, type Testbed } from '../support/testbed/index.js';
import { pickPorts } from '../support/testbed/ports.js';

// The paging path end to end: `mailprobe run` against the real test bed, scraped by a real Prometheus that
// evaluates the shipped rules (test copy: every `for:` shortened to 2s, 5m group interval dropped; see
// writeTestRuleFiles), which sends to a real Alertmanager, which notifies a webhook receiver run here.
// Authentication is broken twice, once in the token service (secret revoked: category token) and once at the
// mail server (FullAccess removed: category auth); each time MailprobeAuthBroken must reach Alertmanager
// with the right labels and resolve after the repair. The agent's own Alertmanager notifier (monitors.json
// `alerting` section) posts to the same Alertmanager, so the secret breakage also shows up there without
// Prometheus, as the built-in alert, and resolves too.

const MONITOR = 'watched';
const EVERY_TWO_SECONDS = '*/2 * * * * *';
const FIRE_TIMEOUT_MS = 40_000;
const RESOLVE_TIMEOUT_MS = 20_000;

interface WebhookAlert {
  status: string;
  labels: Record<string, string>;
}

let bed: Testbed;
let agent: AgentProcess | undefined;
let prometheus: Prometheus | undefined;
let alertmanager: Alertmanager | undefined;
let sink: Server | undefined;
let rulesDir: string | undefined;
/** Every alert Alertmanager notified the webhook about, oldest first. */
const notified: WebhookAlert[] = [];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function labelsOf(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).map(([key, label]) => [key, String(label)]));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Alertmanager's webhook receiver: keeps each notified alert with its status (firing or resolved). */
async function startSink(): Promise<string> {
  sink = createServer((request, response) => {
    readBody(request)
      .then((body) => {
        const payload: unknown = JSON.parse(body);
        const alerts = isRecord(payload) && Array.isArray(payload.alerts) ? payload.alerts : [];
        for (const alert of alerts.filter(isRecord)) notified.push({ status: String(alert.status), labels: labelsOf(alert.labels) });
        response.writeHead(200).end();
      })
      .catch(() => response.writeHead(400).end());
  });
  await new Promise<void>((resolve) => sink?.listen(0, '127.0.0.1', resolve));
  const address = sink.address();
  if (typeof address !== 'object' || address === null) throw new Error('webhook sink has no port');
  return `http://127.0.0.1:${address.port}/alerts`;
}

function authAlerts(alerts: readonly AlertmanagerAlert[], check: string): AlertmanagerAlert[] {
  return alerts.filter((alert) => alert.labels.alertname === 'MailprobeAuthBroken' && alert.labels.monitor === MONITOR && alert.labels.check === check);
}

/** The agent's own alerts: posted by its notifier, so without the job label every scraped series carries. */
function builtInAlerts(alerts: readonly AlertmanagerAlert[], check: string): AlertmanagerAlert[] {
  return alerts.filter(
    (alert) =>
      alert.labels.alertname === BUILT_IN_ALERT_NAME && alert.labels.job === undefined && alert.labels.monitor === MONITOR && alert.labels.check === check,
  );
}

function requireStack(): { prometheus: Prometheus; alertmanager: Alertmanager } {
  if (prometheus === undefined || alertmanager === undefined) throw new Error('stack not started');
  return { prometheus, alertmanager };
}

/** Waits until MailprobeAuthBroken for the imap check is active in Alertmanager, and returns it. */
async function waitFiring(): Promise<AlertmanagerAlert> {
  const { alertmanager } = requireStack();
  return alertmanager.waitFor('MailprobeAuthBroken to reach Alertmanager', async () => authAlerts(await alertmanager.alerts(), 'imap')[0], FIRE_TIMEOUT_MS);
}

/**
 * Waits until the webhook got the firing notification. Repairing before that is a race: an alert resolved
 * within Alertmanager's group wait is never notified, neither firing nor resolved (seen under full-suite load).
 */
async function waitNotified(alertname: string, reason: string): Promise<void> {
  await requireStack().alertmanager.waitFor(`the firing ${alertname} notification at the webhook`, async () =>
    notified.some(
      (entry) => entry.status === 'firing' && entry.labels.alertname === alertname && entry.labels.check === 'imap' && entry.labels.reason === reason,
    )
      ? true
      : undefined,
  );
}

/** Waits until the alert left Alertmanager's active alerts and the webhook got its resolved notification. */
async function waitResolved(reason: string): Promise<void> {
  const { alertmanager } = requireStack();
  await alertmanager.waitFor(
    `MailprobeAuthBroken (${reason}) to resolve`,
    async () => {
      if (authAlerts(await alertmanager.alerts(), 'imap').length > 0) return undefined;
      const resolved = notified.some(
        (alert) =>
          alert.status === 'resolved' && alert.labels.alertname === 'MailprobeAuthBroken' && alert.labels.check === 'imap' && alert.labels.reason === reason,
      );
      return resolved ? true : undefined;
    },
    RESOLVE_TIMEOUT_MS,
  );
}

before(async () => {
  const started = Date.now();
  bed = await startTestbed();
  // msal renews 300 s before expiry, so tokens live about 5 s: a revoked secret shows within a few runs.
  bed.model.tokenLifetimeSeconds = 305;
  alertmanager = await startAlertmanager({ webhookUrl: await startSink() });
  const { file } = writeMonitors(bed, { monitors: [{ name: MONITOR, checks: ['imap', 'pop3'], schedule: EVERY_TWO_SECONDS }] });
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  config.alerting = {
    failureThreshold: 3,
    notifiers: [{ type: 'alertmanager', name: 'real-alertmanager', url: { env: 'MAILPROBE_TEST_ALERTMANAGER_URL' } }],
  };
  await writeFile(file, JSON.stringify(config, null, 2));
  const [port] = (await pickPorts(1)) as [number];
  agent = await startAgentProcess(['--config', file], port, { MAILPROBE_TEST_ALERTMANAGER_URL: alertmanager.url });
  rulesDir = await mkdtemp(path.join(os.tmpdir(), 'mailprobe-rules-'));
  prometheus = await startPrometheus({
    targets: [`127.0.0.1:${port}`],
    ruleFiles: await writeTestRuleFiles(rulesDir, { forDuration: '2s' }),
    alertmanager: alertmanager.address,
  });
  process.stderr.write(`# alerting-e2e: test bed, Alertmanager, agent and Prometheus up in ${Date.now() - started} ms\n`);
});

after(async () => {
  await prometheus?.stop();
  await alertmanager?.stop();
  await agent?.stop();
  sink?.close();
  await bed?.close();
  if (rulesDir) await rm(rulesDir, { recursive: true, force: true });
});

describe("MailprobeAuthBroken through real Prometheus and Alertmanager, and the agent's own notifier", () => {
  test('a healthy run sends no auth alert', async () => {
    const { prometheus, alertmanager } = requireStack();
    await prometheus.waitFor('both checks healthy in Prometheus', async () => {
      const healthy = await prometheus.query(`mailprobe_check_success{monitor="${MONITOR}"} == 1`);
      return healthy.length === 2 ? true : undefined;
    });
    const active = await alertmanager.alerts();
    assert.deepEqual(authAlerts(active, 'imap'), []);
    assert.deepEqual(builtInAlerts(active, 'imap'), []);
  });

  test("secret revoked in the token service: the rule alert and the agent's built-in alert fire with the token reason, and both resolve after repair", async (t) => {
    const started = Date.now();
    bed.model.revokeSecret(bed.tenantId, bed.clientId);
    const alert = await waitFiring();
    t.diagnostic(`fired in Alertmanager ${Date.now() - started} ms after the secret was revoked`);
    assert.equal(alert.state, 'active');
    assert.deepEqual(
      {
        monitor: alert.labels.monitor,
        check: alert.labels.check,
        mailbox: alert.labels.mailbox,
        tenant: alert.labels.tenant,
        stage: alert.labels.stage,
        reason: alert.labels.reason,
        category: alert.labels.category,
        severity: alert.labels.severity,
        job: alert.labels.job,
      },
      {
        monitor: MONITOR,
        check: 'imap',
        mailbox: bed.mailbox,
        tenant: 'bed',
        stage: 'token',
        reason: 'token_invalid_client_secret',
        category: 'token',
        severity: 'critical',
        job: 'mailprobe',
      },
    );
    assert.match(alert.annotations.summary ?? '', new RegExp(`imap sign-in broken for ${bed.mailbox} \\(monitor ${MONITOR}\\): token_invalid_client_secret`));
    assert.match(alert.annotations.description ?? '', /mailprobe doctor --monitor watched/);
    await waitNotified('MailprobeAuthBroken', 'token_invalid_client_secret');

    // The same breakage from the agent's built-in notifier, straight to Alertmanager's v2 API.
    const builtIn = await requireStack().alertmanager.waitFor(
      'the built-in alert in Alertmanager',
      async () => builtInAlerts(await requireStack().alertmanager.alerts(), 'imap')[0],
    );
    assert.deepEqual(
      {
        mailbox: builtIn.labels.mailbox,
        tenant: builtIn.labels.tenant,
        reason: builtIn.labels.reason,
        category: builtIn.labels.category,
        severity: builtIn.labels.severity,
      },
      { mailbox: bed.mailbox, tenant: 'bed', reason: 'token_invalid_client_secret', category: 'token', severity: 'critical' },
    );
    await waitNotified(BUILT_IN_ALERT_NAME, 'token_invalid_client_secret');

    const repaired = Date.now();
    bed.model.addSecret(bed.tenantId, bed.clientId, { value: bed.clientSecret });
    await waitResolved('token_invalid_client_secret');
    t.diagnostic(`resolved ${Date.now() - repaired} ms after the secret was restored`);
    await requireStack().alertmanager.waitFor('the built-in alert to resolve', async () =>
      builtInAlerts(await requireStack().alertmanager.alerts(), 'imap').length === 0 &&
      notified.some(
        (entry) =>
          entry.status === 'resolved' && entry.labels.alertname === BUILT_IN_ALERT_NAME && entry.labels.job === undefined && entry.labels.check === 'imap',
      )
        ? true
        : undefined,
    );
  });

  test('FullAccess removed at the mail server: the alert fires with the auth reason, and resolves after repair', async (t) => {
    const started = Date.now();
    bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false);
    const alert = await waitFiring();
    t.diagnostic(`fired in Alertmanager ${Date.now() - started} ms after FullAccess was removed`);
    assert.deepEqual(
      {
        reason: alert.labels.reason,
        category: alert.labels.category,
        stage: alert.labels.stage,
        severity: alert.labels.severity,
        monitor: alert.labels.monitor,
      },
      { reason: 'auth_failed', category: 'auth', stage: 'auth', severity: 'critical', monitor: MONITOR },
    );
    await waitNotified('MailprobeAuthBroken', 'auth_failed');

    const repaired = Date.now();
    bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true);
    await waitResolved('auth_failed');
    t.diagnostic(`resolved ${Date.now() - repaired} ms after FullAccess was granted again`);
  });
});
