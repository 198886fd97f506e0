import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { assignShards, resolveShard, shardConfig, shardOf, splitMailboxes, type ShardSources } from '../../src/config/shard.js';

const NAMES = Array.from({ length: 2000 }, (_, i) => `monitor-${i}`);

function moved(names: readonly string[], from: number, to: number): string[] {
  return names.filter((name) => shardOf(name, from) !== shardOf(name, to));
}

describe('rendezvous assignment', () => {
  test('is a pure function of the name and the total', () => {
    assert.deepEqual(
      NAMES.slice(0, 50).map((name) => shardOf(name, 7)),
      NAMES.slice(0, 50).map((name) => shardOf(name, 7)),
    );
    // Pinned, so a change of the hash (which would move every monitor on upgrade) fails here.
    assert.deepEqual(
      ['a', 'b', 'contoso-helpdesk', 'fabrikam-scanner'].map((name) => shardOf(name, 5)),
      [2, 4, 2, 0],
    );
    assert.ok(NAMES.every((name) => shardOf(name, 1) === 0));
  });

  test('spreads monitors evenly', () => {
    for (const total of [2, 3, 4, 10]) {
      const sizes = assignShards(NAMES, total).map((shard) => shard.length);
      assert.equal(
        sizes.reduce((a, b) => a + b, 0),
        NAMES.length,
      );
      const fair = NAMES.length / total;
      for (const size of sizes) assert.ok(Math.abs(size - fair) < fair * 0.25, `${total} shards: ${sizes.join(', ')}`);
    }
  });

  test('going from N to N+1 moves about 1/(N+1), and only onto the new shard', () => {
    for (const from of [1, 2, 3, 4, 9]) {
      const to = from + 1;
      const moves = moved(NAMES, from, to);
      const share = moves.length / NAMES.length;
      assert.ok(Math.abs(share - 1 / to) < 0.03, `${from} -> ${to}: ${(share * 100).toFixed(1)} % moved`);
      assert.ok(
        moves.every((name) => shardOf(name, to) === from),
        'a monitor only moves to the shard that was added',
      );
    }
    const threeToFour = moved(NAMES, 3, 4).length / NAMES.length;
    assert.ok(threeToFour <= 0.35, `3 -> 4 moved ${(threeToFour * 100).toFixed(1)} %`);
  });
});

const sources = (over: Partial<ShardSources> = {}): ShardSources => ({ flags: {}, env: {}, agent: {}, file: '/etc/mailprobe/monitors.json', ...over });

function shardError(over: Partial<ShardSources>): string {
  try {
    resolveShard(sources(over));
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('which shard this process is', () => {
  test('one shard unless told otherwise; a host name such as web-2 is ignored then', () => {
    assert.deepEqual(resolveShard(sources({ env: { HOSTNAME: 'web-2' } })), { index: 0, total: 1, source: 'default' });
  });

  test('flags win over the environment, the environment over the file', () => {
    const all = { flags: { shard: '1', totalShards: '4' }, env: { MAILPROBE_SHARD: '2', MAILPROBE_TOTAL_SHARDS: '5' }, agent: { shard: 3, totalShards: 6 } };
    assert.deepEqual(resolveShard(sources(all)), { index: 1, total: 4, source: '--shard' });
    assert.deepEqual(resolveShard(sources({ ...all, flags: {} })), { index: 2, total: 5, source: 'MAILPROBE_SHARD' });
    assert.deepEqual(resolveShard(sources({ ...all, flags: {}, env: {} })), { index: 3, total: 6, source: 'agent.shard' });
  });

  test('a StatefulSet pod name gives the index: POD_NAME before HOSTNAME', () => {
    const env = { MAILPROBE_TOTAL_SHARDS: '3', POD_NAME: 'mailprobe-2', HOSTNAME: 'mailprobe-1' };
    assert.deepEqual(resolveShard(sources({ env })), { index: 2, total: 3, source: 'POD_NAME=mailprobe-2' });
    assert.deepEqual(resolveShard(sources({ env: { ...env, POD_NAME: undefined } })), { index: 1, total: 3, source: 'HOSTNAME=mailprobe-1' });
  });

  test('errors name the source and say what to do', () => {
    assert.equal(shardError({ flags: { totalShards: 'three' } }), '--total-shards: must be a whole number (got "three")');
    assert.equal(shardError({ env: { MAILPROBE_TOTAL_SHARDS: '0' } }), 'MAILPROBE_TOTAL_SHARDS: must be between 1 and 1000 (got 0)');
    assert.match(
      shardError({ agent: { totalShards: 3 } }),
      /^\/etc\/mailprobe\/monitors\.json: agent\.totalShards: is 3, but nothing says which shard this is: give --shard/,
    );
    assert.equal(
      shardError({ env: { MAILPROBE_TOTAL_SHARDS: '3', HOSTNAME: 'mailprobe-3' } }),
      'HOSTNAME=mailprobe-3: is shard 3, but there are only 3 shards (0 to 2); raise the total shards with the replica count',
    );
  });
});

describe('the configuration of one shard', () => {
  const dir = '/srv/mailprobe';
  const tenant = (id: string) => ({
    tenantId: `${id}.onmicrosoft.com`,
    clientId: '10e1f456-3921-1234-1234-105af0774c61',
    credential: { type: 'secret', secret: { env: 'S' } },
  });
  const monitors = Array.from({ length: 30 }, (_, i) => ({ name: `m${i}`, tenant: i % 2 === 0 ? 'even' : 'odd', mailbox: `box${i % 10}@contoso.com` }));
  const config = parseConfig(
    JSON.stringify({ tenants: { even: tenant('even'), odd: tenant('odd'), idle: tenant('idle') }, monitors }),
    join(dir, 'monitors.json'),
  );

  test('every monitor and every tenant is on exactly one of the shards', () => {
    const shares = [0, 1, 2].map((index) => shardConfig(config, { index, total: 3, source: 'test' }));
    const names = shares.flatMap((share) => share.monitors.map((monitor) => monitor.name));
    assert.deepEqual([...names].sort(), monitors.map((monitor) => monitor.name).sort());
    for (const share of shares) {
      for (const monitor of share.monitors) assert.ok(share.tenants.has(monitor.tenant.key), 'a shard keeps the tenants its monitors use');
    }
    assert.equal(shares.filter((share) => share.tenants.has('idle')).length, 1, 'a tenant without monitors is watched once');
    assert.equal(shardConfig(config, { index: 0, total: 1, source: 'default' }), config);
  });

  test('names mailboxes whose monitors land on different shards', () => {
    const split = splitMailboxes(config, 3);
    assert.ok(split.length > 0);
    for (const { mailbox, shards } of split) {
      const owners = new Set(config.monitors.filter((monitor) => monitor.mailbox === mailbox).map((monitor) => shardOf(monitor.name, 3)));
      assert.deepEqual(shards, [...owners].sort());
    }
    assert.deepEqual(splitMailboxes(config, 1), []);
  });
});
