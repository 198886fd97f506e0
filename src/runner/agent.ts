import type { LoadedConfig, ResolvedTenant } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { MailprobeMetrics } from '../metrics/metrics.js';
import type { Clock } from '../core/clock.js';
import { backoffUntil, type CheckResult } from '../core/result.js';
import { foldInto, type CheckState, type ResultEvent } from '../core/state.js';
import { runCheck, SERVER_BACKOFF_INTERVALS, type CheckDeps } from './run-check.js';
import { jobsOf, Scheduler, type Job } from './scheduler.js';
import { GRAPH_REFRESH_MS, refreshCredentialExpiry } from './credential-watch.js';
import { StatusBoard, type SignInBoard } from './status.js';
import { MonitorCauses } from './causes.js';

export type ResultListener = (event: ResultEvent, job: Job) => void;

export interface AgentOptions {
  deps: CheckDeps;
  metrics: MailprobeMetrics;
  logger: Logger;
  clock: Clock;
  /** Extra consumers of every result (alert notifier, history store). A throwing listener is logged, not fatal. */
  listeners?: ResultListener[];
  env?: NodeJS.ProcessEnv;
  /** Where the delegated sign-ins read at start and reload go (the token provider's events report renewals). */
  signIns?: SignInBoard;
}

// The fan-out point: the scheduler decides when, runCheck decides what happened, and the agent folds each result
// into its check's state once and hands the one event to metrics, the log, the status board and listeners.
export class Agent {
  readonly #options: AgentOptions;
  readonly #status = new StatusBoard();
  readonly #states = new Map<string, CheckState>();
  readonly #causes = new MonitorCauses();
  #scheduler?: Scheduler;
  #config?: LoadedConfig;
  #expiryTimer?: NodeJS.Timeout;
  /** What each job's series was announced with, so a reload of 20,000 unchanged monitors re-renders none. */
  #announced = new Map<string, string>();
  readonly startedAt: number;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.startedAt = options.clock.now();
  }

  get config(): LoadedConfig | undefined {
    return this.#config;
  }

  get status(): StatusBoard {
    return this.#status;
  }

  /** States saved before a restart (history store), folded on from the first result. Call before start. */
  restore(states: ReadonlyMap<string, CheckState>): void {
    for (const [key, state] of states) this.#states.set(key, state);
  }

  get scheduling(): boolean {
    return this.#scheduler?.isRunning ?? false;
  }

  start(config: LoadedConfig, options: { runAtStart?: boolean } = {}): void {
    this.#scheduler = new Scheduler({
      clock: this.#options.clock,
      concurrency: config.agent.concurrency,
      execute: (job) => runCheck(this.#options.deps, job.monitor, job.check),
      onResult: (job, result, lateness) => this.#record(job, result, lateness),
      onSkip: (job, why) => {
        this.#options.metrics.recordSkip({ monitor: job.monitor.name, tenant: job.monitor.tenant.key, mailbox: job.monitor.mailbox, check: job.check }, why);
        // A backoff was logged once, when the server asked for it; each skipped slot is only counted.
        if (why !== 'backoff') this.#options.logger.warn('check skipped', { monitor: job.monitor.name, check: job.check, why });
      },
    });
    this.#apply(config);
    this.#scheduler.start();
    this.#expiryTimer = setInterval(() => {
      for (const tenant of this.#config?.tenants.values() ?? []) if (tenant.graph) this.#refreshExpiry(tenant);
    }, GRAPH_REFRESH_MS);
    this.#expiryTimer.unref();
    if (options.runAtStart) for (const job of jobsOf(config.monitors)) this.#scheduler.trigger(job.key);
  }

  /** Swaps in a new configuration; monitors that disappeared vanish from metrics and status. */
  reload(config: LoadedConfig): void {
    if (!this.#scheduler) throw new Error('agent not started');
    this.#apply(config);
  }

  async stop(graceMs: number): Promise<{ unfinished: number }> {
    clearInterval(this.#expiryTimer);
    if (!this.#scheduler) return { unfinished: 0 };
    return this.#scheduler.stop(graceMs);
  }

  inFlight(): number {
    return this.#scheduler?.inFlight() ?? 0;
  }

  #apply(config: LoadedConfig): void {
    const jobs = jobsOf(config.monitors);
    const keep = new Set(jobs.map((job) => job.key));
    for (const removed of this.#status.keys().filter((key) => !keep.has(key))) {
      const identity = this.#status.identity(removed);
      if (identity) {
        this.#options.metrics.forgetMonitor(identity);
        this.#causes.forget(identity);
      }
      this.#status.remove(removed);
      this.#states.delete(removed);
    }
    const announced = new Map<string, string>();
    for (const job of jobs) {
      const { monitor } = job;
      const signature = `${monitor.tenant.key}\u0000${monitor.mailbox}\u0000${monitor.intervalSeconds}`;
      announced.set(job.key, signature);
      if (this.#announced.get(job.key) === signature) continue;
      this.#options.metrics.expectCheck(
        { monitor: monitor.name, tenant: monitor.tenant.key, mailbox: monitor.mailbox, check: job.check },
        monitor.intervalSeconds,
      );
    }
    this.#announced = announced;
    for (const tenant of config.tenants.values()) {
      this.#options.metrics.expectClient(tenant.key, tenant.clientId);
      this.#refreshExpiry(tenant);
    }
    const clientKey = (tenant: { key: string; clientId: string }): string => `${tenant.key}\u0000${tenant.clientId}`;
    const kept = new Set([...config.tenants.values()].map(clientKey));
    for (const tenant of this.#config?.tenants.values() ?? []) {
      if (!kept.has(clientKey(tenant))) this.#options.metrics.forgetClient(tenant.key, tenant.clientId);
    }
    this.#status.expect(jobs);
    this.#options.signIns?.retain(new Set(config.tenants.keys()));
    this.#scheduler?.setConcurrency(config.agent.concurrency);
    this.#scheduler?.setJobs(jobs);
    this.#config = config;
  }

  #refreshExpiry(tenant: ResolvedTenant): void {
    const { deps, metrics, logger, clock, signIns } = this.#options;
    refreshCredentialExpiry(tenant, {
      tokens: deps.tokens,
      metrics,
      logger,
      clock,
      env: this.#options.env ?? process.env,
      ...(signIns ? { signIns } : {}),
    }).catch((error: unknown) => logger.error('credential expiry refresh failed', { tenant: tenant.key, error }));
  }

  #record(job: Job, result: CheckResult, latenessSeconds: number): void {
    const { metrics, logger } = this.#options;
    // A check still running when a reload removed its monitor would bring the monitor's series and status back
    // for good; its result is the old configuration's and goes nowhere.
    if (!this.#announced.has(job.key)) {
      logger.info('result of a check whose monitor a reload removed, dropped', { monitor: result.monitor, check: result.check });
      return;
    }
    const cause = this.#causes.observe(result);
    const event = foldInto(this.#states, result, cause);
    metrics.recordCheck(event, job.monitor.intervalSeconds);
    // A roundtrip whose cleanup failed still measured its delivery.
    const { deliverySeconds } = result.outcome.measured;
    if (deliverySeconds !== undefined) metrics.recordDeliveryLatency(result, deliverySeconds);
    this.#status.update(event);
    const failure = result.outcome.failure;
    const meta = {
      monitor: result.monitor,
      tenant: result.tenant,
      mailbox: result.mailbox,
      check: result.check,
      result: result.outcome.ok ? 'success' : 'failure',
      durationSeconds: Number(result.durationSeconds.toFixed(3)),
      latenessSeconds: Number(latenessSeconds.toFixed(3)),
      ...(failure
        ? { stage: failure.stage, reason: result.reason, serverText: failure.serverText, detail: failure.message, summary: result.diagnosis?.summary }
        : {}),
      ...(cause !== undefined ? { cause } : {}),
    };
    if (result.outcome.ok) logger.info('check passed', meta);
    else logger.warn('check failed', meta);
    const until = backoffUntil(result);
    if (until !== undefined)
      logger.warn('check backing off as its server asked', {
        monitor: result.monitor,
        check: result.check,
        until: new Date(until).toISOString(),
        maxIntervals: SERVER_BACKOFF_INTERVALS,
      });
    for (const listener of this.#options.listeners ?? []) {
      try {
        listener(event, job);
      } catch (error) {
        logger.error('result listener failed', { error });
      }
    }
  }
}
