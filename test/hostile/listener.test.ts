import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { FAILED_LOGIN_BUDGET, ListenerSecurity } from '../../src/http/security.js';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { MemoryLogger } from '../alerting/support.js';

// Issue 25 row 6: the rate limit applied only after a successful login, so 37 wrong passwords in 3 s got 401 and
// none 429, and each cost a bcrypt on the event loop (a guessing flood used a whole core; /healthz 2.5 → 156 ms).

const HASH = bcrypt.hashSync('wonderland', 4);
const basic = (password: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` });

function get(server: RunningHttpServer, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('a password-guessing client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-listener-'));
  const servers: RunningHttpServer[] = [];
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(web: string): Promise<RunningHttpServer> {
    const file = join(dir, `web-${servers.length}.yml`);
    writeFileSync(file, web);
    const logger = new MemoryLogger();
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new MailprobeMetrics({ version: '0', collectDefault: false }),
      logger,
      security: new ListenerSecurity({ logger, webConfigFile: file }),
      health: () => ({ ready: true, detail: {} }),
      status: () => ({}),
    });
    servers.push(server);
    return server;
  }

  test('the rate limit applies before the password is checked', async () => {
    const server = await serve(`basic_auth_users:\n  alice: ${HASH}\nrate_limit:\n  interval: 1m\n  burst: 3\n`);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await get(server, '/api/status', basic(`guess-${i}`)));
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429]);
    assert.equal(await get(server, '/healthz'), 200, 'health is never rate limited');
  });

  test(`one source gets ${FAILED_LOGIN_BUDGET.burst} failed logins, then 429 without a password check`, async () => {
    const server = await serve(`basic_auth_users:\n  alice: ${HASH}\n`);
    const statuses: number[] = [];
    for (let i = 0; i < FAILED_LOGIN_BUDGET.burst + 3; i++) statuses.push(await get(server, '/api/status', basic(`guess-${i}`)));
    assert.deepEqual(statuses, [...Array<number>(FAILED_LOGIN_BUDGET.burst).fill(401), 429, 429, 429]);
  });

  test('bcrypt runs off the event loop: the loop keeps turning while a costly hash is compared', async () => {
    const file = join(dir, 'costly.yml');
    // Cost 12: a few hundred milliseconds of bcryptjs, which on the event loop yields only every 100 ms.
    writeFileSync(file, `basic_auth_users:\n  alice: ${bcrypt.hashSync('wonderland', 12)}\n`);
    const security = new ListenerSecurity({ logger: new MemoryLogger(), webConfigFile: file });
    try {
      let turns = 0;
      let done = false;
      const spin = (): void => {
        turns += 1;
        if (!done) setImmediate(spin);
      };
      setImmediate(spin);
      const verdict = await security.authorize(basic('wonderland').Authorization);
      done = true;
      assert.equal(verdict, 'ok');
      assert.ok(turns > 100, `the event loop turned ${turns} times during the comparison`);
    } finally {
      await security.close();
    }
  });
});

// Issue 25 row 7: 130 slow-header connections took every one of the 128 slots, Node swept header timeouts only
// every 30 s, and /healthz answered 0 of 25 probes.
describe('a slow-header flood', () => {
  test('health still answers another address while one address holds its connections open', async () => {
    const server = await startHttpServer({
      host: '0.0.0.0',
      port: 0,
      metrics: new MailprobeMetrics({ version: '0', collectDefault: false }),
      logger: new MemoryLogger(),
      health: () => ({ ready: true, detail: {} }),
      status: () => ({}),
    });
    const flood: Socket[] = [];
    try {
      for (let i = 0; i < 130; i++) {
        const socket = connect({ host: '127.0.0.1', port: server.port });
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        // Headers that never end.
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        flood.push(socket);
      }
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', localAddress: '127.0.0.2', port: server.port, path: '/healthz', agent: false, timeout: 5_000 }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error('/healthz did not answer')));
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 200);
    } finally {
      for (const socket of flood) socket.destroy();
      await server.close();
    }
  });
});
