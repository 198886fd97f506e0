import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStore } from './backends/sqlite.js';
import { storeReport, type ReportJob } from './report-runner.js';

// The worker thread behind workerReport: one report on its own SQLite connection, answered as one message.

const { sqliteFile, job } = workerData as { sqliteFile: string; job: ReportJob };
try {
  const store = await openSqliteStore(sqliteFile, { now: job.query.now });
  try {
    parentPort?.postMessage({ ok: true, report: await storeReport(store)(job) });
  } finally {
    await store.close();
  }
} catch (error) {
  parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}
