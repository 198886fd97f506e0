import { Worker } from 'node:worker_threads';
import type { CheckKind } from '../core/check.js';
import type { LoadedConfig } from '../config/types.js';
import { buildReport, type ConfiguredCheck, type ReportQuery, type SlaReport } from './report.js';
import { briefOf, type ReportBrief } from './report-brief.js';
import { accountingPolicy, type ReportStore } from './settings.js';
import type { HistoryStore } from './types.js';

/** What one report needs, as plain data (it crosses into a worker thread). */
export interface ReportJob {
  sla: LoadedConfig['sla'];
  configured: ConfiguredCheck[];
  query: ReportQuery;
}

export type ReportRunner = (job: ReportJob) => Promise<SlaReport>;

/** The report's brief with its `top` worst checks and longest outages (the monthly summary). */
export type BriefRunner = (job: ReportJob, top: number) => Promise<ReportBrief>;

/** buildReport on a store, on this thread (`mailprobe report`, the worker itself, tests). */
export function storeReport(store: HistoryStore): ReportRunner {
  return (job) => buildReport({ store, policy: accountingPolicy({ sla: job.sla }), configured: job.configured }, job.query);
}

/** The brief of storeReport's report, on this thread (tests). */
export function storeBrief(store: HistoryStore): BriefRunner {
  return async (job, top) => briefOf(await storeReport(store)(job), top);
}

const WORKER_TIMEOUT_MS = 10 * 60_000;
// A report of 200,000 checks keeps ~400 MB alive to its end: under a 1 GB heap and the default young generation
// the worker spent its time collecting (10.3 s for the UTC month against 5.1 s on the agent's thread); with 2 GB
// and a 96 MB young generation, 6.6 s (npm run bench:fleet's data, quiet machine, load 1.7). Nearly all it
// allocates survives to the end, so each scavenge copies; with 384 MB, /api/report's Berlin month took 5.1–6.0 s
// against 5.5–6.1 s at 96 MB, faster in each of three interleaved pairs (load ~2). V8 commits the young
// generation as it grows, so a small report does not pay for it.
const WORKER_HEAP_MB = 2048;
const WORKER_YOUNG_MB = 384;

/**
 * The report's brief, built in a worker thread on its own connection to the store, as `mailprobe report` reads it
 * beside the agent: a month of 20,000 checks through synchronous better-sqlite3 takes seconds, and one of 200,000
 * checks on PostgreSQL held the agent's thread for 7 s of parsing and accounting (npm run bench:fleet), seconds
 * that the checks' timers and sockets must not wait for. Only the brief crosses back. Bounded in time and heap; a
 * failure is a rejected promise.
 */
export function workerBrief(target: ReportStore): BriefRunner {
  return (job, top) => inWorker<ReportBrief>(target, job, { brief: top });
}

/**
 * The report as `mailprobe report --format json` prints it, as UTF-8 bytes, built and written out in the worker
 * and handed over without a copy: /api/report serves them as they are. Sent back as the report itself, 200,000
 * checks took 0.6 s to copy out of the worker and 1 s to copy into the agent's thread, and then as long again
 * to write out there (npm run bench:fleet).
 */
export function workerReportJson(target: ReportStore): (job: ReportJob) => Promise<Buffer> {
  return async (job) => {
    const bytes = await inWorker<Uint8Array>(target, job, 'json');
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** What the worker answers: the report's JSON text as bytes, or its brief with that many worst checks and outages. */
export type ReportAnswer = 'json' | { brief: number };

/** A ReportJob as it crosses into the worker: its configured checks as columns (packChecks). */
export interface WorkerJob extends Omit<ReportJob, 'configured'> {
  configured: PackedChecks;
}

/** Each distinct name once, and each check as three indexes into them: monitor, tenant, check. */
export interface PackedChecks {
  names: string[];
  indexes: Uint32Array<ArrayBuffer>;
}

/**
 * Configured checks as columns: cloned into the worker as 200,000 objects, they took ~0.4 s of the ~0.7 s before
 * its first line (npm run bench:fleet's configuration); as 100,000 distinct names and a transferred typed array,
 * the worker's first line comes ~0.3 s after it is spawned.
 */
export function packChecks(checks: readonly ConfiguredCheck[]): PackedChecks {
  const names: string[] = [];
  const indexOf = new Map<string, number>();
  const index = (name: string): number => {
    let at = indexOf.get(name);
    if (at === undefined) indexOf.set(name, (at = names.push(name) - 1));
    return at;
  };
  const indexes = new Uint32Array(checks.length * 3);
  checks.forEach((check, i) => {
    indexes[i * 3] = index(check.monitor);
    indexes[i * 3 + 1] = index(check.tenant);
    indexes[i * 3 + 2] = index(check.check);
  });
  return { names, indexes };
}

export function unpackChecks(packed: PackedChecks): ConfiguredCheck[] {
  const { names, indexes } = packed;
  const name = (i: number): string => names[indexes[i] ?? 0] ?? '';
  const checks: ConfiguredCheck[] = [];
  for (let i = 0; i < indexes.length; i += 3) checks.push({ monitor: name(i), tenant: name(i + 1), check: name(i + 2) as CheckKind });
  return checks;
}

function inWorker<T>(target: ReportStore, job: ReportJob, answer: ReportAnswer): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const configured = packChecks(job.configured);
    const worker = new Worker(new URL('./report-worker.js', import.meta.url), {
      workerData: { target, job: { ...job, configured } satisfies WorkerJob, answer },
      transferList: [configured.indexes.buffer],
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`report not built within ${WORKER_TIMEOUT_MS / 60_000} min`));
    }, WORKER_TIMEOUT_MS);
    timer.unref();
    worker.once('message', (message: { ok: true; answer: T } | { ok: false; message: string }) => {
      clearTimeout(timer);
      if (message.ok) resolve(message.answer);
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
