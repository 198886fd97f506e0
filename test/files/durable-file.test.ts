import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadAlertStates } from '../../src/alerting/state-file.js';
import { claimStateFile, ownedStateFile, writeFileDurably } from '../../src/files/durable-file.js';
import { MemoryLogger } from '../alerting/support.js';

const dir = mkdtempSync(join(tmpdir(), 'mailprobe-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('state files', () => {
  test('writeFileDurably replaces the file whole and leaves no temp file behind', async () => {
    const path = join(dir, 'sub', 'alert-state.json');
    await writeFileDurably(path, 'one\n');
    await Promise.all([writeFileDurably(path, 'two\n'), writeFileDurably(path, 'three\n')]);
    assert.ok(['two\n', 'three\n'].includes(readFileSync(path, 'utf8')));
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['alert-state.json']);
  });

  test('each shard and replica owns its own file name', () => {
    assert.equal(ownedStateFile('/s', 'alert-state.json', {}), '/s/alert-state.json');
    assert.equal(ownedStateFile('/s', 'alert-state.json', { shard: { index: 0, total: 1 } }), '/s/alert-state.json');
    assert.equal(ownedStateFile('/s', 'alert-state.json', { shard: { index: 2, total: 4 } }), '/s/alert-state.shard-2-of-4.json');
    assert.equal(
      ownedStateFile('/s', 'alert-state.json', { shard: { index: 2, total: 4 }, replica: 'mailprobe-1' }),
      '/s/alert-state.shard-2-of-4.mailprobe-1.json',
    );
  });

  test('a file another agent owns (fresh owner record) is refused; a stale record is taken over; release gives it up', () => {
    const path = join(dir, 'owned.json');
    writeFileSync(`${path}.owner`, 'other-host pid 4242\n');
    // Fresh by this process's clock, which CI shifts with faketime; the kernel stamps the file with real time.
    const fresh = new Date(Date.now());
    utimesSync(`${path}.owner`, fresh, fresh);
    const refused = claimStateFile(path);
    assert.deepEqual(refused, { ok: false, heldBy: 'other-host pid 4242' });

    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(`${path}.owner`, old, old);
    const claim = claimStateFile(path);
    assert.equal(claim.ok, true);
    assert.match(readFileSync(`${path}.owner`, 'utf8'), new RegExp(`pid ${process.pid}`));
    assert.equal(claimStateFile(path).ok, true, 'the owner may claim again (a notifier rebuilt on reload)');
    if (claim.ok) claim.release();
    assert.ok(!readdirSync(dir).includes('owned.json.owner'));
  });

  test('a corrupt alert state file is named with its fix, moved aside, and monitoring starts empty', () => {
    const path = join(dir, 'alert-state.json');
    writeFileSync(path, '{"version": 1, "alerts": [ trunc');
    const logger = new MemoryLogger();
    assert.deepEqual(loadAlertStates(path, logger), []);
    const entry = logger.entries.find((e) => e.level === 'error');
    assert.equal(entry?.message, 'alert state file is corrupt; starting with no saved alert state, checks and notifications go on');
    assert.equal(entry?.meta?.path, path);
    assert.match(String(entry?.meta?.movedTo), /alert-state\.json\.corrupt-\d+$/);
    assert.match(String(entry?.meta?.fix), /^nothing is needed to keep monitoring/);
    assert.ok(readdirSync(dir).some((name) => name.startsWith('alert-state.json.corrupt-')));
    assert.ok(!readdirSync(dir).includes('alert-state.json'), 'the next save starts a fresh file');
  });
});
