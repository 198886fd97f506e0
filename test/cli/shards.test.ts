import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { shardOf } from '../../src/config/shard.js';
import { runCli } from '../support/cli.js';

const NAMES = Array.from({ length: 40 }, (_, i) => `desk-${i}`);

function writeConfig(agent: object = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-shards-'));
  const file = join(dir, 'monitors.json');
  const tenants = {
    t: { tenantId: 'contoso.onmicrosoft.com', clientId: '10e1f456-3921-1234-1234-105af0774c61', credential: { type: 'secret', secret: { env: 'S' } } },
  };
  const monitors = NAMES.map((name, i) => ({ name, tenant: 't', mailbox: i < 2 ? 'shared@contoso.com' : `${name}@contoso.com` }));
  writeFileSync(file, JSON.stringify({ agent, tenants, monitors }));
  return file;
}

interface Report {
  totalShards: number;
  monitors: number;
  shards: Array<{ shard: number; monitors: string[] }>;
  resize?: { from: number; to: number; moved: Array<{ monitor: string; from: number; to: number }> };
  splitMailboxes: Array<{ mailbox: string; shards: number[] }>;
}

describe('mailprobe shards', () => {
  test('--json gives the assignment run --total-shards uses, and the moves of a resize', async () => {
    const file = writeConfig();
    const run = await runCli(['shards', '--config', file, '--total-shards', '4', '--from', '3', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.totalShards, 4);
    assert.equal(report.monitors, NAMES.length);
    for (const { shard, monitors } of report.shards)
      assert.deepEqual(
        monitors,
        NAMES.filter((name) => shardOf(name, 4) === shard),
      );
    const expected = NAMES.filter((name) => shardOf(name, 3) !== shardOf(name, 4));
    assert.deepEqual(
      report.resize?.moved.map((move) => move.monitor),
      expected,
    );
    assert.ok(
      report.resize?.moved.every((move) => move.to === 3),
      'a grow only fills the new shard',
    );
    const shared = shardOf('desk-0', 4) !== shardOf('desk-1', 4);
    assert.equal(report.splitMailboxes.length, shared ? 1 : 0);
  });

  test('text output lists each shard and the resize', async () => {
    const file = writeConfig({ totalShards: 2 });
    const run = await runCli(['shards', '--config', file, '--from', '1']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`: ${NAMES.length} monitors on 2 shards\n`));
    assert.match(run.stdout, /^shard 0: \d+ monitors$/m);
    assert.match(run.stdout, /^shard 1: \d+ monitors$/m);
    const moved = NAMES.filter((name) => shardOf(name, 2) === 1).length;
    assert.match(run.stdout, new RegExp(`going from 1 to 2 shards moves ${moved} of ${NAMES.length} monitors`));
  });

  test('a missing or bad total is a usage error', async () => {
    const file = writeConfig();
    const missing = await runCli(['shards', '--config', file]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /give --total-shards N/);
    const bad = await runCli(['shards', '--config', file], { MAILPROBE_TOTAL_SHARDS: '0' });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim(), 'mailprobe: shards: MAILPROBE_TOTAL_SHARDS takes a whole number from 1 to 1000 (got "0")');
  });
});
