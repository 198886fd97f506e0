import { parentPort, workerData } from 'node:worker_threads';
import { openPostgresStore } from './backends/postgres.js';
import { openSqliteStore } from './backends/sqlite.js';
import { briefOf } from './report-brief.js';
import { renderReport } from './report-format.js';
import { storeReport, unpackChecks, type ReportAnswer, type WorkerJob } from './report-runner.js';
import type { ReportStore } from './settings.js';

// The worker thread behind workerBrief and workerReportJson: one report on its own connection to the store,
// answered as one message.

const { target, job, answer } = workerData as { target: ReportStore; job: WorkerJob; answer: ReportAnswer };
try {
  const store =
    target.backend === 'sqlite'
      ? await openSqliteStore(target.file, { now: job.query.now })
      : await openPostgresStore({ connectionString: target.connectionString, now: job.query.now, max: 3 });
  try {
    const report = await storeReport(store)({ ...job, configured: unpackChecks(job.configured) });
    if (answer !== 'json') parentPort?.postMessage({ ok: true, answer: briefOf(report, answer.brief) });
    else {
      const bytes = utf8Of(renderReport(report, 'json'));
      parentPort?.postMessage({ ok: true, answer: bytes }, [bytes.buffer]);
    }
  } finally {
    await store.close();
  }
} catch (error) {
  parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}

/**
 * The text's UTF-8 bytes. Text that is all ASCII (most reports: names, codes and numbers) is copied byte for byte:
 * encoding 174 MB of JSON as UTF-8 took ~0.5 s of the worker, the copy ~0.15 s (npm run bench:fleet's data).
 */
function utf8Of(text: string): Buffer<ArrayBuffer> {
  return Buffer.byteLength(text, 'utf8') === text.length ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
}
