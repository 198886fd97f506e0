import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { foldInto, type CheckState } from '../src/core/state.js';
import { openPostgresStore } from '../src/history/backends/postgres.js';
import { openSqliteStore } from '../src/history/backends/sqlite.js';
import { HistoryRecorder } from '../src/history/recorder.js';
import type { HistoryStore } from '../src/history/types.js';
import type { Logger } from '../src/log/logger.js';
import { CHECKS, checkIndex, INTERVAL_MS, monitorName, monitorsOf, resultAt, slotOf } from './fleet-data.js';

// One shard of `npm run bench:fleet`: the project's history recorder, as `mailprobe run --shard i` starts it
// (restore, then start), fed the synthetic results of its monitors at the steady rate in real time. Its clock
// is the simulated one (start + real time elapsed since "go"), so buckets and spans move as in production.
// Prints one JSON line when restored and one when done; waits for "go" on stdin in between.

export interface ShardJob {
  backend: 'postgres' | 'sqlite';
  /** postgres:// URL or SQLite file. */
  where: string;
  shard: number;
  shards: number;
  monitors: number;
  /** Simulated time at "go". */
  start: number;
  seconds: number;
  /** Connections in the shard's pool (PostgreSQL). */
  pool: number;
}

export interface ShardReport {
  shard: number;
  checks: number;
  restoreMs: number;
  restored: number;
  generated: number;
  written: number;
  failedWrites: number;
  dropped: number;
  batchMs: number[];
  cpuSeconds: number;
  peakRssBytes: number;
}

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ShardJob;
  const totalChecks = job.monitors * CHECKS.length;
  // Real time at "go"; until then the clock stands at the start.
  const real: { start?: number } = {};
  const clock = {
    now: () => (real.start === undefined ? job.start : job.start + Math.round(performance.now() - real.start)),
    monotonic: () => performance.now(),
  };
  const store: HistoryStore =
    job.backend === 'postgres'
      ? await openPostgresStore({ connectionString: job.where, now: job.start, max: job.pool })
      : await openSqliteStore(job.where, { now: job.start });
  const batchMs: number[] = [];
  let written = 0;
  let failedWrites = 0;
  let dropped = 0;
  const recorder = new HistoryRecorder({
    store,
    clock,
    logger: silent,
    events: {
      onWrite: (outcome) => {
        if (real.start === undefined) return;
        batchMs.push(outcome.seconds * 1000);
        if (outcome.ok) written += outcome.results;
        else failedWrites++;
      },
      onDrop: (results) => {
        dropped += results;
      },
    },
  });
  // This shard's checks in the order of their slot in the interval.
  const own = monitorsOf(job.shard, job.shards, job.monitors)
    .flatMap((monitor) => CHECKS.map((check) => ({ monitor, check, slot: slotOf(checkIndex(monitor, check), totalChecks) })))
    .sort((a, b) => a.slot - b.slot);
  const restoreStarted = performance.now();
  // As `mailprobe run --shard i` does: only this shard's checks.
  const restored = await recorder.restore(own.map((check) => ({ monitor: monitorName(check.monitor), check: check.check })));
  const restoreMs = performance.now() - restoreStarted;
  const states = new Map<string, CheckState>(restored.map((check) => [`${check.row.monitor}\u0000${check.row.check}`, check.state]));
  process.stdout.write(`${JSON.stringify({ ready: true, restoreMs, restored: restored.length })}\n`);

  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  const cpuStart = process.cpuUsage();
  real.start = performance.now();
  recorder.start();
  const end = job.start + job.seconds * 1000;
  let generated = 0;
  // The next run of each check, walked in slot order one interval after another.
  let cycle = Math.floor(job.start / INTERVAL_MS) * INTERVAL_MS;
  let index = own.findIndex((check) => cycle + check.slot >= job.start);
  if (index < 0) {
    index = 0;
    cycle += INTERVAL_MS;
  }
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Math.min(clock.now(), end);
      for (;;) {
        const next = own[index];
        if (!next || cycle + next.slot >= now) break;
        recorder.listener(foldInto(states, resultAt(next.monitor, next.check, cycle + next.slot, totalChecks)), {
          monitor: { intervalSeconds: INTERVAL_MS / 1000 },
        });
        generated++;
        index++;
        if (index === own.length) {
          index = 0;
          cycle += INTERVAL_MS;
        }
      }
      if (clock.now() >= end) {
        clearInterval(tick);
        resolve();
      }
    }, 20);
  });
  await recorder.close();
  const cpu = process.cpuUsage(cpuStart);
  await store.close();
  const report: ShardReport = {
    shard: job.shard,
    checks: own.length,
    restoreMs,
    restored: restored.length,
    generated,
    written,
    failedWrites,
    dropped,
    batchMs,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify({ done: report })}\n`);
}

await main();
