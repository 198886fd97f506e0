import { createHash } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
import type { ResolvedMonitor } from '../config/types.js';
import type { CheckKind, SkipReason } from '../core/check.js';
import type { Clock } from '../core/clock.js';
import { backoffUntil, type CheckResult } from '../core/result.js';
import { checkKey } from '../core/state.js';

export interface Job {
  key: string;
  monitor: ResolvedMonitor;
  check: CheckKind;
}

export interface SchedulerOptions {
  clock: Clock;
  concurrency: number;
  /** Share of the interval over which one schedule's jobs are spread (0 = all at the slot). */
  spread?: number;
  execute(job: Job): Promise<CheckResult>;
  onResult(job: Job, result: CheckResult, latenessSeconds: number): void;
  onSkip(job: Job, why: SkipReason): void;
}

interface JobState {
  job: Job;
  phase: 'idle' | 'queued' | 'running';
  notBefore: number;
  /** The slot a queued job was due at, so its lateness includes the wait for a free place. */
  dueAt?: number;
  running?: Promise<void>;
}

export function jobsOf(monitors: readonly ResolvedMonitor[]): Job[] {
  return monitors
    .filter((monitor) => monitor.enabled)
    .flatMap((monitor) => monitor.checks.map((check) => ({ key: checkKey({ monitor: monitor.name, check }), monitor, check })));
}

/** A stable offset in [0, 1) from the job's name, so a job keeps its place in the interval across restarts. */
export function jitterFraction(key: string): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) / 2 ** 32;
}

// One cron task per distinct schedule, not per job: 10,000 monitors on "*/5 * * * *" cost one timer wheel
// entry per slot plus one timeout per job, and jobs keep their place in the interval.
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #spread: number;
  #states = new Map<string, JobState>();
  #tasks: ScheduledTask[] = [];
  readonly #pending = new Set<NodeJS.Timeout>();
  readonly #queue: JobState[] = [];
  #active = 0;
  #running = false;
  #concurrency: number;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#spread = options.spread ?? 0.9;
    this.#concurrency = options.concurrency;
  }

  /** A lower limit lets running checks finish; a higher one starts queued checks at once. */
  setConcurrency(limit: number): void {
    this.#concurrency = limit;
    this.#drain();
  }

  /** Installs a job set; jobs that stay keep their state (a running check is not forgotten on reload). */
  setJobs(jobs: readonly Job[]): void {
    const next = new Map<string, JobState>();
    for (const job of jobs) {
      const previous = this.#states.get(job.key);
      next.set(job.key, previous ? Object.assign(previous, { job }) : { job, phase: 'idle', notBefore: 0 });
    }
    this.#states = next;
    if (this.#running) this.#installTasks();
  }

  start(): void {
    this.#running = true;
    this.#installTasks();
  }

  /** Stops new slots, drops queued checks, and waits for running ones up to graceMs. */
  async stop(graceMs: number): Promise<{ unfinished: number }> {
    this.#running = false;
    this.#removeTasks();
    for (const timer of this.#pending) clearTimeout(timer);
    this.#pending.clear();
    for (const state of this.#queue.splice(0)) state.phase = 'idle';
    const running = [...this.#states.values()].flatMap((state) => (state.running ? [state.running] : []));
    if (running.length === 0) return { unfinished: 0 };
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([Promise.allSettled(running).then(() => 'done' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'done') return { unfinished: 0 };
    return { unfinished: [...this.#states.values()].filter((state) => state.phase === 'running').length };
  }

  get isRunning(): boolean {
    return this.#running;
  }

  inFlight(): number {
    return this.#active;
  }

  /** Runs one job now, outside its schedule (e.g. at start-up), with the same overlap and limit rules. */
  trigger(key: string): void {
    const state = this.#states.get(key);
    if (state) this.#slot(state.job.key, this.#options.clock.now());
  }

  #installTasks(): void {
    this.#removeTasks();
    const bySchedule = new Map<string, number>();
    for (const state of this.#states.values()) bySchedule.set(state.job.monitor.schedule, state.job.monitor.intervalSeconds);
    for (const [schedule, intervalSeconds] of bySchedule) {
      const task = cron.createTask(schedule, (context) => this.#tick(schedule, intervalSeconds, context.date.getTime()));
      void task.start();
      this.#tasks.push(task);
    }
  }

  #removeTasks(): void {
    for (const task of this.#tasks) void task.destroy();
    this.#tasks = [];
  }

  #tick(schedule: string, intervalSeconds: number, slotTime: number): void {
    const now = this.#options.clock.now();
    const window = intervalSeconds * 1000 * this.#spread;
    for (const state of this.#states.values()) {
      if (state.job.monitor.schedule !== schedule) continue;
      const key = state.job.key;
      const startAt = slotTime + Math.floor(jitterFraction(key) * window);
      const timer = setTimeout(
        () => {
          this.#pending.delete(timer);
          this.#slot(key, startAt);
        },
        Math.max(0, startAt - now),
      );
      this.#pending.add(timer);
    }
  }

  #slot(key: string, slotAt: number): void {
    // Looked up again at fire time: the job may have been removed or changed by a reload since the tick.
    const state = this.#states.get(key);
    if (!state || !this.#running) return;
    if (state.phase === 'running') return this.#options.onSkip(state.job, 'overlap');
    if (state.phase === 'queued') return this.#options.onSkip(state.job, 'concurrency');
    if (state.notBefore > this.#options.clock.now()) return this.#options.onSkip(state.job, 'backoff');
    if (this.#active >= this.#concurrency) {
      state.phase = 'queued';
      state.dueAt = slotAt;
      this.#queue.push(state);
      return;
    }
    this.#run(state, slotAt);
  }

  #run(state: JobState, slotAt: number): void {
    const { job } = state;
    state.phase = 'running';
    this.#active++;
    const lateness = Math.max(0, (this.#options.clock.now() - slotAt) / 1000);
    state.running = this.#options
      .execute(job)
      .then((result) => {
        state.notBefore = backoffUntil(result) ?? 0;
        this.#options.onResult(job, result, lateness);
      })
      .finally(() => {
        state.phase = 'idle';
        state.running = undefined;
        this.#active--;
        this.#drain();
      });
  }

  #drain(): void {
    while (this.#active < this.#concurrency && this.#running) {
      const next = this.#queue.shift();
      if (!next) return;
      if (this.#states.get(next.job.key) !== next) continue;
      this.#run(next, next.dueAt ?? this.#options.clock.now());
    }
  }
}
