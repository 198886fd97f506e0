import { parentPort, workerData } from 'node:worker_threads';
import { openPostgresStore } from './backends/postgres.js';
import { openSqliteStore } from './backends/sqlite.js';
import { storeReport, type ReportJob } from './report-runner.js';
import type { ReportStore } from './settings.js';

// The worker thread behind workerReport: one report on its own connection to the store, answered as one message.

const { target, job } = workerData as { target: ReportStore; job: ReportJob };
try {
  const store =
    target.backend === 'sqlite'
      ? await openSqliteStore(target.file, { now: job.query.now })
      : await openPostgresStore({ connectionString: target.connectionString, now: job.query.now, max: 3 });
  try {
    parentPort?.postMessage({ ok: true, report: await storeReport(store)(job) });
  } finally {
    await store.close();
  }
} catch (error) {
  parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}
