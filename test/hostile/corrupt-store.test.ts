import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/load.js';
import { CorruptHistoryError, openSqliteStore } from '../../src/history/backends/sqlite.js';
import { startHistory } from '../../src/history/service.js';
import { FakeClock, MemoryLogger } from '../alerting/support.js';

// Issue 25 row 11: a corrupt history.sqlite was retried for ever (/api/report 500, results waiting in memory),
// and the file was created 0644.

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
    const config = parseConfig(
      JSON.stringify({
        agent: { stateDir },
        tenants: {
          t: {
            tenantId: '11111111-2222-3333-4444-555555555555',
            clientId: '10e1f456-3921-1234-1234-105af0774c61',
            credential: { type: 'secret', secret: 'x' },
          },
        },
        monitors: [{ name: 'm', tenant: 't', mailbox: 'probe@contoso.com', checks: ['imap'] }],
      }),
      join(dir, 'monitors.json'),
    );
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
