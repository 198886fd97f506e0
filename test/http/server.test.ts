import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { Secret } from '../../src/core/secret.js';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.js';
import { MemoryLogger } from '../alerting/support.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { folding } from '../support/fold.js';

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(server: RunningHttpServer, path: string, init: { method?: string; headers?: Record<string, string>; agent?: Agent } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path, method: init.method ?? 'GET', headers: init.headers, agent: init.agent, timeout: 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('startHttpServer', () => {
  const metrics = new MailprobeMetrics({ version: '1.2.3', collectDefault: false });
  const logger = new MemoryLogger();
  let ready = false;
  let failStatus = false;
  let server: RunningHttpServer;

  before(async () => {
    metrics.recordCheck(
      folding()({
        monitor: 'm1',
        tenant: 't1',
        mailbox: 'probe@contoso.com',
        check: 'imap',
        startedAt: 1_700_000_000_000,
        durationSeconds: 0.5,
        outcome: { ok: true, steps: [{ step: 'auth', seconds: 0.2 }], measured: {}, facts: {} },
      }),
      60,
    );
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      logger,
      health: () => ({ ready, detail: { configLoaded: ready, checks: 1 } }),
      status: () => {
        if (failStatus) throw new Error('status exploded');
        return { monitors: [{ name: 'm1', token: new Secret('raw-access-token'), nested: { clientSecret: new Secret('raw-client-secret') } }], big: 10n };
      },
    });
  });
  after(() => server.close());

  test('binds an ephemeral port on 127.0.0.1', () => {
    assert.equal(server.address, '127.0.0.1');
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
    assert.ok(logger.entries.some((e) => e.message === 'http listener started'));
  });

  test('GET / links every endpoint', async () => {
    const res = await get(server, '/');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    for (const path of ['/metrics', '/api/status', '/readyz', '/healthz']) assert.ok(res.body.toString().includes(`href="${path}"`));
  });

  test('GET /metrics serves the exposition, gzip when asked', async () => {
    const plain = await get(server, '/metrics');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-type'], metrics.contentType);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.match(plain.body.toString(), /^mailprobe_check_success\{monitor="m1",check="imap"\} 1$/m);
    assert.match(plain.body.toString(), /^mailprobe_build_info\{version="1.2.3"\} 1$/m);

    const zipped = await get(server, '/metrics?x=1', { headers: { 'Accept-Encoding': 'br;q=1, gzip;q=0.5' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    // Everything but the figures about the previous scrape, which differ from one scrape to the next.
    const stable = (text: string): string => text.replace(/^mailprobe_exposition_\w+ .*\n/gm, '');
    assert.equal(stable(gunzipSync(zipped.body).toString()), stable(plain.body.toString()));

    const refused = await get(server, '/metrics', { headers: { 'Accept-Encoding': 'gzip;q=0' } });
    assert.equal(refused.headers['content-encoding'], undefined);
  });

  test('GET /healthz and HEAD', async () => {
    const res = await get(server, '/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok\n');
    const head = await get(server, '/healthz', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test('GET /readyz is 503 until ready, with JSON detail', async () => {
    ready = false;
    const notReady = await get(server, '/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(JSON.parse(notReady.body.toString()), { ready: false, detail: { configLoaded: false, checks: 1 } });
    ready = true;
    const isReady = await get(server, '/readyz');
    assert.equal(isReady.status, 200);
    assert.equal((JSON.parse(isReady.body.toString()) as { ready: boolean }).ready, true);
  });

  test('GET /api/status serialises with Secrets masked', async () => {
    const res = await get(server, '/api/status');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const text = res.body.toString();
    assert.ok(!text.includes('raw-access-token') && !text.includes('raw-client-secret'));
    assert.deepEqual(JSON.parse(text), {
      monitors: [{ name: 'm1', token: '[redacted]', nested: { clientSecret: '[redacted]' } }],
      big: '10',
    });
  });

  test('a failing handler is a logged 500', async () => {
    failStatus = true;
    const res = await get(server, '/api/status');
    failStatus = false;
    assert.equal(res.status, 500);
    assert.ok(logger.entries.some((e) => e.level === 'error' && e.message === 'http request failed'));
  });

  test('404 for unknown paths, 405 for other methods', async () => {
    assert.equal((await get(server, '/nope')).status, 404);
    const post = await get(server, '/metrics', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
  });

  test('close() does not wait for idle keep-alive connections', async () => {
    const other = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, logger, health: () => ({ ready: true, detail: {} }), status: () => ({}) });
    const agent = new Agent({ keepAlive: true });
    try {
      assert.equal((await get(other, '/healthz', { agent })).status, 200);
      // Not a duration: which comes first, close() or the server's own keep-alive timeout (KEEP_ALIVE_TIMEOUT_MS, 5 s)
      // ending the idle socket.
      const first = await Promise.race([other.close().then(() => 'close()'), sleep(5_000, 'the keep-alive timeout', { ref: false })]);
      assert.equal(first, 'close()', 'close() waited for the keep-alive timeout');
    } finally {
      agent.destroy();
    }
  });
});
