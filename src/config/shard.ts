import { ConfigError } from './errors.js';
import type { LoadedConfig } from './types.js';

/**
 * Which slice of the monitors one replica runs. Replicas divide the monitors by rendezvous
 * (highest-random-weight) hashing of the monitor name: every replica computes the same owner for a name
 * without talking to the others, and going from N to N+1 shards moves only the ~1/(N+1) of the monitors
 * the new shard wins, where hashmod would move almost all of them.
 */
export interface ShardIdentity {
  /** 0-based, below total. */
  index: number;
  total: number;
  /** Where the index came from, for the log and `mailprobe shards`. */
  source: string;
}

/** Enough for any fleet; keeps the shard label on the metrics bounded. */
export const MAX_TOTAL_SHARDS = 1000;

export const SINGLE_SHARD: ShardIdentity = { index: 0, total: 1, source: 'default' };

// murmur3's finalizer: a bijection on 32 bits with full avalanche, so the weights of one name on different
// shards look independent. Cheap enough for 20,000 monitors on 100 shards at every reload, where a
// cryptographic hash per (name, shard) costs seconds. The constants are part of the assignment: changing
// them moves every monitor.
function mix(value: number): number {
  let h = value;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function nameHash(name: string): number {
  let h = 0x6d61696c; // "mail"
  for (let i = 0; i < name.length; i++) h = mix(h ^ name.charCodeAt(i));
  return mix(h ^ name.length);
}

/** The shard that runs the monitor (or tenant key) `name` among `total` shards: the one it weighs most on. */
export function shardOf(name: string, total: number): number {
  const h = nameHash(name);
  let best = 0;
  let bestWeight = -1;
  for (let shard = 0; shard < total; shard++) {
    const w = mix(h ^ mix(Math.imul(shard + 1, 0x9e3779b9)));
    if (w > bestWeight) {
      best = shard;
      bestWeight = w;
    }
  }
  return best;
}

/** Where each name goes: one list per shard, in the given order. */
export function assignShards(names: readonly string[], total: number): string[][] {
  const shards: string[][] = Array.from({ length: total }, () => []);
  for (const name of names) shards[shardOf(name, total)]!.push(name);
  return shards;
}

/**
 * The configuration one shard runs: its own monitors, and the tenants they use. A tenant no monitor uses
 * (kept only for its credential-expiry watch) goes to one shard by its key, so exactly one replica reports it.
 * Probe mail, cleanup, send budgets and notifications follow the monitors, so they stay with the owner.
 */
export function shardConfig(config: LoadedConfig, shard: ShardIdentity): LoadedConfig {
  if (shard.total === 1) return config;
  const monitors = config.monitors.filter((monitor) => shardOf(monitor.name, shard.total) === shard.index);
  const used = new Set(config.monitors.map((monitor) => monitor.tenant.key));
  const owned = new Set(monitors.map((monitor) => monitor.tenant.key));
  const tenants = new Map([...config.tenants].filter(([key]) => owned.has(key) || (!used.has(key) && shardOf(`tenant/${key}`, shard.total) === shard.index)));
  return { ...config, monitors, tenants };
}

/**
 * Mailboxes whose monitors land on different shards. The send budget is per mailbox and per process, so each
 * of those replicas spends the mailbox's whole budget on its own.
 */
export function splitMailboxes(config: LoadedConfig, total: number): Array<{ mailbox: string; shards: number[] }> {
  const byMailbox = new Map<string, Set<number>>();
  for (const monitor of config.monitors) {
    const key = monitor.mailbox.toLowerCase();
    const shards = byMailbox.get(key) ?? new Set<number>();
    shards.add(shardOf(monitor.name, total));
    byMailbox.set(key, shards);
  }
  return [...byMailbox].filter(([, shards]) => shards.size > 1).map(([mailbox, shards]) => ({ mailbox, shards: [...shards].sort((a, b) => a - b) }));
}

export interface ShardSources {
  /** --shard and --total-shards as given on the command line. */
  flags: { shard?: string | undefined; totalShards?: string | undefined };
  env: NodeJS.ProcessEnv;
  /** agent.shard and agent.totalShards from the file. */
  agent: { shard?: number | undefined; totalShards?: number | undefined };
  file: string;
}

const ORDINAL = /-(\d+)$/;

/**
 * The shard this process is: each of index and total from the first of --flag, MAILPROBE_SHARD /
 * MAILPROBE_TOTAL_SHARDS, the file's agent section; the index last from a StatefulSet pod name
 * (POD_NAME, then HOSTNAME, such as mailprobe-2). Errors name where the bad value came from.
 */
export function resolveShard(sources: ShardSources): ShardIdentity {
  const { flags, env, agent, file } = sources;
  const total = number('--total-shards', flags.totalShards, file) ??
    number('MAILPROBE_TOTAL_SHARDS', env.MAILPROBE_TOTAL_SHARDS, file) ??
    fromFile('agent.totalShards', agent.totalShards) ?? { value: 1, source: 'default' };
  if (total.value < 1 || total.value > MAX_TOTAL_SHARDS) fail(file, total.source, `must be between 1 and ${MAX_TOTAL_SHARDS} (got ${total.value})`);
  const index =
    number('--shard', flags.shard, file) ??
    number('MAILPROBE_SHARD', env.MAILPROBE_SHARD, file) ??
    fromFile('agent.shard', agent.shard) ??
    // A host name such as web-2 says nothing when there is one shard.
    (total.value === 1 ? { value: 0, source: 'default' } : (ordinal('POD_NAME', env.POD_NAME) ?? ordinal('HOSTNAME', env.HOSTNAME)));
  if (index === undefined) {
    fail(
      file,
      total.source,
      `is ${total.value}, but nothing says which shard this is: give --shard, MAILPROBE_SHARD or agent.shard, or run as a StatefulSet pod whose name ends in its ordinal (POD_NAME or HOSTNAME such as mailprobe-2)`,
    );
  }
  if (index.value >= total.value) {
    fail(
      file,
      index.source,
      `is shard ${index.value}, but there are only ${total.value} shards (0 to ${total.value - 1}); raise the total shards with the replica count`,
    );
  }
  return { index: index.value, total: total.value, source: index.source };
}

interface Sourced {
  value: number;
  source: string;
}

function number(source: string, raw: string | undefined, file: string): Sourced | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) fail(file, source, `must be a whole number (got "${raw}")`);
  return { value: Number(raw.trim()), source };
}

function fromFile(path: string, value: number | undefined): Sourced | undefined {
  return value === undefined ? undefined : { value, source: path };
}

function ordinal(variable: string, name: string | undefined): Sourced | undefined {
  const match = name === undefined ? null : ORDINAL.exec(name);
  return match ? { value: Number(match[1]), source: `${variable}=${name}` } : undefined;
}

function fail(file: string, source: string, message: string): never {
  // Values from the file are reported at their JSON path; flags and variables under their own name.
  const inFile = source.startsWith('agent.');
  throw new ConfigError([{ file: inFile ? file : source, path: inFile ? source : '', message }]);
}
