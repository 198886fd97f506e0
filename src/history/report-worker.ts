import { parentPort, workerData } from 'node:worker_threads';
import { openPostgresStore } from './backends/postgres.js';
import { openSqliteStore } from './backends/sqlite.js';
import { renderReport } from './report-format.js';
import { storeReport, type ReportAnswer, type ReportJob } from './report-runner.js';
import type { ReportStore } from './settings.js';

// The worker thread behind workerReport: one report on its own connection to the store, answered as one message.

const { target, job, answer } = workerData as { target: ReportStore; job: ReportJob; answer: ReportAnswer };
try {
  const store =
    target.backend === 'sqlite'
      ? await openSqliteStore(target.file, { now: job.query.now })
      : await openPostgresStore({ connectionString: target.connectionString, now: job.query.now, max: 3 });
  try {
    const report = await storeReport(store)(job);
    if (answer === 'report') parentPort?.postMessage({ ok: true, answer: report });
    else {
      const bytes = Buffer.from(renderReport(report, 'json'));
      parentPort?.postMessage({ ok: true, answer: bytes }, [bytes.buffer]);
    }
  } finally {
    await store.close();
  }
} catch (error) {
  parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}
