import { assignShards, MAX_TOTAL_SHARDS, shardOf, splitMailboxes } from '../config/shard.js';
import { EXIT, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';

export const SHARDS_HELP = `Usage: mailprobe shards [--total-shards N] [--from M] [--json] [--config FILE]

Prints which shard (replica) runs which monitor when N replicas share the monitors file, as 'mailprobe run
--total-shards N' divides them (rendezvous hashing of the monitor name). --from M also lists the monitors
that change replica when going from M to N shards, for planning a resize. N defaults to
MAILPROBE_TOTAL_SHARDS, else agent.totalShards.`;

interface Move {
  monitor: string;
  from: number;
  to: number;
}

const SHARDS_OPTIONS = {
  'total-shards': { type: 'string' },
  from: { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
} satisfies Options;

export const shardsCommand = defineCommand({ name: 'shards', help: SHARDS_HELP, options: SHARDS_OPTIONS, run: shards });

function shards({ values, io, readConfig }: CommandInput<typeof SHARDS_OPTIONS>): number {
  const config = readConfig();
  const total =
    values['total-shards'] !== undefined
      ? shardCount('--total-shards', values['total-shards'])
      : io.env.MAILPROBE_TOTAL_SHARDS !== undefined
        ? shardCount('MAILPROBE_TOTAL_SHARDS', io.env.MAILPROBE_TOTAL_SHARDS)
        : shardCount('agent.totalShards', config.agent.totalShards?.toString());
  const from = values.from === undefined ? undefined : shardCount('--from', values.from);
  const names = config.monitors.map((monitor) => monitor.name);
  const shards = assignShards(names, total);
  const moves: Move[] | undefined =
    from === undefined
      ? undefined
      : names.map((monitor) => ({ monitor, from: shardOf(monitor, from), to: shardOf(monitor, total) })).filter((move) => move.from !== move.to);
  const split = splitMailboxes(config, total);

  if (values.json) {
    const report = {
      config: config.file,
      totalShards: total,
      monitors: names.length,
      shards: shards.map((monitors, shard) => ({ shard, monitors })),
      ...(moves ? { resize: { from, to: total, moved: moves } } : {}),
      splitMailboxes: split,
    };
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = [`${config.file}: ${names.length} monitor${names.length === 1 ? '' : 's'} on ${total} shard${total === 1 ? '' : 's'}`];
  shards.forEach((monitors, shard) => {
    lines.push(`shard ${shard}: ${monitors.length} monitor${monitors.length === 1 ? '' : 's'}`, ...monitors.map((name) => `  ${name}`));
  });
  if (moves) {
    const share = names.length === 0 ? 0 : Math.round((moves.length / names.length) * 100);
    lines.push(`going from ${from} to ${total} shards moves ${moves.length} of ${names.length} monitors (${share} %)`);
    lines.push(...moves.map((move) => `  ${move.monitor}: shard ${move.from} -> ${move.to}`));
  }
  for (const { mailbox, shards: on } of split) {
    lines.push(`note: ${mailbox} has monitors on shards ${on.join(', ')}; each of those replicas applies the mailbox's send budget on its own`);
  }
  print(io.stdout, lines.join('\n'));
  return EXIT.ok;
}

function shardCount(flag: string, raw: string | undefined): number {
  if (raw === undefined)
    throw new UsageError(`shards: give --total-shards N (or set MAILPROBE_TOTAL_SHARDS or agent.totalShards). See 'mailprobe shards --help'.`);
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= MAX_TOTAL_SHARDS)) throw new UsageError(`shards: ${flag} takes a whole number from 1 to ${MAX_TOTAL_SHARDS} (got "${raw}")`);
  return value;
}
