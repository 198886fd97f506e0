import { Worker } from 'node:worker_threads';
import type { LoadedConfig } from '../config/types.js';
import { buildReport, type ConfiguredCheck, type ReportQuery, type SlaReport } from './report.js';
import { accountingPolicy } from './settings.js';
import type { HistoryStore } from './types.js';

/** What one report needs, as plain data (it crosses into a worker thread). */
export interface ReportJob {
  sla: LoadedConfig['sla'];
  configured: ConfiguredCheck[];
  query: ReportQuery;
}

export type ReportRunner = (job: ReportJob) => Promise<SlaReport>;

/** buildReport on the agent's own store, on this thread: for PostgreSQL, whose queries do not hold the thread. */
export function storeReport(store: HistoryStore): ReportRunner {
  return (job) => buildReport({ store, policy: accountingPolicy({ sla: job.sla }), configured: job.configured }, job.query);
}

const WORKER_TIMEOUT_MS = 10 * 60_000;
const WORKER_HEAP_MB = 1024;

/**
 * buildReport in a worker thread on its own connection to the SQLite file, as `mailprobe report` reads it beside
 * the agent: better-sqlite3 is synchronous, and a month of rollups for thousands of checks takes seconds that the
 * checks' timers and sockets must not wait for. Bounded in time and heap; a failure is a rejected promise.
 */
export function workerReport(sqliteFile: string): ReportRunner {
  return (job) =>
    new Promise<SlaReport>((resolve, reject) => {
      const worker = new Worker(new URL('./report-worker.js', import.meta.url), {
        workerData: { sqliteFile, job },
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      });
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`report not built within ${WORKER_TIMEOUT_MS / 60_000} min`));
      }, WORKER_TIMEOUT_MS);
      timer.unref();
      worker.once('message', (message: { ok: true; report: SlaReport } | { ok: false; message: string }) => {
        clearTimeout(timer);
        if (message.ok) resolve(message.report);
        else reject(new Error(message.message));
      });
      worker.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`report worker exited (${code})`));
      });
    });
}
