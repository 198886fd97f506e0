import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { errorCode } from '../config/secrets.js';
import { moveAside, writeFileDurably } from '../files/durable-file.js';
import { REASONS, reasonCategory } from '../core/reasons.js';
import type { Logger } from '../log/logger.js';
import { CHECK_KINDS, STAGES } from '../core/check.js';
import { CAUSES } from '../core/cause.js';
import type { AlertState } from './state.js';

const FORMAT_VERSION = 1;

const reason = z.enum(REASONS);
// Saved with the alert: without it, a restart would read the monitor's next cause as a new one and tell it again.
const cause = z.enum(CAUSES).optional();

const SavedState = z.object({
  monitor: z.string(),
  tenant: z.string(),
  mailbox: z.string(),
  check: z.enum(CHECK_KINDS),
  failures: z.number().int().min(0),
  successes: z.number().int().min(0),
  since: z.number(),
  last: z.object({
    stage: z.enum(STAGES),
    reason,
    summary: z.string(),
    serverText: z.string().optional(),
    detail: z.string().optional(),
    fixes: z.array(z.string()),
    cause,
  }),
  firing: z.object({ reason, cause, notifiedAt: z.number(), notifiers: z.array(z.string()) }).optional(),
});

const SavedFile = z.object({ version: z.literal(FORMAT_VERSION), alerts: z.array(z.unknown()) });

/**
 * Reads the saved alert states. A missing file is a first start; an unreadable or foreign one is logged and
 * ignored, because refusing to start would stop the checks over a notification detail. Entries that do not
 * parse (e.g. a reason code retired since) are dropped one by one.
 */
export function loadAlertStates(path: string, logger: Logger): AlertState[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') logger.warn('alert state file unreadable, starting empty', { path, error: errorCode(error) });
    return [];
  }
  let file: z.infer<typeof SavedFile>;
  try {
    file = SavedFile.parse(JSON.parse(text));
  } catch {
    const movedTo = moveAside(path, Date.now());
    logger.error('alert state file is corrupt; starting with no saved alert state, checks and notifications go on', {
      path,
      ...(movedTo ? { movedTo } : {}),
      fix: `nothing is needed to keep monitoring; alerts that were firing notify once more. Delete ${movedTo ?? path} once you no longer need it.`,
    });
    return [];
  }
  const states = file.alerts.flatMap((entry) => {
    const parsed = SavedState.safeParse(entry);
    if (!parsed.success) return [];
    const { last, firing, ...rest } = parsed.data;
    // The category is derived, not stored, so a recategorised reason takes effect after an upgrade.
    return [{ ...rest, last: { ...last, category: reasonCategory(last.reason) }, ...(firing ? { firing } : {}) }];
  });
  if (states.length < file.alerts.length) logger.warn('alert state entries dropped as unreadable', { path, dropped: file.alerts.length - states.length });
  return states;
}

export function serialiseAlertStates(states: readonly AlertState[]): string {
  const alerts = states.map(({ last: { category: _derived, ...last }, ...rest }) => ({ ...rest, last }));
  return `${JSON.stringify({ version: FORMAT_VERSION, alerts }, null, 1)}\n`;
}

export interface StateSaverOptions {
  path: string;
  snapshot(): readonly AlertState[];
  logger: Logger;
  /** Changes within this window share one write (default 1000 ms). */
  delayMs?: number;
}

// Checks fail in bursts (a tenant's secret expires: every monitor of it fails in the same minute), so writes
// are coalesced, and at most one is in progress.
export class StateSaver {
  readonly #options: StateSaverOptions;
  #timer?: NodeJS.Timeout;
  #writing?: Promise<void>;
  #dirty = false;

  constructor(options: StateSaverOptions) {
    this.#options = options;
  }

  markDirty(): void {
    this.#dirty = true;
    if (this.#timer || this.#writing) return;
    this.#timer = setTimeout(() => void this.flush(), this.#options.delayMs ?? 1000);
    this.#timer.unref();
  }

  /** Writes now if anything changed; resolves when the file on disk is current. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#writing || this.#dirty) {
      if (this.#writing) {
        await this.#writing;
        continue;
      }
      this.#dirty = false;
      this.#writing = this.#write().finally(() => {
        this.#writing = undefined;
      });
    }
  }

  async #write(): Promise<void> {
    const { path, snapshot, logger } = this.#options;
    try {
      await writeFileDurably(path, serialiseAlertStates(snapshot()));
    } catch (error) {
      logger.error('alert state not saved', { path, error: errorCode(error) });
    }
  }
}
