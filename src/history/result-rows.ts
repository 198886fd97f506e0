import { createHash } from 'node:crypto';
import type { CheckKind } from '../core/check.js';
import type { SqlExecutor } from './sql.js';
import type { ResultRow } from './types.js';

// Raw results as schema 5 keeps them: one narrow row per result. What repeats from row to row lives once in a
// dictionary table: the check (monitor, kind, tenant, mailbox) in history_checks, and the rest (OK or not, the
// interval, the step names, stage, reason, category and the server's text) in result_details. A row keeps the
// check's and the detail's ids, its start, its duration, its delivery time and its step times in whole
// milliseconds ("12,41,380"). On PostgreSQL that is ~60 bytes a row with its key, against ~345 before.
//
// Each dictionary row carries the start of the newest result that used it (to the hour), so that retention
// can delete the entries no kept result refers to.

/** A dictionary entry is written again when its newest result is this much newer than the one it records. */
const TOUCH_MS = 3_600_000;
/** Entries remembered per process; beyond it the cache starts over (a dictionary read costs one query). */
const CACHE_MAX = 100_000;
/** Rows per statement: 1, 4, 16, 64, 256 or 1,024 (a bounded number of statement shapes, as sql-store.ts). */
const MOST_ROWS = 1024;

export const RESULT_COLUMNS = ['check_id', 'started_at', 'detail', 'duration_ms', 'step_ms', 'delivery_ms'] as const;

interface Entry {
  id: number;
  usedAt: number;
}

/** The power-of-4 chunks that rows go to the database in (at most `most` rows each). */
export function* chunksOf<T>(rows: readonly T[], most: number): Generator<T[]> {
  for (let start = 0; start < rows.length;) {
    const left = Math.min(rows.length - start, most);
    let size = 1;
    while (size * 4 <= left) size *= 4;
    yield rows.slice(start, start + size);
    start += size;
  }
}

function checkKeyOf(row: Pick<ResultRow, 'monitor' | 'check' | 'tenant' | 'mailbox'>): string {
  return JSON.stringify([row.monitor, row.check, row.tenant, row.mailbox]);
}

/** The detail of a result: everything but the check, its times and its step times. */
export function detailOf(row: ResultRow): string {
  return JSON.stringify([
    row.ok ? 1 : 0,
    row.intervalS,
    row.steps.map((step) => step.step).join(','),
    row.stage ?? null,
    row.reason ?? null,
    row.category ?? null,
    row.serverText ?? null,
  ]);
}

export function stepMsOf(row: ResultRow): string {
  return row.steps.map((step) => Math.round(step.seconds * 1000)).join(',');
}

type Detail = Pick<ResultRow, 'ok' | 'intervalS' | 'stage' | 'reason' | 'category' | 'serverText'> & { stepNames: string[] };

export function parseDetail(text: string): Detail {
  const [ok, intervalS, names, stage, reason, category, serverText] = JSON.parse(text) as [
    number,
    number,
    string,
    string | null,
    string | null,
    string | null,
    string | null,
  ];
  return {
    ok: ok === 1,
    intervalS,
    stepNames: names === '' ? [] : names.split(','),
    ...(stage !== null ? { stage } : {}),
    ...(reason !== null ? { reason } : {}),
    ...(category !== null ? { category } : {}),
    ...(serverText !== null ? { serverText } : {}),
  };
}

/** A result row as schema 5 reads it back (with its check's columns joined and its detail parsed). */
export function resultOfSlim(
  row: Record<string, unknown>,
  check: { monitor: string; check: CheckKind; tenant: string; mailbox: string },
  detail: Detail,
): ResultRow {
  const ms = String(row.step_ms) === '' ? [] : String(row.step_ms).split(',').map(Number);
  const { stepNames, ...rest } = detail;
  const result: ResultRow = {
    monitor: check.monitor,
    tenant: check.tenant,
    mailbox: check.mailbox,
    check: check.check,
    startedAt: Number(row.started_at),
    durationMs: Number(row.duration_ms),
    ok: rest.ok,
    steps: stepNames.map((step, i) => ({ step: step as ResultRow['steps'][number]['step'], seconds: (ms[i] ?? 0) / 1000 })),
    intervalS: rest.intervalS,
  };
  if (rest.stage !== undefined) result.stage = rest.stage;
  if (rest.reason !== undefined) result.reason = rest.reason;
  if (rest.category !== undefined) result.category = rest.category;
  if (rest.serverText !== undefined) result.serverText = rest.serverText;
  if (row.delivery_ms !== null && row.delivery_ms !== undefined) result.deliveryMs = Number(row.delivery_ms);
  return result;
}

/** The ids of the dictionaries' entries, remembered between batches; one per store. */
export class ResultDictionary {
  readonly #checks = new Map<string, Entry>();
  readonly #details = new Map<string, Entry>();
  readonly #parsed = new Map<number, Detail>();

  /**
   * Writes the results (in the caller's transaction), their dictionary entries first. Returns what to remember
   * once the transaction has committed: ids handed out by a transaction that rolls back may not exist.
   */
  async write(tx: SqlExecutor, rows: readonly ResultRow[]): Promise<() => void> {
    if (rows.length === 0) return () => undefined;
    const checks = await this.#resolve(tx, this.#checks, rows, checkKeyOf, {
      table: 'history_checks',
      columns: ['monitor', 'check_kind', 'tenant', 'mailbox'],
      unique: ['monitor', 'check_kind', 'tenant', 'mailbox'],
      valuesOf: (key) => JSON.parse(key) as string[],
      keyOfRow: (row) => JSON.stringify([row.monitor, row.check_kind, row.tenant, row.mailbox].map(String)),
    });
    // Details are found by a digest: a server's text may be longer than a PostgreSQL index entry can be.
    const texts = new Map<string, string>();
    const detailKeys = rows.map((row) => {
      const text = detailOf(row);
      const key = createHash('sha256').update(text).digest('base64url');
      texts.set(key, text);
      return key;
    });
    const keyOfDetail = new Map(rows.map((row, i) => [row, detailKeys[i] ?? '']));
    const details = await this.#resolve(tx, this.#details, rows, (row) => keyOfDetail.get(row) ?? '', {
      table: 'result_details',
      columns: ['key', 'detail'],
      unique: ['key'],
      valuesOf: (key) => [key, texts.get(key)],
      keyOfRow: (row) => String(row.key),
    });
    const values = rows.map((row, i) => [
      checks.ids.get(checkKeyOf(row)),
      row.startedAt,
      details.ids.get(detailKeys[i] ?? ''),
      row.durationMs,
      stepMsOf(row),
      row.deliveryMs ?? null,
    ]);
    const tuple = `(${RESULT_COLUMNS.map(() => '?').join(', ')})`;
    for (const chunk of chunksOf(values, MOST_ROWS)) {
      await tx.run(`INSERT INTO results (${RESULT_COLUMNS.join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')} ON CONFLICT DO NOTHING`, chunk.flat());
    }
    return () => {
      checks.commit();
      details.commit();
    };
  }

  async #resolve(
    tx: SqlExecutor,
    cache: Map<string, Entry>,
    rows: readonly ResultRow[],
    keyOf: (row: ResultRow) => string,
    spec: {
      table: string;
      columns: readonly string[];
      unique: readonly string[];
      valuesOf: (key: string) => unknown[];
      keyOfRow: (row: Record<string, unknown>) => string;
    },
  ): Promise<{ ids: Map<string, number>; commit: () => void }> {
    const { table, columns } = spec;
    const newest = new Map<string, number>();
    for (const row of rows) {
      const key = keyOf(row);
      newest.set(key, Math.max(newest.get(key) ?? row.startedAt, row.startedAt));
    }
    const ids = new Map<string, number>();
    const fresh = new Map<string, Entry>();
    const unknown: Array<[string, number]> = [];
    const touch: Array<[string, number, number]> = [];
    for (const [key, usedAt] of newest) {
      const known = cache.get(key);
      if (!known) {
        unknown.push([key, usedAt]);
        continue;
      }
      ids.set(key, known.id);
      if (usedAt > known.usedAt + TOUCH_MS) touch.push([key, known.id, usedAt]);
    }
    // Known entries are only touched (an UPDATE draws no identity value; an upsert would, every time).
    if (touch.length > 0) {
      // One instant for all (the newest): an entry may be kept a little longer than its results, never shorter.
      const usedAt = touch.reduce((most, [, , at]) => Math.max(most, at), 0);
      for (const chunk of chunksOf(touch, MOST_ROWS)) {
        await tx.run(`UPDATE ${table} SET last_used_at = ? WHERE last_used_at < ? AND id IN (${chunk.map(() => '?').join(', ')})`, [
          usedAt,
          usedAt,
          ...chunk.map(([, id]) => id),
        ]);
      }
      for (const [key, id] of touch) fresh.set(key, { id, usedAt });
    }
    const tuple = `(${columns.map(() => '?').join(', ')}, ?)`;
    for (const chunk of chunksOf(unknown, Math.floor(MOST_ROWS / 2))) {
      const found = await tx.query<Record<string, unknown>>(
        `INSERT INTO ${table} (${columns.join(', ')}, last_used_at) VALUES ${chunk.map(() => tuple).join(', ')}
          ON CONFLICT (${spec.unique.join(', ')}) DO UPDATE SET last_used_at = CASE WHEN ${table}.last_used_at > excluded.last_used_at THEN ${table}.last_used_at ELSE excluded.last_used_at END
          RETURNING id, ${spec.unique.join(', ')}`,
        chunk.flatMap(([key, usedAt]) => [...spec.valuesOf(key), usedAt]),
      );
      for (const row of found) {
        const key = spec.keyOfRow(row);
        const id = Number(row.id);
        ids.set(key, id);
        fresh.set(key, { id, usedAt: newest.get(key) ?? 0 });
      }
    }
    return {
      ids,
      commit: () => {
        if (cache.size + fresh.size > CACHE_MAX) cache.clear();
        for (const [key, entry] of fresh) cache.set(key, entry);
      },
    };
  }

  /** Results of one check in [from, to), oldest first. */
  async read(tx: SqlExecutor, query: { monitor: string; check: CheckKind; from: number; to: number; limit?: number }): Promise<ResultRow[]> {
    const rows = await tx.query<Record<string, unknown>>(
      `SELECT r.started_at, r.detail, r.duration_ms, r.step_ms, r.delivery_ms, c.tenant, c.mailbox FROM results r JOIN history_checks c ON c.id = r.check_id
        WHERE c.monitor = ? AND c.check_kind = ? AND r.started_at >= ? AND r.started_at < ? ORDER BY r.started_at LIMIT ?`,
      [query.monitor, query.check, query.from, query.to, query.limit ?? 100_000],
    );
    const missing = [...new Set(rows.map((row) => Number(row.detail)))].filter((id) => !this.#parsed.has(id));
    for (const chunk of chunksOf(missing, MOST_ROWS)) {
      const found = await tx.query<{ id: number; detail: string }>(
        `SELECT id, detail FROM result_details WHERE id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      if (this.#parsed.size + found.length > CACHE_MAX) this.#parsed.clear();
      for (const row of found) this.#parsed.set(Number(row.id), parseDetail(String(row.detail)));
    }
    const out: ResultRow[] = [];
    for (const row of rows) {
      const detail = this.#parsed.get(Number(row.detail));
      // A detail pruned under a result that outlived it (it cannot: entries outlive their results by a day).
      if (!detail) continue;
      out.push(resultOfSlim(row, { monitor: query.monitor, check: query.check, tenant: String(row.tenant), mailbox: String(row.mailbox) }, detail));
    }
    return out;
  }
}

/** Deletes dictionary entries no kept result refers to (a day's margin over the results' cutoff). */
export async function pruneDictionaries(tx: SqlExecutor, resultsCutoff: number): Promise<void> {
  const cutoff = resultsCutoff - 86_400_000;
  await tx.run('DELETE FROM history_checks WHERE last_used_at < ?', [cutoff]);
  await tx.run('DELETE FROM result_details WHERE last_used_at < ?', [cutoff]);
}
