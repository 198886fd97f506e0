import { createHash } from 'node:crypto';
import type { CheckKind } from '../core/check.js';
import { chunksOf, columns, insertRows, type Column, type TableRows } from './bulk.js';
import type { SqlDriver, SqlExecutor } from './sql.js';
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

interface Entry {
  id: number;
  usedAt: number;
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

// A result's step times in whole milliseconds, each as an unsigned LEB128 number: a typical run's four steps
// (12, 41, 380, 200 ms) are 6 bytes, where schema 5's text "12,41,380,200" was 13, and that is what moved a
// PostgreSQL row from 64 to 56 bytes (rows are padded to 8). Rows of schema 5 keep their text in step_ms.
export function stepBytesOf(row: ResultRow): Buffer {
  const bytes: number[] = [];
  for (const step of row.steps) {
    let ms = Math.max(0, Math.round(step.seconds * 1000));
    while (ms >= 0x80) {
      bytes.push((ms % 0x80) | 0x80);
      ms = Math.floor(ms / 0x80);
    }
    bytes.push(ms);
  }
  return Buffer.from(bytes);
}

function stepMsFrom(bytes: Uint8Array): number[] {
  const ms: number[] = [];
  let value = 0;
  let scale = 1;
  for (const byte of bytes) {
    value += (byte & 0x7f) * scale;
    scale *= 0x80;
    if (byte < 0x80) {
      ms.push(value);
      value = 0;
      scale = 1;
    }
  }
  return ms;
}

function stepMsOfRow(row: Record<string, unknown>): number[] {
  if (row.step_bin instanceof Uint8Array) return stepMsFrom(row.step_bin);
  return String(row.step_ms) === '' ? [] : String(row.step_ms).split(',').map(Number);
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

/** A result row as schema 5 and later read it back (with its check's columns joined and its detail parsed). */
export function resultOfSlim(
  row: Record<string, unknown>,
  check: { monitor: string; check: CheckKind; tenant: string; mailbox: string },
  detail: Detail,
): ResultRow {
  const ms = stepMsOfRow(row);
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

/** What a batch's dictionary entries need: ids already known, and the entries to look up, add or touch. */
export interface DictionaryPlan {
  readonly rows: readonly ResultRow[];
  readonly detailKeys: readonly string[];
  readonly checks: EntryPlan;
  readonly details: EntryPlan;
  readonly texts: ReadonlyMap<string, string>;
}

interface EntryPlan {
  readonly ids: Map<string, number>;
  readonly newest: ReadonlyMap<string, number>;
  readonly unknown: string[];
  readonly touch: Array<[string, number]>;
}

interface DictionarySpec {
  table: string;
  /** Columns of an entry, the unique key first. */
  columns: readonly Column[];
  unique: readonly string[];
  valuesOf: (key: string) => unknown[];
  keyOfRow: (row: Record<string, unknown>) => string;
}

const CHECKS_SPEC: DictionarySpec = {
  table: 'history_checks',
  columns: columns({ monitor: 'text', check_kind: 'text', tenant: 'text', mailbox: 'text', last_used_at: 'int8' }),
  unique: ['monitor', 'check_kind', 'tenant', 'mailbox'],
  valuesOf: (key) => JSON.parse(key) as string[],
  keyOfRow: (row) => JSON.stringify([row.monitor, row.check_kind, row.tenant, row.mailbox].map(String)),
};

const RESULT_SPEC = columns({
  check_id: 'int8',
  started_at: 'int8',
  detail: 'int8',
  duration_ms: 'float8',
  delivery_ms: 'float8',
  step_ms: 'text',
  step_bin: 'bytea',
});

/** The ids of the dictionaries' entries, remembered between batches; one per store. */
export class ResultDictionary {
  readonly #checks = new Map<string, Entry>();
  readonly #details = new Map<string, Entry>();
  readonly #parsed = new Map<number, Detail>();

  /** The rows' entries as far as this process knows them; `settled` when no statement is needed. */
  plan(rows: readonly ResultRow[]): DictionaryPlan & { settled: boolean } {
    const texts = new Map<string, string>();
    // Details are found by a digest: a server's text may be longer than a PostgreSQL index entry can be.
    const detailKeys = rows.map((row) => {
      const text = detailOf(row);
      const key = createHash('sha256').update(text).digest('base64url');
      texts.set(key, text);
      return key;
    });
    const checks = entryPlan(this.#checks, rows, (row) => checkKeyOf(row));
    const details = entryPlan(this.#details, rows, (_, i) => detailKeys[i] ?? '');
    const settled = [checks, details].every((plan) => plan.unknown.length === 0 && plan.touch.length === 0);
    return { rows, detailKeys, checks, details, texts, settled };
  }

  /**
   * Finds or adds the plan's unknown entries and touches the stale ones (in the caller's transaction). Returns what
   * to remember once that transaction has committed: ids handed out by a transaction that rolls back may not exist.
   */
  async settle(tx: SqlExecutor, dialect: SqlDriver['dialect'], plan: DictionaryPlan): Promise<() => void> {
    const checks = await settleEntries(tx, dialect, plan.checks, CHECKS_SPEC);
    const details = await settleEntries(tx, dialect, plan.details, {
      table: 'result_details',
      columns: columns({ key: 'text', detail: 'text', last_used_at: 'int8' }),
      unique: ['key'],
      valuesOf: (key) => [key, plan.texts.get(key)],
      keyOfRow: (row) => String(row.key),
    });
    return () => {
      remember(this.#checks, checks);
      remember(this.#details, details);
    };
  }

  /** Remembers the check entries that a filter on monitor and check_kind (a WHERE clause's `AND …` tail) selects. */
  async warm(tx: SqlExecutor, filter: { where: string; params: readonly unknown[] }): Promise<void> {
    const { table, unique } = CHECKS_SPEC;
    const rows = await tx.query<Record<string, unknown>>(
      `SELECT id, ${unique.join(', ')}, last_used_at FROM ${table} WHERE 1 = 1${filter.where}`,
      filter.params,
    );
    remember(this.#checks, new Map(rows.map((row) => [CHECKS_SPEC.keyOfRow(row), { id: Number(row.id), usedAt: Number(row.last_used_at) }])));
  }

  /** The INSERT of a settled plan's results: the table, its columns, the rows and the conflict clause. */
  resultRows(plan: DictionaryPlan, steps: 'bytes' | 'text' = 'bytes'): TableRows {
    const rows = plan.rows.map((row, i) => [
      plan.checks.ids.get(checkKeyOf(row)),
      row.startedAt,
      plan.details.ids.get(plan.detailKeys[i] ?? ''),
      row.durationMs,
      row.deliveryMs ?? null,
      // Schema 7 keeps the steps in step_bin; step_ms, NOT NULL since schema 5, holds '' (one byte).
      steps === 'bytes' ? '' : row.steps.map((step) => Math.round(step.seconds * 1000)).join(','),
      ...(steps === 'bytes' ? [stepBytesOf(row)] : []),
    ]);
    return { table: 'results', spec: steps === 'bytes' ? RESULT_SPEC : RESULT_SPEC.slice(0, -1), rows, conflict: 'ON CONFLICT DO NOTHING' };
  }

  /** Writes the results and their entries in one transaction (the caller's): schema 5's copy, in its columns. */
  async write(tx: SqlExecutor, dialect: SqlDriver['dialect'], rows: readonly ResultRow[]): Promise<() => void> {
    if (rows.length === 0) return () => undefined;
    const plan = this.plan(rows);
    const remember = await this.settle(tx, dialect, plan);
    const { table, spec, rows: values, conflict } = this.resultRows(plan, 'text');
    await insertRows(tx, dialect, table, spec, values, { conflict });
    return remember;
  }

  /** Results of one check in [from, to), oldest first. */
  async read(tx: SqlExecutor, query: { monitor: string; check: CheckKind; from: number; to: number; limit?: number }): Promise<ResultRow[]> {
    const rows = await tx.query<Record<string, unknown>>(
      `SELECT r.started_at, r.detail, r.duration_ms, r.step_ms, r.step_bin, r.delivery_ms, c.tenant, c.mailbox FROM results r JOIN history_checks c ON c.id = r.check_id
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

function entryPlan(cache: ReadonlyMap<string, Entry>, rows: readonly ResultRow[], keyOf: (row: ResultRow, i: number) => string): EntryPlan {
  const newest = new Map<string, number>();
  rows.forEach((row, i) => {
    const key = keyOf(row, i);
    newest.set(key, Math.max(newest.get(key) ?? row.startedAt, row.startedAt));
  });
  const ids = new Map<string, number>();
  const unknown: string[] = [];
  const touch: Array<[string, number]> = [];
  for (const [key, usedAt] of newest) {
    const known = cache.get(key);
    if (!known) {
      unknown.push(key);
      continue;
    }
    ids.set(key, known.id);
    if (usedAt > known.usedAt + TOUCH_MS) touch.push([key, known.id]);
  }
  return { ids, newest, unknown, touch };
}

// Entries other agents share (every shard's OK results have the same detail) are read before they are written:
// an upsert of an existing entry locks it until the batch commits, and ten shards starting together queued
// behind each other's first batch (108 ms a statement; npm run bench:fleet -- --statements).
async function settleEntries(
  tx: SqlExecutor,
  dialect: SqlDriver['dialect'],
  plan: EntryPlan,
  spec: DictionarySpec,
  again = false,
): Promise<Map<string, Entry>> {
  const fresh = new Map<string, Entry>();
  const usedAtOf = (key: string): number => plan.newest.get(key) ?? 0;
  const stale: Array<[string, number]> = [...plan.touch];
  const found = async (rows: ReadonlyArray<Record<string, unknown>>, touchOlder: boolean): Promise<void> => {
    for (const row of rows) {
      const key = spec.keyOfRow(row);
      const id = Number(row.id);
      plan.ids.set(key, id);
      fresh.set(key, { id, usedAt: usedAtOf(key) });
      if (touchOlder && Number(row.last_used_at) + TOUCH_MS < usedAtOf(key)) stale.push([key, id]);
    }
  };
  const key = spec.unique.join(', ');
  const tuple = `(${spec.unique.map(() => '?').join(', ')})`;
  let missing = plan.unknown;
  for (const chunk of chunksOf(missing, Math.floor(MOST_ROWS / 2))) {
    await found(
      await tx.query<Record<string, unknown>>(
        `SELECT id, last_used_at, ${key} FROM ${spec.table} WHERE (${key}) IN (${chunk.map(() => tuple).join(', ')})`,
        chunk.flatMap((entry) => spec.valuesOf(entry).slice(0, spec.unique.length)),
      ),
      true,
    );
  }
  missing = missing.filter((entry) => !plan.ids.has(entry));
  // Added by another agent meanwhile: DO NOTHING returns no row, so those are read after.
  await found(
    await insertRows(
      tx,
      dialect,
      spec.table,
      spec.columns,
      missing.map((entry) => [...spec.valuesOf(entry), usedAtOf(entry)]),
      { conflict: `ON CONFLICT (${key}) DO NOTHING`, returning: `id, ${key}` },
    ),
    false,
  );
  const raced = missing.filter((entry) => !plan.ids.has(entry));
  if (raced.length > 0) {
    if (again) throw new Error(`${spec.table}: ${raced.length} entries neither found nor added (deleted meanwhile?)`);
    return new Map([...fresh, ...(await settleEntries(tx, dialect, { ...plan, unknown: raced, touch: [] }, spec, true))]);
  }
  // Known entries are only touched (an UPDATE draws no identity value; an upsert would, every time).
  if (stale.length > 0) {
    // One instant for all (the newest): an entry may be kept a little longer than its results, never shorter.
    const usedAt = stale.reduce((most, [entry]) => Math.max(most, usedAtOf(entry)), 0);
    for (const chunk of chunksOf(stale, MOST_ROWS)) {
      await tx.run(`UPDATE ${spec.table} SET last_used_at = ? WHERE last_used_at < ? AND id IN (${chunk.map(() => '?').join(', ')})`, [
        usedAt,
        usedAt,
        ...chunk.map(([, id]) => id),
      ]);
    }
    for (const [entry, id] of stale) fresh.set(entry, { id, usedAt });
  }
  return fresh;
}

function remember(cache: Map<string, Entry>, fresh: ReadonlyMap<string, Entry>): void {
  if (cache.size + fresh.size > CACHE_MAX) cache.clear();
  for (const [key, entry] of fresh) cache.set(key, entry);
}

/** Deletes dictionary entries no kept result refers to (a day's margin over the results' cutoff). */
export async function pruneDictionaries(tx: SqlExecutor, resultsCutoff: number): Promise<void> {
  const cutoff = resultsCutoff - 86_400_000;
  await tx.run('DELETE FROM history_checks WHERE last_used_at < ?', [cutoff]);
  await tx.run('DELETE FROM result_details WHERE last_used_at < ?', [cutoff]);
}
