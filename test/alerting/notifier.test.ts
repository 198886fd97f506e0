import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, type DeliveryEvent } from '../../src/alerting/delivery.js';
import { retryAfterMs } from '../../src/core/retry-after.js';
import { createNotifier, type Notifier, type NotifierOptions } from '../../src/alerting/notifier.js';
import type { AlertingConfigInput } from '../../src/config/alerting.js';
import { createLogger } from '../../src/log/logger.js';
import { Redactor } from '../../src/log/redact.js';
import type { CheckResult } from '../../src/core/result.js';
import { until } from '../support/until.js';
import { folding } from '../support/fold.js';
import { failed, FakeClock, MemoryLogger, passed, startReceiver, type Reply } from './support.js';

const FAST = { initialDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: 2000 };

interface Harness {
  notifier: Notifier;
  logger: MemoryLogger;
  deliveries: DeliveryEvent[];
  feed(...results: CheckResult[]): void;
}

function harness(t: TestContext, config: AlertingConfigInput, options: Partial<NotifierOptions> = {}): Harness {
  const logger = new MemoryLogger();
  const deliveries: DeliveryEvent[] = [];
  const notifier = createNotifier(
    { failureThreshold: 1, ...config },
    { logger, clock: new FakeClock(), fetchTimeoutMs: 2000, retry: FAST, closeGraceMs: 200, onDelivery: (event) => deliveries.push(event), ...options },
  );
  t.after(() => notifier.close());
  const fold = folding();
  return { notifier, logger, deliveries, feed: (...results) => results.forEach((result) => notifier.listener(fold(result))) };
}

const sequence =
  (...replies: Reply[]) =>
  (n: number): Reply =>
    replies[Math.min(n, replies.length - 1)] ?? { status: 200 };

describe('delivery', () => {
  test('retries 500s with backoff, then delivers', async (t) => {
    const receiver = await startReceiver(t, sequence({ status: 500 }, { status: 500 }, { status: 200 }));
    const { notifier, logger, deliveries, feed } = harness(t, { notifiers: [{ type: 'webhook', name: 'hook', url: receiver.url }] });
    feed(failed());
    await notifier.flush();
    assert.equal(receiver.received.length, 3);
    assert.deepEqual(deliveries, [{ notifier: 'hook', type: 'webhook', result: 'success', attempts: 3 }]);
    const gaps = receiver.received.slice(1).map((request, i) => request.at - (receiver.received[i]?.at ?? 0));
    assert.ok((gaps[0] ?? 0) >= 5 && (gaps[1] ?? 0) >= 15, `backoff doubles: ${gaps.join(', ')} ms`);
    assert.deepEqual(
      logger.entries.filter((entry) => entry.message.startsWith('notification')).map((entry) => [entry.level, entry.message, entry.meta['status']]),
      [
        ['warn', 'notification attempt failed, retrying', 500],
        ['warn', 'notification attempt failed, retrying', 500],
        ['info', 'notification delivered', 200],
      ],
    );
    const body = receiver.received[0]?.body as Record<string, unknown>;
    assert.equal(body['status'], 'firing');
    assert.equal(receiver.received[0]?.headers['content-type'], 'application/json');
  });

  test('honours Retry-After on 429', async (t) => {
    const receiver = await startReceiver(t, sequence({ status: 429, headers: { 'Retry-After': '1' } }, { status: 200 }));
    const { notifier, logger, deliveries, feed } = harness(t, { notifiers: [{ type: 'slack', name: 'chat', url: receiver.url }] });
    feed(failed());
    await notifier.flush();
    const retry = logger.entries.find((entry) => entry.message === 'notification attempt failed, retrying');
    assert.equal(retry?.meta['delayMs'], 1000, 'the server’s second, not the 10 ms backoff');
    const [first, second] = receiver.received;
    // A timer never fires early, so the gap is at least the delay; how much longer it took is the machine's load.
    const waited = (second?.at ?? 0) - (first?.at ?? 0);
    assert.ok(waited >= 950, `waited ${waited} ms`);
    assert.deepEqual(deliveries, [{ notifier: 'chat', type: 'slack', result: 'success', attempts: 2 }]);
  });

  test('a 400 is not retried', async (t) => {
    const receiver = await startReceiver(t, () => ({ status: 400, body: 'invalid_payload' }));
    const { notifier, logger, deliveries, feed } = harness(t, { notifiers: [{ type: 'slack', name: 'chat', url: receiver.url }] });
    feed(failed());
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    assert.deepEqual(deliveries, [{ notifier: 'chat', type: 'slack', result: 'failure', attempts: 1 }]);
    const rejected = logger.entries.find((entry) => entry.message === 'notification rejected, not retried');
    assert.equal(rejected?.level, 'error');
    assert.equal(rejected?.meta['status'], 400);
    assert.equal(rejected?.meta['response'], 'invalid_payload');
  });

  test('a hanging receiver times out without delaying the listener or the other notifiers', async (t) => {
    const hanging = await startReceiver(t, () => 'hang');
    const healthy = await startReceiver(t, () => ({ status: 200 }));
    const { notifier, logger, deliveries, feed } = harness(
      t,
      {
        maxAttempts: 2,
        notifiers: [
          { type: 'webhook', name: 'stuck', url: hanging.url },
          { type: 'teams', name: 'team', url: healthy.url },
        ],
      },
      { fetchTimeoutMs: 2000 },
    );
    feed(failed());
    assert.deepEqual(deliveries, [], 'the listener only queues: it returned before any delivery was made');
    await until(() => deliveries.length === 1, 'the Teams delivery');
    assert.deepEqual(
      logger.entries.filter((entry) => entry.meta['notifier'] === 'stuck').map((entry) => entry.message),
      [],
      'the healthy notifier delivered while the stuck one was still in its first attempt',
    );
    assert.deepEqual(deliveries, [{ notifier: 'team', type: 'teams', result: 'success', attempts: 1 }]);
    assert.equal(healthy.received.length, 1);
    await notifier.flush();
    assert.equal(hanging.received.length, 2);
    assert.deepEqual(deliveries.at(-1), { notifier: 'stuck', type: 'webhook', result: 'failure', attempts: 2 });
    const failure = logger.entries.find((entry) => entry.message === 'notification failed after retries');
    assert.equal(failure?.meta['error'], 'timeout', 'the fetch timeout cut each attempt');
  });

  test('a full queue drops the oldest notification with a warning', async (t) => {
    const slow = await startReceiver(t, () => 'hang');
    const { notifier, logger, deliveries, feed } = harness(
      t,
      { maxAttempts: 1, queueSize: 2, notifiers: [{ type: 'webhook', name: 'slow', url: slow.url }] },
      { fetchTimeoutMs: 300 },
    );
    feed(failed({ monitor: 'm1' }));
    await slow.waitFor(1);
    feed(failed({ monitor: 'm2' }), failed({ monitor: 'm3' }), failed({ monitor: 'm4' }));
    const dropped = logger.entries.filter((entry) => entry.message === 'notification queue full, oldest dropped');
    assert.deepEqual(
      dropped.map((entry) => entry.meta['monitor']),
      ['m2'],
      'm1 is in flight; m2 is the oldest waiting',
    );
    await notifier.flush();
    assert.deepEqual(
      slow.received.map((request) => (request.body as { monitor: string }).monitor),
      ['m1', 'm3', 'm4'],
    );
    assert.deepEqual(
      deliveries.map((event) => event.result),
      ['dropped', 'failure', 'failure', 'failure'],
    );
  });

  test('network errors are retried and logged by code', async (t) => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    const { notifier, logger, deliveries, feed } = harness(t, {
      maxAttempts: 2,
      notifiers: [{ type: 'webhook', name: 'gone', url: `http://127.0.0.1:${port}/hook` }],
    });
    feed(failed());
    await notifier.flush();
    assert.deepEqual(deliveries, [{ notifier: 'gone', type: 'webhook', result: 'failure', attempts: 2 }]);
    assert.equal(logger.entries.find((entry) => entry.message === 'notification failed after retries')?.meta['error'], 'ECONNREFUSED');
  });

  test('close() abandons a stuck delivery after its grace period', async (t) => {
    const hanging = await startReceiver(t, () => 'hang');
    const { notifier, logger, deliveries, feed } = harness(
      t,
      { notifiers: [{ type: 'webhook', name: 'stuck', url: hanging.url }] },
      { fetchTimeoutMs: 10_000, closeGraceMs: 100 },
    );
    feed(failed());
    await hanging.waitFor(1);
    await notifier.close();
    assert.deepEqual(deliveries, [{ notifier: 'stuck', type: 'webhook', result: 'failure', attempts: 1 }]);
    const abandoned = logger.entries.find((entry) => entry.message === 'notification abandoned: notifier closed');
    assert.equal(abandoned?.meta['error'], 'aborted', 'close() cut the request, not its 10 s fetch timeout');
  });
});

describe('routing', () => {
  test('filters pick who hears an alert; whoever heard its start hears its updates and resolution', async (t) => {
    const all = await startReceiver(t, () => ({ status: 200 }));
    const authOnly = await startReceiver(t, () => ({ status: 200 }));
    const other = await startReceiver(t, () => ({ status: 200 }));
    const quiet = await startReceiver(t, () => ({ status: 200 }));
    const { notifier, feed } = harness(t, {
      notifiers: [
        { type: 'webhook', name: 'all', url: all.url },
        { type: 'webhook', name: 'auth-only', url: authOnly.url, categories: ['auth'] },
        { type: 'webhook', name: 'other-monitor', url: other.url, monitors: ['someone-else'] },
        { type: 'webhook', name: 'no-resolved', url: quiet.url, sendResolved: false },
      ],
    });
    feed(failed({ reason: 'auth_failed' }), failed({ reason: 'connect_refused', stage: 'connect' }), passed());
    await notifier.flush();
    const events = (receiver: { received: Array<{ body: unknown }> }): string[] =>
      receiver.received.map((request) => `${(request.body as { event: string }).event}:${(request.body as { reason: string }).reason}`);
    assert.deepEqual(events(all), ['firing:auth_failed', 'reason_changed:connect_refused', 'resolved:connect_refused']);
    assert.deepEqual(events(authOnly), events(all));
    assert.deepEqual(events(other), []);
    assert.deepEqual(events(quiet), ['firing:auth_failed', 'reason_changed:connect_refused']);
  });

  test('an alert in a filtered-out category does not start on that notifier', async (t) => {
    const authOnly = await startReceiver(t, () => ({ status: 200 }));
    const { notifier, feed } = harness(t, { notifiers: [{ type: 'webhook', name: 'auth-only', url: authOnly.url, categories: ['auth'] }] });
    feed(failed({ reason: 'connect_refused', stage: 'connect' }), passed());
    await notifier.flush();
    assert.equal(authOnly.received.length, 0);
  });

  test('retain() resolves and forgets alerts of checks that left the config', async (t) => {
    const hook = await startReceiver(t, () => ({ status: 200 }));
    const { notifier, feed } = harness(t, { notifiers: [{ type: 'webhook', name: 'hook', url: hook.url }] });
    feed(failed({ monitor: 'gone' }), failed({ monitor: 'kept' }), failed({ monitor: 'kept', check: 'smtp' }));
    notifier.retain([{ monitor: 'kept', check: 'imap' }]);
    feed(failed({ monitor: 'kept' }));
    await notifier.flush();
    const seen = hook.received.map((request) => {
      const body = request.body as { monitor: string; check: string; status: string; endedAt: string | null };
      return `${body.monitor}/${body.check}:${body.status}:${body.endedAt === null ? 'open' : 'ended'}`;
    });
    assert.deepEqual(seen, ['gone/imap:firing:open', 'kept/imap:firing:open', 'kept/smtp:firing:open', 'gone/imap:resolved:ended', 'kept/smtp:resolved:ended']);
  });

  test('Alertmanager: POSTs to /api/v2/alerts, re-posts firing alerts without reminding anyone else, ends them on resolve', async (t) => {
    const alertmanager = await startReceiver(t, () => ({ status: 200 }));
    const hook = await startReceiver(t, () => ({ status: 200 }));
    const { notifier, feed } = harness(t, {
      alertmanagerResendSeconds: 0.05,
      notifiers: [
        { type: 'alertmanager', name: 'am', url: `${alertmanager.url}/`, headers: { Authorization: 'Basic dXNlcjpwYXNz' } },
        { type: 'webhook', name: 'hook', url: hook.url },
      ],
    });
    feed(failed());
    await alertmanager.waitFor(3);
    feed(passed());
    await notifier.flush();
    assert.equal(hook.received.length, 2, 'the webhook heard firing and resolved only');
    assert.ok(alertmanager.received.every((request) => request.path === '/api/v2/alerts'));
    assert.equal(alertmanager.received[0]?.headers['authorization'], 'Basic dXNlcjpwYXNz');
    const last = alertmanager.received.at(-1)?.body as Array<{ labels: { alertname: string }; endsAt?: string }>;
    assert.equal(last[0]?.labels.alertname, 'MailprobeAgentCheckAlert');
    assert.ok(last[0]?.endsAt, 'the last post ends the alert');
    const firstBody = alertmanager.received[0]?.body as Array<{ endsAt?: string }>;
    assert.equal(firstBody[0]?.endsAt, undefined);
    const settled = alertmanager.received.length;
    await sleep(150);
    assert.equal(alertmanager.received.length, settled, 'nothing is re-posted once resolved');
  });
});

describe('secrets', () => {
  test('webhook URLs and header values never reach the log, only the host does', async (t) => {
    const token = 'IncomingWebhook/5f1c9e2a7b3d4c8e/SECRETTOKENabc123xyz';
    const receiver = await startReceiver(t, sequence({ status: 500 }, { status: 404, body: 'no_service' }));
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger({ redactor: new Redactor(), stream, format: 'json', level: 'debug' });
    process.env['MAILPROBE_TEST_TEAMS_URL'] = `${receiver.url}/webhookb2/${token}`;
    t.after(() => delete process.env['MAILPROBE_TEST_TEAMS_URL']);
    const notifier = createNotifier(
      {
        failureThreshold: 1,
        maxAttempts: 2,
        notifiers: [
          { type: 'teams', name: 'team', url: { env: 'MAILPROBE_TEST_TEAMS_URL' }, headers: { 'X-Api-Key': 'HEADERSECRET-42' } },
          { type: 'slack', name: 'chat', url: `http://127.0.0.1:${port}/services/T000/B000/${token}` },
          { type: 'webhook', name: 'bad', url: `not a url ${token}` },
        ],
      },
      { logger, clock: new FakeClock(), retry: FAST, fetchTimeoutMs: 500 },
    );
    notifier.listener(folding()(failed()));
    await notifier.close();
    await until(() => lines.join('').includes('url is not an absolute URL') && lines.join('').includes('notification rejected, not retried'), 'the log lines');
    const text = lines.join('');
    assert.equal(receiver.received[0]?.headers['x-api-key'], 'HEADERSECRET-42', 'the header was sent');
    for (const secret of ['SECRETTOKEN', '5f1c9e2a7b3d4c8e', 'webhookb2', '/services/', 'HEADERSECRET'])
      assert.ok(!text.includes(secret), `log contains ${secret}`);
    assert.ok(text.includes(`"host":"${receiver.host}"`), 'the host is logged');
    assert.ok(text.includes('notification rejected, not retried'));
    assert.ok(text.includes('"problem":"url is not an absolute URL"'));
  });
});

describe('helpers', () => {
  test('Retry-After: seconds or an HTTP date', () => {
    const now = Date.parse('2025-03-01T10:00:00Z');
    assert.equal(retryAfterMs('120', now), 120_000);
    assert.equal(retryAfterMs('Sat, 01 Mar 2025 10:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Sat, 01 Mar 2025 09:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });

  test('backoff doubles up to its cap; Retry-After wins up to its own cap', () => {
    const retry = { maxAttempts: 9, initialDelayMs: 1000, maxDelayMs: 5000, maxRetryAfterMs: 60_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, retry)),
      [1000, 2000, 4000, 5000, 5000],
    );
    assert.equal(backoffDelayMs(1, retry, 30_000), 30_000);
    assert.equal(backoffDelayMs(1, retry, 3_600_000), 60_000);
  });
});
