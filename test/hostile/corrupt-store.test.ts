import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { CorruptHistoryError, openSqliteStore } from '../../src/history/backends/sqlite.js';
import { startHistory } from '../../src/history/service.js';
import { PassThrough } from 'node:stream';
import { startAgent } from '../../src/daemon/start.js';
import { FakeClock, MemoryLogger } from '../alerting/support.js';

// Issue 25 row 11: a corrupt history.sqlite was retried for ever (/api/report 500, results waiting in memory),
// and the file was created 0644.

/** One monitor with its history in `stateDir` (SQLite, the default). */
function configIn(stateDir: string): ReturnType<typeof parseConfig> {
  return parseConfig(
    JSON.stringify({
      agent: { stateDir },
      tenants: {
        t: { tenantId: '11111111-2222-3333-4444-555555555555', clientId: '10e1f456-3921-1234-1234-105af0774c61', credential: { type: 'secret', secret: 'x' } },
      },
      monitors: [{ name: 'm', tenant: 't', mailbox: 'probe@contoso.com', checks: ['imap'] }],
    }),
    join(stateDir, '..', 'monitors.json'),
  );
}

describe('a corrupt history file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-corrupt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('opening it says which file and why; a new file is readable by its owner only', async () => {
    const bad = join(dir, 'bad.sqlite');
    writeFileSync(bad, 'this is not a database, it is a text file that someone copied over it\n'.repeat(100));
    await assert.rejects(
      openSqliteStore(bad, { now: 0 }),
      (error: unknown) => error instanceof CorruptHistoryError && error.file === bad && /SQLITE_NOTADB/.test(error.message),
    );
    const fresh = await openSqliteStore(join(dir, 'fresh.sqlite'), { now: 0 });
    await fresh.close();
    assert.equal(statSync(join(dir, 'fresh.sqlite')).mode & 0o777, 0o600);
  });

  test('the agent moves it aside with its name logged and records into a new one', async () => {
    const stateDir = join(dir, 'state');
    const config = configIn(stateDir);
    const file = join(stateDir, 'history.sqlite');
    rmSync(stateDir, { recursive: true, force: true });
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const logger = new MemoryLogger();
    const history = await startHistory(config, { clock: new FakeClock(), logger, registry: new Registry(), env: {} });
    assert.ok(history);
    try {
      assert.equal((await history.store.schemaVersion()) > 0, true, 'a new, working store');
      const moved = readdirSync(stateDir).filter((name) => name.startsWith('history.sqlite.corrupt-'));
      assert.equal(moved.length, 1, readdirSync(stateDir).join(', '));
      const entry = logger.entries.find((e) => e.message === 'history file is corrupt; moved aside, a new one started');
      assert.ok(entry, logger.messages().join('\n'));
      assert.equal(entry.meta?.file, file);
      assert.equal(entry.meta?.movedTo, join(stateDir, moved[0] ?? ''));
    } finally {
      await history.close();
    }
  });
});

// Issue 25 row 11, second half: while the store refused writes /readyz stayed 200, and two agents sharing
// agent.stateDir wrote one history file between them.
describe('a history store that refuses writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-store-down-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('is down in health() from the failed start and in the metric from the first failed write, and up again once it takes writes', async () => {
    const stateDir = join(dir, 'unopenable');
    // A folder where the file should be: SQLite cannot open it, and it is not corrupt, so it is not moved aside.
    mkdirSync(join(stateDir, 'history.sqlite'), { recursive: true });
    const clock = new FakeClock();
    const registry = new Registry();
    const history = await startHistory(configIn(stateDir), { clock, logger: new MemoryLogger(), registry, env: {} });
    assert.ok(history);
    try {
      // Down from the start: restoring the checks' states already failed.
      assert.deepEqual(history.health(), { backend: 'sqlite', up: false, downSince: new Date(clock.now()).toISOString() });
      clock.time += 5_000;
      await history.recorder.flush();
      assert.equal(history.health().downSince, new Date(clock.now() - 5_000).toISOString(), 'the outage’s start is kept');
      assert.match(await registry.metrics(), /mailprobe_history_store_up\{backend="sqlite"\} 0/);
      rmSync(join(stateDir, 'history.sqlite'), { recursive: true });
      clock.time += 31_000;
      await history.recorder.flush();
      assert.deepEqual(history.health(), { backend: 'sqlite', up: true });
      assert.match(await registry.metrics(), /mailprobe_history_store_up\{backend="sqlite"\} 1/);
    } finally {
      await history.close();
    }
  });

  test('the running agent answers /readyz 503 naming the store, and /metrics says 0', async () => {
    const stateDir = join(dir, 'agent');
    mkdirSync(join(stateDir, 'history.sqlite'), { recursive: true });
    const file = join(dir, 'agent-monitors.json');
    writeFileSync(file, JSON.stringify({ agent: { stateDir }, tenants: {}, monitors: [] }));
    const handle = await startAgent(loadConfigFile(file), { io: { stderr: new PassThrough().resume(), env: {} }, format: 'json', listen: '127.0.0.1:0' });
    try {
      const deadline = Date.now() + 20_000;
      let answer: { status: number; body: { ready: boolean; detail: { history?: { backend: string; up: boolean; downSince?: string } } } } | undefined;
      while (Date.now() < deadline) {
        const response = await fetch(`${handle.http.url}/readyz`);
        answer = { status: response.status, body: (await response.json()) as NonNullable<typeof answer>['body'] };
        if (answer.status === 503) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(answer?.status, 503, JSON.stringify(answer));
      assert.equal(answer.body.ready, false);
      assert.equal(answer.body.detail.history?.backend, 'sqlite');
      assert.equal(answer.body.detail.history?.up, false);
      assert.match(answer.body.detail.history?.downSince ?? '', /^\d{4}-\d\d-\d\dT/);
      assert.equal((await fetch(`${handle.http.url}/healthz`)).status, 200, 'alive: checks and alerts go on');
      assert.match(await (await fetch(`${handle.http.url}/metrics`)).text(), /mailprobe_history_store_up\{backend="sqlite"\} 0/);
    } finally {
      await handle.stop();
    }
  });

  test('a history file another agent owns is not opened; it is taken over once that owner record is stale', async () => {
    const stateDir = join(dir, 'shared');
    mkdirSync(stateDir, { recursive: true });
    const clock = new FakeClock();
    const owner = join(stateDir, 'history.sqlite.owner');
    writeFileSync(owner, 'other-host pid 4242\n');
    utimesSync(owner, new Date(clock.now()), new Date(clock.now()));
    const logger = new MemoryLogger();
    const history = await startHistory(configIn(stateDir), { clock, logger, registry: new Registry(), env: {} });
    assert.ok(history);
    try {
      await history.recorder.flush();
      assert.equal(history.health().up, false);
      assert.ok(!existsSync(join(stateDir, 'history.sqlite')), 'the other agent’s file is left alone');
      const refusal = logger.entries.find(
        (entry) => entry.message === 'history file belongs to another agent; this one keeps results in memory and tries again',
      );
      assert.ok(refusal, logger.messages().join('\n'));
      assert.equal(refusal.meta?.heldBy, 'other-host pid 4242');
      assert.match(String(refusal.meta?.fix), /own agent\.stateDir/);

      // The other agent stopped refreshing its record: after 90 s it is gone, and this one claims the file.
      clock.time += 120_000;
      await history.recorder.flush();
      assert.equal(history.health().up, true);
      assert.notEqual(readFileSync(owner, 'utf8').trim(), 'other-host pid 4242');
      assert.equal(statSync(join(stateDir, 'history.sqlite')).mode & 0o777, 0o600);
    } finally {
      await history.close();
    }
    assert.ok(!existsSync(owner), 'released on close');
  });
});
