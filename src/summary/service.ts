import { dirname } from 'node:path';
import { openOutbox, type DeliveryEvent, type DeliveryResult, type Outbox } from '../alerting/outbox.js';
import type { NotifierConfigInput } from '../config/alerting.js';
import { defaultSummaryNotifier, MONTHLY_SUMMARY_DEFAULTS } from '../config/history.js';
import type { LoadedConfig } from '../config/types.js';
import type { Clock } from '../core/clock.js';
import { claimStateFile, type Claim } from '../files/durable-file.js';
import { monthRange } from '../history/calendar.js';
import { reportChecks, type ConfiguredCheck } from '../history/report.js';
import { accountingPolicy, historySettings } from '../history/settings.js';
import type { Logger } from '../log/logger.js';
import type { BriefRunner } from '../history/report-runner.js';
import { SUMMARY_BODIES, takesSummary, type SummaryNotifierType } from './bodies.js';
import { digestOf, SUMMARY_TOP, type MonthlyDigest } from './digest.js';
import { latestDue } from './schedule.js';
import { loadSummaryState, saveSummaryState, type SummaryState } from './state-file.js';

/** What this agent's summary covers, and whether it is the one that sends it. */
export interface SummaryScope {
  config: LoadedConfig;
  checks: ConfiguredCheck[];
  sender: boolean;
  scopeNote?: string;
}

export interface MonthlySummaryOptions {
  /** Builds the month's report (buildReport, as `mailprobe report`) and answers its brief: storeBrief or workerBrief. */
  report: BriefRunner;
  clock: Clock;
  logger: Logger;
  /** summary-state.json: what went out; one owner (claimed through `<file>.owner`). */
  statePath: string;
  env: NodeJS.ProcessEnv;
  onDelivery?: (event: DeliveryEvent) => void;
  /** How often it looks whether a summary is due (default 60 s); a missed or failed one is picked up then. */
  pollMs?: number;
  /** Wait before the next round for a notifier whose delivery failed: doubling from initialMs up to maxMs (1 min to 1 h). */
  backoff?: { initialMs: number; maxMs: number };
  /** Quick retries inside one round (the alerts' defaults: 1 s doubling to 60 s, alerting.maxAttempts attempts). */
  retry?: { initialDelayMs: number; maxDelayMs: number };
  fetchTimeoutMs?: number;
}

/**
 * Sends the previous month's summary once, through each chosen notifier, at sla.monthlySummary's day and time.
 * Everything runs off a timer and its own delivery queues, so checks never wait for it; a summary due while the
 * agent was down goes out at start-up; a failed delivery is retried with backoff until it goes out or the next
 * month's summary is due. A crash between a receiver's 2xx and the state write sends that one again (its id is
 * stable, so a receiver can drop the repeat): at least once, never more than once per month otherwise.
 */
export class MonthlySummary {
  readonly #options: MonthlySummaryOptions;
  readonly #logger: Logger;
  #scope?: SummaryScope;
  #claim?: Claim;
  #claimRefusal?: string;
  #state?: SummaryState;
  #saving: Promise<void> = Promise.resolve();
  #polling?: Promise<void>;
  #timer?: NodeJS.Timeout;
  #closed = false;
  #digest?: { period: string; digest: MonthlyDigest };
  readonly #inFlight = new Map<string, Outbox>();
  readonly #failures = new Map<string, { count: number; retryAt: number }>();

  constructor(options: MonthlySummaryOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** At start and after every reload: the settings, the checks covered and whether this agent sends. */
  configure(scope: SummaryScope): void {
    const before = this.#scope;
    this.#scope = scope;
    this.#digest = undefined;
    const settings = scope.config.sla?.monthlySummary;
    const off = !settings || settings.enabled === false;
    if (!off && !scope.sender && before?.sender !== false) this.#logger.info('monthly summary: sent by shard 0, not by this shard');
    if (off || !scope.sender) {
      // A delivery still under way records its success first; the next round, if any, claims the file again.
      if (this.#inFlight.size === 0) this.#release();
      return;
    }
    if (scope.scopeNote && before?.scopeNote !== scope.scopeNote) this.#logger.warn('monthly summary covers this shard only', { note: scope.scopeNote });
  }

  /** Looks once now (a summary missed while down goes out at start-up), then every pollMs. */
  start(): void {
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#options.pollMs ?? 60_000);
    this.#timer.unref();
  }

  /** One look: sends what is due and not yet out. Never throws; overlapping calls share one round. */
  poll(): Promise<void> {
    this.#polling ??= this.#round()
      .catch((error: unknown) => this.#logger.error('monthly summary round failed', { error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        this.#polling = undefined;
      });
    return this.#polling;
  }

  /** Resolves when the deliveries under way have ended and the state file is current. */
  async flush(): Promise<void> {
    await this.#polling;
    await Promise.all([...this.#inFlight.values()].map((queue) => queue.flush()));
    await this.#saving;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#polling;
    for (const queue of this.#inFlight.values()) queue.abort();
    await this.#saving;
    this.#release();
  }

  async #round(): Promise<void> {
    const scope = this.#scope;
    const settings = scope?.config.sla?.monthlySummary;
    if (this.#closed || !scope?.sender || !settings || settings.enabled === false) return;
    const state = this.#own();
    if (!state) return;
    const { clock } = this.#options;
    const now = clock.now();
    const policy = accountingPolicy(scope.config);
    const due = latestDue(now, {
      day: settings.day ?? MONTHLY_SUMMARY_DEFAULTS.day,
      at: settings.at ?? MONTHLY_SUMMARY_DEFAULTS.at,
      timeZone: policy.timeZone,
    });
    if (due.dueAt < state.since) return;
    const sent = state.sent[due.period] ?? {};
    const targets = summaryTargets(scope.config, settings.notifiers).filter((target) => {
      const key = keyOf(due.period, target.name);
      return sent[target.name] === undefined && !this.#inFlight.has(key) && (this.#failures.get(key)?.retryAt ?? 0) <= now;
    });
    if (targets.length === 0) return;
    let digest = this.#digest?.period === due.period ? this.#digest.digest : undefined;
    if (!digest) {
      try {
        const brief = await this.#options.report(
          {
            sla: scope.config.sla,
            configured: scope.checks,
            query: {
              ...monthRange(due.period, policy.timeZone),
              label: due.period,
              now,
              ...(settings.tenant !== undefined ? { tenant: settings.tenant } : {}),
            },
          },
          SUMMARY_TOP,
        );
        digest = digestOf(brief, { scheduledFor: due.dueAt, ...(scope.scopeNote ? { scopeNote: scope.scopeNote } : {}) });
        this.#digest = { period: due.period, digest };
      } catch (error) {
        for (const target of targets) this.#failed(due.period, target.name, now);
        this.#logger.warn('monthly summary: report not built, retrying later', {
          period: due.period,
          error: error instanceof Error ? error.message : String(error),
        });
        return;
      }
      // Late by more than a poll or two: the agent was not running (or the store not reachable) when it was due.
      if (now - due.dueAt > 5 * 60_000)
        this.#logger.info('monthly summary sent late: it was due while the agent was not running', {
          period: due.period,
          dueAt: new Date(due.dueAt).toISOString(),
        });
    }
    if (this.#closed) return;
    for (const target of targets) this.#send(scope.config, due.period, target, digest);
  }

  #send(config: LoadedConfig, period: string, target: SummaryTarget, digest: MonthlyDigest): void {
    const { clock, env } = this.#options;
    const key = keyOf(period, target.name);
    const outbox = openOutbox(target, {
      logger: this.#logger,
      now: () => clock.now(),
      baseDir: dirname(config.file),
      env,
      ...(this.#options.fetchTimeoutMs !== undefined ? { timeoutMs: this.#options.fetchTimeoutMs } : {}),
      ...(config.alerting?.maxAttempts !== undefined ? { maxAttempts: config.alerting.maxAttempts } : {}),
      ...(this.#options.retry ? { retry: this.#options.retry } : {}),
      ...(this.#options.onDelivery ? { onDelivery: this.#options.onDelivery } : {}),
    });
    this.#inFlight.set(key, outbox);
    outbox.send({
      meta: { event: 'monthly_summary', period },
      body: SUMMARY_BODIES[target.type](digest),
      onDone: (result) => this.#done(period, target.name, result),
    });
  }

  #done(period: string, notifier: string, result: DeliveryResult): void {
    const key = keyOf(period, notifier);
    this.#inFlight.delete(key);
    const now = this.#options.clock.now();
    if (result !== 'success') {
      this.#failed(period, notifier, now);
      return;
    }
    this.#failures.delete(key);
    const state = this.#state;
    if (!state) return;
    state.sent[period] = { ...state.sent[period], [notifier]: new Date(now).toISOString() };
    this.#logger.info('monthly summary sent', { period, notifier });
    this.#save(state);
  }

  #failed(period: string, notifier: string, now: number): void {
    const key = keyOf(period, notifier);
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 60_000, maxMs: 3_600_000 };
    const count = (this.#failures.get(key)?.count ?? 0) + 1;
    const waitMs = Math.min(initialMs * 2 ** (count - 1), maxMs);
    this.#failures.set(key, { count, retryAt: now + waitMs });
    this.#logger.warn('monthly summary not delivered; retrying later', { period, notifier, failures: count, retryInSeconds: Math.round(waitMs / 1000) });
  }

  /** The state, once this agent owns its file; undefined (and logged once per holder) while another agent does. */
  #own(): SummaryState | undefined {
    const { statePath, clock } = this.#options;
    if (!this.#claim?.ok) {
      this.#claim = claimStateFile(statePath, () => clock.now());
      if (!this.#claim.ok) {
        if (this.#claimRefusal !== this.#claim.heldBy) {
          this.#logger.error('monthly summary state file belongs to another agent; this one does not send the summary', {
            path: statePath,
            heldBy: this.#claim.heldBy,
            fix: 'run one shard-0 agent per agent.stateDir; a crashed agent’s claim lapses after 90 s',
          });
        }
        this.#claimRefusal = this.#claim.heldBy;
        return undefined;
      }
      this.#claimRefusal = undefined;
    }
    if (!this.#state) {
      const loaded = loadSummaryState(statePath, clock.now(), this.#logger);
      this.#state = loaded.state;
      // The start is written at once, so a summary due after it is sent even if the agent goes down before then.
      if (loaded.fresh) this.#save(loaded.state);
    }
    return this.#state;
  }

  #save(state: SummaryState): void {
    const { statePath } = this.#options;
    this.#saving = this.#saving
      .then(() => saveSummaryState(statePath, state))
      .catch((error: unknown) =>
        this.#logger.error('monthly summary state not saved', { path: statePath, error: error instanceof Error ? error.message : String(error) }),
      );
  }

  #release(): void {
    if (this.#claim?.ok) this.#claim.release();
    this.#claim = undefined;
    this.#state = undefined;
  }
}

type SummaryTarget = Extract<NotifierConfigInput, { type: SummaryNotifierType }>;

/** The notifiers named in the settings, or by default every one that takes a report and hears of all monitors. */
export function summaryTargets(config: Pick<LoadedConfig, 'alerting'>, names: readonly string[] | undefined): SummaryTarget[] {
  const notifiers = (config.alerting?.notifiers ?? []).filter((notifier): notifier is SummaryTarget => takesSummary(notifier.type));
  return names ? notifiers.filter((notifier) => names.includes(notifier.name)) : notifiers.filter(defaultSummaryNotifier);
}

/**
 * Shard 0 sends. With shared history (PostgreSQL) its report covers every shard's monitors; with per-shard SQLite
 * it covers its own and says so.
 */
export function summaryScope(share: { full: LoadedConfig; config: LoadedConfig; shard: { index: number; total: number } }): SummaryScope {
  if (share.shard.total <= 1) return { config: share.config, checks: reportChecks(share.config), sender: true };
  const shared = historySettings(share.config).backend === 'postgres';
  return {
    config: share.config,
    checks: reportChecks(shared ? share.full : share.config),
    sender: share.shard.index === 0,
    ...(shared
      ? {}
      : {
          scopeNote: `shard 0 of ${share.shard.total} only: each shard keeps its own SQLite history (history.backend "postgres" gives one summary of all shards)`,
        }),
  };
}

function keyOf(period: string, notifier: string): string {
  return `${period}\u0000${notifier}`;
}
