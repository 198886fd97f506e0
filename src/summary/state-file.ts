import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { errorCode } from '../config/secrets.js';
import { moveAside, writeFileDurably } from '../files/durable-file.js';
import type { Logger } from '../log/logger.js';

// What went out, per month and notifier, so a restart or a crash never sends a month twice and an agent that
// was down at the scheduled time still sends it. Nothing secret is kept: month labels, notifier names, times.

const FORMAT_VERSION = 1;
/** Months remembered; older ones can never be due again. */
const KEEP_MONTHS = 12;

const SavedFile = z.object({
  version: z.literal(FORMAT_VERSION),
  /** Epoch ms this file was first written: a summary due before it is not sent (a new install mid-month). */
  since: z.number(),
  /** Month "YYYY-MM" → notifier name → ISO time it was delivered. */
  sent: z.record(z.string(), z.record(z.string(), z.string())),
});

export type SummaryState = z.infer<typeof SavedFile>;

/** Reads the file; a missing one starts fresh at `now`, a corrupt one is moved aside, logged and started fresh. */
export function loadSummaryState(path: string, now: number, logger: Logger): { state: SummaryState; fresh: boolean } {
  const fresh = { state: { version: FORMAT_VERSION, since: now, sent: {} } as SummaryState, fresh: true };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') logger.warn('monthly summary state unreadable, starting fresh', { path, error: errorCode(error) });
    return fresh;
  }
  const parsed = (() => {
    try {
      return SavedFile.safeParse(JSON.parse(text));
    } catch {
      return undefined;
    }
  })();
  if (parsed?.success) return { state: parsed.data, fresh: false };
  const movedTo = moveAside(path, now);
  logger.error('monthly summary state file is corrupt; starting fresh (the summary now due is not re-sent)', {
    path,
    ...(movedTo ? { movedTo } : {}),
    fix: `nothing is needed; delete ${movedTo ?? path} once you no longer need it`,
  });
  return fresh;
}

export async function saveSummaryState(path: string, state: SummaryState): Promise<void> {
  const months = Object.keys(state.sent).sort().slice(-KEEP_MONTHS);
  const sent = Object.fromEntries(months.map((month) => [month, state.sent[month] ?? {}]));
  await writeFileDurably(path, `${JSON.stringify({ version: FORMAT_VERSION, since: state.since, sent }, null, 1)}\n`);
}
