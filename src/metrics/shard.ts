import { Gauge, type Registry } from 'prom-client';
import type { ShardIdentity } from '../config/shard.js';

/**
 * Which shard this replica is. The shipped alerts compare the distinct shard labels of one job with the
 * total the replicas were told, which finds a missing shard and two replicas claiming one.
 */
export class ShardMetrics {
  readonly #info: Gauge<'shard' | 'total_shards'>;
  readonly #total: Gauge;
  readonly #monitors: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#info = new Gauge({
      name: 'mailprobe_shard_info',
      help: 'Always 1; shard (0-based) and total_shards say which slice of the monitors this replica runs.',
      labelNames: ['shard', 'total_shards'],
      registers,
    });
    this.#total = new Gauge({ name: 'mailprobe_shards', help: 'How many shards the monitors are divided into.', registers });
    this.#monitors = new Gauge({ name: 'mailprobe_shard_monitors', help: 'Monitors this replica owns and runs.', registers });
  }

  set(shard: ShardIdentity, ownedMonitors: number): void {
    this.#info.reset();
    this.#info.set({ shard: String(shard.index), total_shards: String(shard.total) }, 1);
    this.#total.set(shard.total);
    this.#monitors.set(ownedMonitors);
  }
}
