import type { LoadedConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../core/clock.js';
import type { Registry } from 'prom-client';
import { historyMetrics } from './metrics.js';
import { reportChecks, resolvePeriod } from './report.js';
import { workerBrief, workerReportJson, type BriefRunner } from './report-runner.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { claimStateFile, moveAside, type Claim } from '../files/durable-file.js';
import { CorruptHistoryError } from './backends/sqlite.js';
import { HistoryRecorder, type RestoredCheck } from './recorder.js';
import { accountingPolicy, configuredChecks, describeStore, historySettings, historyTarget, openHistoryStore } from './settings.js';
import { StoreHistoryReader } from './store-reader.js';
import type { HistoryStore } from './types.js';

export interface HistoryService {
  store: HistoryStore;
  recorder: HistoryRecorder;
  reader: StoreHistoryReader;
  /** Each check's state before the restart (empty when the store could not be read at start). */
  restored: RestoredCheck[];
  /** The SLA report's JSON text as UTF-8 (as `mailprobe report --format json` prints it) for a period asked in /api/report's words (period, from, to, monitor, tenant). */
  reportJson(ask: Record<string, string | undefined>): Promise<Buffer>;
  /** Builds a report's brief off the check loop: a worker thread on its own connection to the store (SQLite or PostgreSQL). */
  runBrief: BriefRunner;
  /** Whether the store takes writes, for /readyz (the error itself is in the log, not on this public answer). */
  health(): HistoryHealth;
  /** Call after a reload, so accounting and reports follow the new sla section and monitors. */
  configure(config: LoadedConfig): void;
  close(): Promise<void>;
}

export interface HistoryHealth {
  backend: HistoryStore['backend'];
  up: boolean;
  /** ISO time of the first failed write of the current outage. */
  downSince?: string;
}

const REOPEN_EVERY_MS = 30_000;

/**
 * Opens the configured store, restores what it knew, and starts recording. A store that cannot be opened
 * (database down, disk full) is retried in the background; monitoring starts regardless.
 */
export async function startHistory(
  config: LoadedConfig,
  deps: { clock: Clock; logger: Logger; registry: Registry; env: NodeJS.ProcessEnv },
): Promise<HistoryService | undefined> {
  const settings = historySettings(config);
  if (!settings.enabled) return undefined;
  const logger = deps.logger.child({ component: 'history' });
  // One agent writes a SQLite file, as one owns alert-state.json: a second agent sharing agent.stateDir would mix
  // two histories in it. Refused like an open that fails, so it is retried, counted and shown on /readyz, and
  // the file is taken over once the other agent's record goes stale.
  let claim: Claim | undefined;
  let refusedBy: string | undefined;
  const claimFile = (file: string): void => {
    if (claim?.ok) return;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    claim = claimStateFile(file, () => deps.clock.now());
    if (claim.ok) return;
    if (refusedBy !== claim.heldBy) {
      logger.error('history file belongs to another agent; this one keeps results in memory and tries again', {
        file,
        heldBy: claim.heldBy,
        fix: 'give each agent its own agent.stateDir or history.sqliteFile (replicas and shards too)',
      });
    }
    refusedBy = claim.heldBy;
    throw new Error(`history file ${file} belongs to another agent (${claim.heldBy})`);
  };
  const open = (): Promise<HistoryStore> => {
    if (settings.backend === 'sqlite') claimFile(settings.sqliteFile);
    return openHistoryStore(config, { env: deps.env, now: deps.clock.now() });
  };
  // A corrupt file is moved aside once, as alert-state.json is, and a new one started: retrying it for ever kept
  // /api/report failing and every result in memory.
  const openOrReplace = (): Promise<HistoryStore> =>
    open().catch((error: unknown) => {
      if (!(error instanceof CorruptHistoryError)) throw error;
      const movedTo = moveAside(error.file, deps.clock.now());
      logger.error('history file is corrupt; moved aside, a new one started', {
        file: error.file,
        error: error.code,
        ...(movedTo ? { movedTo } : {}),
        fix: `reports start again from now; keep ${movedTo ?? error.file} to recover older history by hand (sqlite3 .recover), or delete it`,
      });
      if (!movedTo) throw error;
      for (const suffix of ['-wal', '-shm']) moveAside(`${error.file}${suffix}`, deps.clock.now());
      return open();
    });
  const store = new ReopeningStore(settings.backend, openOrReplace, deps.clock, logger);
  let restored: RestoredCheck[] = [];
  const recorder = new HistoryRecorder({
    store,
    clock: deps.clock,
    logger,
    flushMs: settings.flushMs,
    retention: settings.retention,
    events: historyMetrics(deps.registry, settings.backend),
  });
  try {
    restored = await recorder.restore(configuredChecks(config));
    logger.info('history store open', { backend: settings.backend, where: describeStore(config), restoredChecks: restored.length });
  } catch (error) {
    logger.error('history store unavailable at start; checks run, results wait in memory', { backend: settings.backend, error: messageOf(error) });
  }
  recorder.start();
  let current = config;
  const reader = new StoreHistoryReader({ store, policy: accountingPolicy(config), configured: configuredChecks(config) });
  // The store's address is read when a report is asked for: a URL that cannot be read fails that report, as it
  // fails the store's opening, not the agent's start.
  const runBrief: BriefRunner = async (job, top) => workerBrief(historyTarget(config, deps.env))(job, top);
  const service: HistoryService = {
    store,
    recorder,
    reader,
    restored,
    runBrief,
    reportJson(ask) {
      const { timeZone } = accountingPolicy(current);
      const now = deps.clock.now();
      const period = resolvePeriod(
        {
          ...(ask.period !== undefined ? { period: ask.period } : {}),
          ...(ask.from !== undefined ? { from: ask.from } : {}),
          ...(ask.to !== undefined ? { to: ask.to } : {}),
        },
        timeZone,
        now,
        historySettings(current).retention.dailyDays,
      );
      return workerReportJson(historyTarget(config, deps.env))({
        sla: current.sla,
        configured: reportChecks(current),
        query: { ...period, now, ...(ask.monitor !== undefined ? { monitor: ask.monitor } : {}), ...(ask.tenant !== undefined ? { tenant: ask.tenant } : {}) },
      });
    },
    health() {
      const since = recorder.failingSince;
      return { backend: settings.backend, up: since === undefined, ...(since !== undefined ? { downSince: new Date(since).toISOString() } : {}) };
    },
    configure(next) {
      current = next;
      service.reader = new StoreHistoryReader({ store, policy: accountingPolicy(next), configured: configuredChecks(next) });
    },
    async close() {
      await recorder.close();
      await store.close();
      if (claim?.ok) claim.release();
    },
  };
  return service;
}

/** A HistoryStore that opens its backend on first use and again after a failed open, at most every 30 s. */
class ReopeningStore implements HistoryStore {
  readonly backend: HistoryStore['backend'];
  readonly #open: () => Promise<HistoryStore>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #store?: Promise<HistoryStore>;
  #failedAt = Number.NEGATIVE_INFINITY;

  constructor(backend: HistoryStore['backend'], open: () => Promise<HistoryStore>, clock: Clock, logger: Logger) {
    this.backend = backend;
    this.#open = open;
    this.#clock = clock;
    this.#logger = logger;
  }

  async #get(): Promise<HistoryStore> {
    if (!this.#store) {
      if (this.#clock.now() - this.#failedAt < REOPEN_EVERY_MS) throw new Error('history store not open (retrying)');
      this.#store = this.#open().catch((error: unknown) => {
        this.#store = undefined;
        this.#failedAt = this.#clock.now();
        throw error;
      });
      const wasFailing = Number.isFinite(this.#failedAt);
      void this.#store.then(
        () => wasFailing && this.#logger.info('history store opened', { backend: this.backend }),
        () => undefined,
      );
    }
    return this.#store;
  }

  write: HistoryStore['write'] = async (batch) => (await this.#get()).write(batch);
  checkStates: HistoryStore['checkStates'] = async (query) => (await this.#get()).checkStates(query);
  rollups: HistoryStore['rollups'] = async (query) => (await this.#get()).rollups(query);
  rollupTotals: HistoryStore['rollupTotals'] = async (query) => (await this.#get()).rollupTotals(query);
  rollupSums: HistoryStore['rollupSums'] = async (query) => (await this.#get()).rollupSums(query);
  checkSpans: HistoryStore['checkSpans'] = async (query) => (await this.#get()).checkSpans(query);
  hourTime: HistoryStore['hourTime'] = async (query) => (await this.#get()).hourTime(query);
  results: HistoryStore['results'] = async (query) => (await this.#get()).results(query);
  incidents: HistoryStore['incidents'] = async (query) => (await this.#get()).incidents(query);
  agentRuns: HistoryStore['agentRuns'] = async (query) => (await this.#get()).agentRuns(query);
  prune: HistoryStore['prune'] = async (cutoffs) => (await this.#get()).prune(cutoffs);
  schemaVersion: HistoryStore['schemaVersion'] = async () => (await this.#get()).schemaVersion();

  async close(): Promise<void> {
    const store = await this.#store?.catch(() => undefined);
    this.#store = undefined;
    await store?.close();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
