import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgentProcess, sampleValue, type AgentProcess } from '../support/agent-process.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';
import { pickPorts } from '../support/testbed/ports.js';

// Three (then four) real agent processes share one monitors file against the Exchange emulator. What each
// one checks is read from its /metrics only, as Prometheus would see it.

// Enough monitors that the share moved by a resize says something about the hashing, not about luck.
const MONITORS = 120;
const CHECKS = ['imap', 'smtp'] as const;
const names = Array.from({ length: MONITORS }, (_, i) => `mon-${String(i).padStart(3, '0')}`);
const mailbox = (i: number): string => `mon${i}@contoso.onmicrosoft.com`;

let bed: EmulatorBed;
let file: string;
const agents: AgentProcess[] = [];

/** Monitors this agent ran, from mailprobe_checks_total, with the runs per monitor. */
function checkedMonitors(metrics: string): Map<string, number> {
  const runs = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('mailprobe_checks_total{')) continue;
    const monitor = /monitor="([^"]+)"/.exec(line)?.[1];
    if (monitor !== undefined) runs.set(monitor, (runs.get(monitor) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return runs;
}

/** Waits until the agent has run both checks of every monitor it exports, and returns those monitors. */
async function settled(agent: AgentProcess, shard: number, total: number): Promise<Map<string, number>> {
  return agent.waitFor(
    `shard ${shard}/${total} to run all its checks`,
    async () => {
      const metrics = await agent.metrics();
      if (sampleValue(metrics, 'mailprobe_shard_info', { shard: String(shard), total_shards: String(total) }) !== 1) return undefined;
      const owned = sampleValue(metrics, 'mailprobe_shard_monitors', {});
      const runs = checkedMonitors(metrics);
      if (owned === undefined || runs.size !== owned || [...runs.values()].some((count) => count < CHECKS.length)) return undefined;
      return runs;
    },
    60_000,
  );
}

function assertPartition(sets: ReadonlyArray<ReadonlyMap<string, number>>): void {
  const all = sets.flatMap((set) => [...set.keys()]);
  assert.deepEqual([...all].sort(), names, 'every monitor is checked by exactly one replica');
}

async function startShard(shard: number, port: number): Promise<AgentProcess> {
  const state = mkdtempSync(join(tmpdir(), `mailprobe-shard-${shard}-`));
  // The shard index as Kubernetes gives it: from the StatefulSet pod name.
  return startAgentProcess(['--config', file], port, { POD_NAME: `mailprobe-${shard}`, MAILPROBE_STATE_DIR: state });
}

before(async () => {
  bed = await startEmulatorBed({ domain: 'contoso.onmicrosoft.com', mailboxes: names.map((_, i) => ({ address: mailbox(i) })) });
  const written = writeMonitors(bed, {
    monitors: names.map((name, i) => ({ name, mailbox: mailbox(i), checks: [...CHECKS] })),
    // Shared by every replica, as the Kubernetes Secret is: a monitor's new owner can clean up after the old one.
    agent: { totalShards: 3, probeIdKeyFile: 'probe-id.key' },
  });
  file = written.file;
  writeFileSync(join(written.dir, 'probe-id.key'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
});

after(async () => {
  await Promise.all(agents.map((agent) => agent.stop()));
  await bed?.close();
});

describe('monitors sharded across agent processes', () => {
  test('three replicas check every monitor exactly once; growing to four moves at most ~35 % of them', { timeout: 240_000 }, async () => {
    const ports = await pickPorts(4);
    agents.push(...(await Promise.all([0, 1, 2].map((shard) => startShard(shard, ports[shard]!)))));
    const three = await Promise.all(agents.map((agent, shard) => settled(agent, shard, 3)));
    assertPartition(three);
    for (const runs of three) assert.ok(runs.size > 0 && runs.size < MONITORS, `an uneven split: ${three.map((r) => r.size).join(', ')}`);

    // Resize: the file says four, each replica reloads on SIGHUP, and a fourth one starts.
    const config = JSON.parse(readFileSync(file, 'utf8')) as { agent: { totalShards: number } };
    config.agent.totalShards = 4;
    writeFileSync(file, JSON.stringify(config, null, 2));
    for (const agent of agents) agent.signal('SIGHUP');
    agents.push(await startShard(3, ports[3]!));
    const four = await Promise.all(agents.map((agent, shard) => settled(agent, shard, 4)));
    assertPartition(four);

    const ownerBefore = new Map(three.flatMap((runs, shard) => [...runs.keys()].map((name) => [name, shard] as const)));
    const moved = four.flatMap((runs, shard) => [...runs.keys()].filter((name) => ownerBefore.get(name) !== shard));
    assert.ok(moved.length / MONITORS <= 0.35, `3 -> 4 shards moved ${moved.length} of ${MONITORS}`);
    console.log(
      `3 -> 4 shards: ${moved.length} of ${MONITORS} monitors moved (${((moved.length / MONITORS) * 100).toFixed(1)} %); split ${four.map((runs) => runs.size).join('/')}`,
    );
    assert.deepEqual(moved.sort(), [...four[3]!.keys()].sort(), 'only monitors the new replica took moved');
    for (const agent of agents.slice(0, 3)) assert.match(agent.output(), /"message":"configuration reloaded"/);
  });
});
