import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

// The thread behind PasswordChecker: bcrypt comparisons, one at a time, answered by id.

parentPort?.on('message', (job: { id: number; password: string; hash: string }) => {
  let matches = false;
  try {
    matches = bcrypt.compareSync(job.password, job.hash);
  } catch {
    // A malformed hash matches nothing; the web config's loader already refused those it could recognise.
  }
  parentPort?.postMessage({ id: job.id, matches });
});
