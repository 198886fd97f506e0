import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlertStates } from '../../src/alerting/state.js';
import { parseConfig } from '../../src/config/load.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { Secret } from '../../src/core/secret.js';
import { checkKey, foldState, type CheckState, type ResultEvent } from '../../src/core/state.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { probeIdKeyrings } from '../../src/probes/probe-mail.js';
import { Agent } from '../../src/runner/agent.js';
import { SendBudget } from '../../src/runner/send-budget.js';
import { MemoryLogger } from '../alerting/support.js';
import { until } from '../support/until.js';

const TENANT_ID = '9b62d4ed-1234-1234-b00d-341a1bd0b3f5';
const MINUTE = 60_000;

test('one failing result moves metrics, alert state, history row and status board through the same folded state', async (t) => {
  const now = Date.UTC(2030, 5, 1, 12);
  const clock = { now: () => now, monotonic: () => performance.now() };
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-fold-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openSqliteStore(join(dir, 'history.sqlite'), { now });
  t.after(() => store.close());
  const recorder = new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
  const alerts = new AlertStates({ failureThreshold: 2, successThreshold: 1, repeatIntervalMs: 0 });
  const events: ResultEvent[] = [];
  const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
  const agent = new Agent({
    deps: {
      tokens: {
        getToken: async () => ({
          ok: true,
          token: new Secret('token'),
          claims: { aud: 'https://outlook.office365.com', tid: TENANT_ID, roles: ['IMAP.AccessAsApp'], exp: now / 1000 + 3600 },
          expiresAt: now + 3_600_000,
        }),
      },
      clock,
      probes: {
        imap: async (): Promise<ProbeOutcome> => ({
          ok: false,
          steps: [{ step: 'auth', seconds: 0.1 }],
          measured: {},
          facts: {},
          failure: { stage: 'auth', protocol: 'imap', reason: 'auth_failed', serverText: 'A1 NO AUTHENTICATE failed.', message: 'refused' },
        }),
      },
      probeIds: probeIdKeyrings(),
      sendBudget: new SendBudget(clock),
      redact: (text) => text,
    },
    metrics,
    logger: new MemoryLogger(),
    clock,
    listeners: [(event) => events.push(event), (event) => alerts.observe(event, now), recorder.listener],
  });
  // The check failed once before the restart: the one fold every consumer continues from.
  const before: CheckState = {
    state: 'failing',
    since: now - 5 * MINUTE,
    consecutiveFailures: 1,
    consecutiveSuccesses: 0,
    firstSeenAt: now - 10 * MINUTE,
    lastAt: now - 5 * MINUTE,
    incident: { startedAt: now - 5 * MINUTE, reason: 'auth_failed', stage: 'auth', failures: 1, lastFailureAt: now - 5 * MINUTE },
  };
  agent.restore(new Map([[checkKey({ monitor: 'm1', check: 'imap' }), before]]));
  const config = parseConfig(
    JSON.stringify({
      tenants: { t: { tenantId: TENANT_ID, clientId: '10e1f456-3921-1234-1234-105af0774c61', credential: { type: 'secret', secret: 'x' } } },
      monitors: [{ name: 'm1', tenant: 't', mailbox: 'm1@contoso.com', checks: ['imap'], schedule: '0 0 1 1 *' }],
    }),
    '/nonexistent/monitors.json',
  );
  agent.start(config, { runAtStart: true });
  try {
    await until(() => events.length === 1, 'the start-up check finished');
  } finally {
    await agent.stop(0);
  }

  const [event] = events;
  assert.ok(event?.result.reason, 'the runner set the reason once');
  const { reason } = event.result;
  assert.deepEqual(event.previous, before);
  assert.deepEqual(event.state, foldState(before, event.result, event.cause));
  assert.equal(event.cause, 'protocol:imap', "the monitor's only check refused at sign-in");
  assert.equal(event.state.consecutiveFailures, 2);
  assert.equal(event.state.since, now - 5 * MINUTE, 'the streak began before the restart');

  const text = await metrics.metrics();
  assert.match(text, /^mailprobe_check_consecutive_failures\{monitor="m1",check="imap"\} 2$/m);
  assert.match(text, new RegExp(`^mailprobe_check_failure_reason\\{monitor="m1",check="imap",stage="auth",reason="${reason}",category="\\w+"\\} 1$`, 'm'));

  const [alert] = alerts.snapshot();
  assert.equal(alert?.failures, 2);
  assert.equal(alert?.since, now - 5 * MINUTE);
  assert.equal(alert?.last.reason, reason);
  assert.equal(alert?.firing?.reason, reason, 'the second failure reached the threshold');

  const [board] = agent.status.list();
  assert.equal(board?.consecutiveFailures, 2);
  assert.equal(board?.since, new Date(now - 5 * MINUTE).toISOString());
  assert.equal(board?.last?.reason, reason);

  await recorder.close();
  const [row] = await store.checkStates();
  assert.equal(row?.consecutiveFailures, 2);
  assert.equal(row?.openIncidentAt, now - 5 * MINUTE);
  const [stored] = await store.results({ monitor: 'm1', check: 'imap', from: now - MINUTE, to: now + MINUTE });
  assert.equal(stored?.reason, reason);
  const [incident] = await store.incidents({ from: now - 10 * MINUTE, to: now + MINUTE, limit: 5 });
  assert.equal(incident?.failures, 2);
  assert.equal(incident?.startedAt, now - 5 * MINUTE);
});
