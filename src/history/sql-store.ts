import { isCause } from '../core/cause.js';
import { isProtocol, type CheckKind } from '../core/check.js';
import { isCloud } from '../core/clouds.js';
import type { IncidentDiagnosis } from '../core/state.js';
import { DELIVERY_COLUMNS, DURATION_COLUMNS, INCIDENT_DIAGNOSIS_COLUMNS, ROLLUP_SUMS } from './migrations.js';
import { createPartitions, monthsOf, nextUtcMonth, prunePartitions, type PartitionedTable } from './partitions.js';
import { DAY_MS, HOUR_MS } from './calendar.js';
import { startOfUtcMonth } from './spans.js';
import { columns, insertRows, together, unnestInsert, type Column, type TableRows } from './bulk.js';
import { pruneDictionaries, ResultDictionary, type DictionaryPlan } from './result-rows.js';
import type { SqlDriver, SqlExecutor } from './sql.js';
import {
  addTotals,
  type AgentRunRow,
  type CheckRef,
  type CheckSpanTotals,
  type CheckStateRow,
  type CheckStatesQuery,
  type CheckTime,
  type HistoryStore,
  type HoursQuery,
  type IncidentQuery,
  type IncidentRow,
  type PruneCounts,
  type PruneCutoffs,
  type ResultRow,
  type RollupDelta,
  type RollupPart,
  type RollupQuery,
  type RollupSumsQuery,
  type TimeRollup,
  type Totals,
  type WriteBatch,
} from './types.js';

// The store's SQL, written once for both backends: SQLite and PostgreSQL agree on everything used here
// (UPSERT with excluded, multi-row VALUES, window-free aggregates). Only the drivers differ.

type Row = Record<string, unknown>;

const ROLLUP_SPEC: readonly Column[] = columns({
  monitor: 'text',
  check_kind: 'text',
  bucket: 'int8',
  tenant: 'text',
  ...Object.fromEntries(ROLLUP_SUMS.map((column) => [column, column === 'duration_ms_sum' ? 'float8' : 'int8'] as const)),
});
const INCIDENT_SPEC: readonly Column[] = columns({
  monitor: 'text',
  check_kind: 'text',
  started_at: 'int8',
  tenant: 'text',
  ended_at: 'int8',
  reason: 'text',
  stage: 'text',
  server_text: 'text',
  failures: 'int8',
  fail_ms: 'int8',
  last_failure_at: 'int8',
  ...Object.fromEntries(INCIDENT_DIAGNOSIS_COLUMNS.map((column) => [column, 'text'] as const)),
  cause: 'text',
});
const STATE_SPEC: readonly Column[] = columns({
  monitor: 'text',
  check_kind: 'text',
  tenant: 'text',
  mailbox: 'text',
  first_seen_at: 'int8',
  last_at: 'int8',
  last_ok: 'int8',
  interval_s: 'int8',
  consecutive_failures: 'int8',
  last_success_at: 'int8',
  open_incident_at: 'int8',
  status: 'text',
});
const RUN_SPEC: readonly Column[] = columns({ id: 'text', started_at: 'int8', last_seen_at: 'int8', stopped_at: 'int8' });
const INCIDENT_COLUMNS = INCIDENT_SPEC.map((column) => column.name);
const STATE_COLUMNS = STATE_SPEC.map((column) => column.name);
const RUN_COLUMNS = RUN_SPEC.map((column) => column.name);
const STATE_NUMBERS = ['first_seen_at', 'last_at', 'last_ok', 'interval_s', 'consecutive_failures', 'last_success_at', 'open_incident_at'];

/** A state row with its numbers as one text (PostgreSQL, in STATE_NUMBERS' order) as the row with each in its column: '' is NULL. */
function unpackStateNumbers(row: Row): Row {
  if (typeof row.numbers !== 'string') return row;
  const values = row.numbers.split(',');
  const at = (i: number): number | null => {
    const value = values[i];
    return value === undefined || value === '' ? null : Number(value);
  };
  return {
    monitor: row.monitor,
    check_kind: row.check_kind,
    tenant: row.tenant,
    mailbox: row.mailbox,
    status: row.status,
    first_seen_at: at(0),
    last_at: at(1),
    last_ok: at(2),
    interval_s: at(3),
    consecutive_failures: at(4),
    last_success_at: at(5),
    open_incident_at: at(6),
  };
}

const ROLLUP_TABLES = { hour: 'rollup_hourly', day: 'rollup_daily', month: 'rollup_monthly' } as const;

export class SqlHistoryStore implements HistoryStore {
  readonly #db: SqlDriver;
  readonly #results = new ResultDictionary();
  /** PostgreSQL partitions known to exist (`table:month`). */
  readonly #partitions = new Set<string>();

  constructor(driver: SqlDriver) {
    this.#db = driver;
  }

  get backend(): SqlDriver['dialect'] {
    return this.#db.dialect;
  }

  async write(batch: WriteBatch): Promise<void> {
    if (this.#db.dialect !== 'postgres') return this.#write(batch);
    const needed: Array<[PartitionedTable, Iterable<number>]> = [
      ['results', batch.results.map((row) => row.startedAt)],
      ['rollup_hourly', batch.hourly.map((row) => row.bucket)],
      ['rollup_daily', batch.daily.map((row) => row.bucket)],
      ['rollup_monthly', batch.monthly.map((row) => row.bucket)],
    ];
    for (const [table, instants] of needed) await this.#ensurePartitions(table, monthsOf(instants));
    try {
      await this.#write(batch);
    } catch (error) {
      // 23514: no partition for a row; another process has dropped one this process thought was there.
      if ((error as { code?: unknown }).code !== '23514') throw error;
      this.#partitions.clear();
      for (const [table, instants] of needed) await this.#ensurePartitions(table, monthsOf(instants));
      await this.#write(batch);
    }
  }

  /** PostgreSQL: creates the monthly partitions of every partitioned table for [from, to) (a bulk load's). */
  async preparePartitions(from: number, to: number): Promise<void> {
    if (this.#db.dialect !== 'postgres') return;
    const months: number[] = [];
    for (let month = monthsOf([from])[0] ?? from; month < to; month = nextUtcMonth(month)) months.push(month);
    for (const table of ['results', 'rollup_hourly', 'rollup_daily', 'rollup_monthly'] as const) await this.#ensurePartitions(table, months);
  }

  async #ensurePartitions(table: PartitionedTable, months: readonly number[]): Promise<void> {
    // The month after the newest one too, so that the first write of a month seldom waits for its partition.
    const wanted = [...new Set(months.flatMap((month) => [month, nextUtcMonth(month)]))].filter((month) => !this.#partitions.has(`${table}:${month}`));
    if (wanted.length === 0) return;
    await this.#db.transaction((tx) => createPartitions(tx, table, wanted));
    for (const month of wanted) this.#partitions.add(`${table}:${month}`);
  }

  async #write(batch: WriteBatch): Promise<void> {
    const dialect = this.#db.dialect;
    // New dictionary entries first, in a transaction of their own: a batch then locks only its own checks' rows.
    const plan = this.#results.plan(batch.results);
    if (!plan.settled) (await this.#db.transaction((tx) => this.#results.settle(tx, dialect, plan)))();
    const inserts = this.#inserts(batch, plan);
    if (dialect === 'postgres') {
      const one = together(
        inserts.filter((insert) => insert.rows.length > 0).map((insert) => unnestInsert(insert.table, insert.spec, insert.rows, insert.conflict)),
      );
      if (one) await this.#db.run(one.sql, one.params);
      return;
    }
    await this.#db.transaction(async (tx) => {
      for (const insert of inserts) await insertRows(tx, dialect, insert.table, insert.spec, insert.rows, { conflict: insert.conflict });
    });
  }

  /** The sum of two rollup values as the backend keeps it: PostgreSQL keeps a zero as NULL (schema 6). */
  #sumOf(kept: string, added: string): string {
    return this.#db.dialect === 'postgres' ? `NULLIF(COALESCE(${kept}, 0) + COALESCE(${added}, 0), 0)` : `${kept} + ${added}`;
  }

  /** A batch as one INSERT per table, results first. */
  #inserts(batch: WriteBatch, plan: DictionaryPlan): TableRows[] {
    const rollups = (['hour', 'day', 'month'] as const).map((grain) => {
      const table = ROLLUP_TABLES[grain];
      const add = ROLLUP_SUMS.map((column) => `${column} = ${this.#sumOf(`${table}.${column}`, `excluded.${column}`)}`).join(', ');
      const deltas = { hour: batch.hourly, day: batch.daily, month: batch.monthly }[grain];
      return {
        table,
        spec: ROLLUP_SPEC,
        rows: mergeDeltas(deltas).map((delta) => rollupValues(delta, this.#db.dialect)),
        conflict: `ON CONFLICT (monitor, check_kind, bucket) DO UPDATE SET tenant = excluded.tenant, ${add}`,
      };
    });
    // A check's first result stays its first, even when an agent that could not read the store at start
    // writes the check as new.
    const keepFirstSeen = replaceClause(STATE_COLUMNS, 2).replace(
      'first_seen_at = excluded.first_seen_at',
      'first_seen_at = CASE WHEN check_state.first_seen_at < excluded.first_seen_at THEN check_state.first_seen_at ELSE excluded.first_seen_at END',
    );
    return [
      this.#results.resultRows(plan),
      ...rollups,
      {
        table: 'incidents',
        spec: INCIDENT_SPEC,
        rows: lastOf(batch.incidents, (i) => `${i.monitor}\u0000${i.check}\u0000${i.startedAt}`).map(incidentValues),
        conflict: replaceClause(INCIDENT_COLUMNS, 3),
      },
      {
        table: 'check_state',
        spec: STATE_SPEC,
        rows: lastOf(batch.checkStates, (s) => `${s.monitor}\u0000${s.check}`).map(stateValues),
        conflict: keepFirstSeen,
      },
      { table: 'agent_runs', spec: RUN_SPEC, rows: batch.agentRun ? [runValues(batch.agentRun)] : [], conflict: replaceClause(RUN_COLUMNS, 1) },
    ];
  }

  async checkStates(query: CheckStatesQuery = {}): Promise<CheckStateRow[]> {
    // However many checks (a shard's 20,000 of 200,000): only theirs are read.
    const { where, params } = query.checks && query.checks.length > MONITORS_PER_FILTER ? checkList(this.#db.dialect, query.checks) : checkFilter(query.checks);
    const columns = query.status === false ? STATE_COLUMNS.filter((column) => column !== 'status') : STATE_COLUMNS;
    // PostgreSQL sends the numbers as one text (pg's cost is per field: 200,000 states took 0.7 s of this thread
    // as eleven columns, 0.3 s as five; npm run bench:fleet); an empty part is NULL.
    const selected =
      this.#db.dialect === 'postgres'
        ? [...columns.filter((column) => !STATE_NUMBERS.includes(column)), `CONCAT(${STATE_NUMBERS.join(", ',', ")}) AS numbers`]
        : columns;
    const states = await this.#db.mapRows(`SELECT ${selected.join(', ')} FROM check_state WHERE 1 = 1${where} ORDER BY monitor, check_kind`, params, stateOf);
    // A restart of a shard: its checks' dictionary ids in one read, not one lookup per batch for an interval.
    if (query.forWrites) await this.#results.warm(this.#db, { where, params });
    return onlyChecks(states, query.checks);
  }

  async rollups(query: RollupQuery): Promise<TimeRollup[]> {
    const { where, params } = checkFilter(query.checks);
    // Five columns, not the 26 of a whole row: better-sqlite3 builds an object per row, and the width of the row
    // set the cost (~17 µs a row of 30 columns on this machine; 213,600 of them for one status page off UTC).
    const ranges = query.ranges ?? [];
    const within = ranges.length > 0 ? ` AND (${ranges.map(() => '(bucket >= ? AND bucket < ?)').join(' OR ')})` : '';
    const rows = await this.#db.query<Row>(
      `SELECT monitor, check_kind, bucket, ok_ms, fail_ms FROM ${ROLLUP_TABLES[query.grain]} WHERE bucket >= ? AND bucket < ?${within}${where} ORDER BY monitor, check_kind, bucket`,
      [query.from, query.to, ...ranges.flatMap((range) => [range.from, range.to]), ...params],
    );
    return onlyChecks(
      rows.map((row) => ({
        monitor: String(row.monitor),
        check: row.check_kind as CheckKind,
        bucket: Number(row.bucket),
        okMs: Number(row.ok_ms),
        failMs: Number(row.fail_ms),
      })),
      query.checks,
    );
  }

  async rollupTotals(query: RollupQuery): Promise<RollupDelta[]> {
    const { where, params } = checkFilter(query.checks);
    const rows = await this.#db.query<Row>(
      `SELECT monitor, check_kind, ${summed(this.#db.dialect)} FROM ${ROLLUP_TABLES[query.grain]}
        WHERE bucket >= ? AND bucket < ?${where} GROUP BY monitor, check_kind ORDER BY monitor, check_kind`,
      [query.from, query.to, ...params],
    );
    return onlyChecks(rows.map(rollupOf), query.checks);
  }

  async rollupSums(query: RollupSumsQuery): Promise<RollupDelta[]> {
    if (query.parts.length === 0) return [];
    const { where, params } = checkFilter(query.checks);
    const selects = query.parts.map(
      (part) =>
        `SELECT monitor, check_kind, bucket, tenant, ${ROLLUP_SUMS.map((column) => (part.sign < 0 ? `0 - ${column} AS ${column}` : column)).join(', ')}
          FROM ${ROLLUP_TABLES[part.grain]} WHERE bucket >= ? AND bucket < ?${where}`,
    );
    const rows = await this.#db.query<Row>(
      `SELECT monitor, check_kind, ${summed(this.#db.dialect)}
        FROM (${selects.join(' UNION ALL ')}) parts GROUP BY monitor, check_kind ORDER BY monitor, check_kind`,
      query.parts.flatMap((part) => [part.from, part.to, ...params]),
    );
    return onlyChecks(rows.map(rollupOf), query.checks);
  }

  async checkSpans(query: RollupSumsQuery): Promise<CheckSpanTotals[]> {
    const { where, params } = checkFilter(query.checks);
    // Each part joined on the check, not all parts summed in one GROUP BY: a part holding at most one bucket per
    // check (a month, the hour at each end of a Berlin month) is a join on its table, so the database adds ~30
    // columns of three rows instead of aggregating 400,000 rows (0.8 s instead of 1.9 s at 200,000 checks,
    // npm run bench:fleet). A longer part is summed per check first.
    const joins = query.parts.map((part, i) => {
      const table = ROLLUP_TABLES[part.grain];
      const on = `p${i}.monitor = s.monitor AND p${i}.check_kind = s.check_kind`;
      const sql = atMostOneBucket(part)
        ? `LEFT JOIN ${table} p${i} ON ${on} AND p${i}.bucket >= ? AND p${i}.bucket < ?`
        : `LEFT JOIN (SELECT monitor, check_kind, ${ROLLUP_SUMS.map((column) => `SUM(${column}) AS ${column}`).join(', ')} FROM ${table} WHERE bucket >= ? AND bucket < ? GROUP BY monitor, check_kind) p${i} ON ${on}`;
      return { sql, params: [part.from, part.to] };
    });
    const sumOf = (column: string): string =>
      query.parts.map((part, i) => `${i === 0 ? (part.sign < 0 ? '0 - ' : '') : part.sign < 0 ? ' - ' : ' + '}COALESCE(p${i}.${column}, 0)`).join('');
    const summed = query.parts.length === 0 ? 'NULL' : query.parts.map((_, i) => `p${i}.monitor IS NOT NULL`).join(' OR ');
    // PostgreSQL sends a check's numbers as one text: its span's four, then its sums if it has any. In no order:
    // sorting 200,000 rows held back the first until the database had joined them all (~0.9 s); unsorted, rows
    // arrive from ~0.4 s while the rest are joined, and all of them ~0.3 s sooner (npm run bench:fleet's data).
    const selected =
      this.#db.dialect === 'postgres'
        ? `CONCAT_WS(',', ${[
            ...SPAN_NUMBERS.map((column) => `s.${column}`),
            ...(query.parts.length === 0 ? [] : [`CASE WHEN ${summed} THEN CONCAT_WS(',', ${ROLLUP_SUMS.map(sumOf).join(', ')}) END`]),
          ].join(', ')}) AS numbers`
        : [
            ...SPAN_NUMBERS.map((column) => `s.${column}`),
            `CASE WHEN ${summed} THEN 1 ELSE 0 END AS summed`,
            ...(query.parts.length === 0 ? [] : ROLLUP_SUMS.map((column) => `${sumOf(column)} AS ${column}`)),
          ].join(', ');
    const spans = await this.#db.mapRows(
      `SELECT s.monitor, s.check_kind, s.tenant, ${selected}
        FROM (SELECT * FROM check_state WHERE 1 = 1${where}) s ${joins.map((join) => join.sql).join(' ')}`,
      [...params, ...joins.flatMap((join) => join.params)],
      checkSpanOf,
    );
    return onlyChecks(spans, query.checks);
  }

  async hourTime(query: HoursQuery): Promise<CheckTime[]> {
    if (query.ranges.length === 0) return [];
    const { where, params } = checkFilter(query.checks);
    const rows = await this.#db.query<Row>(
      `SELECT monitor, check_kind, SUM(ok_ms) AS ok_ms, SUM(fail_ms) AS fail_ms FROM rollup_hourly
        WHERE (${query.ranges.map(() => '(bucket >= ? AND bucket < ?)').join(' OR ')})${where} GROUP BY monitor, check_kind`,
      [...query.ranges.flatMap((range) => [range.from, range.to]), ...params],
    );
    return onlyChecks(
      rows.map((row) => ({ monitor: String(row.monitor), check: row.check_kind as CheckKind, okMs: Number(row.ok_ms), failMs: Number(row.fail_ms) })),
      query.checks,
    );
  }

  async results(query: { monitor: string; check: CheckKind; from: number; to: number; limit?: number }): Promise<ResultRow[]> {
    return this.#results.read(this.#db, query);
  }

  async incidents(query: IncidentQuery): Promise<IncidentRow[]> {
    const checks = checkFilter(query.checks);
    const params: unknown[] = [query.to, query.from];
    let where = 'started_at < ? AND (ended_at IS NULL OR ended_at > ?)';
    if (query.monitor !== undefined) {
      where += ' AND monitor = ?';
      params.push(query.monitor);
    }
    if (query.tenant !== undefined) {
      where += ' AND tenant = ?';
      params.push(query.tenant);
    }
    where += checks.where;
    params.push(...checks.params);
    const incidents = await this.#db.mapRows(
      `SELECT ${INCIDENT_COLUMNS.join(', ')} FROM incidents WHERE ${where} ORDER BY started_at DESC, monitor, check_kind LIMIT ?`,
      [...params, query.limit],
      incidentOf,
    );
    return onlyChecks(incidents, query.checks);
  }

  async agentRuns(query: { from: number; to: number }): Promise<AgentRunRow[]> {
    const rows = await this.#db.query<Row>(
      `SELECT ${RUN_COLUMNS.join(', ')} FROM agent_runs WHERE started_at < ? AND COALESCE(stopped_at, last_seen_at) > ? ORDER BY started_at, id`,
      [query.to, query.from],
    );
    return rows.map((row) => ({
      id: String(row.id),
      startedAt: Number(row.started_at),
      lastSeenAt: Number(row.last_seen_at),
      ...optionalNumber('stoppedAt', row.stopped_at),
    }));
  }

  async prune(cutoffs: PruneCutoffs): Promise<PruneCounts> {
    const postgres = this.#db.dialect === 'postgres';
    // PostgreSQL drops the partitions of whole months past the cutoff and deletes in the month it falls in.
    const expire = (tx: SqlExecutor, table: PartitionedTable, column: string, cutoff: number): Promise<number> =>
      postgres ? prunePartitions(tx, table, cutoff) : tx.run(`DELETE FROM ${table} WHERE ${column} < ?`, [cutoff]);
    const counts = await this.#db.transaction(async (tx) => {
      const counts = {
        results: await expire(tx, 'results', 'started_at', cutoffs.results),
        hourly: await expire(tx, 'rollup_hourly', 'bucket', cutoffs.hourly),
        daily: await expire(tx, 'rollup_daily', 'bucket', cutoffs.daily),
        monthly: await expire(tx, 'rollup_monthly', 'bucket', cutoffs.monthly),
        // An open incident is kept whatever its age: it is still going on.
        incidents: await tx.run('DELETE FROM incidents WHERE ended_at IS NOT NULL AND ended_at < ?', [cutoffs.daily]),
        agentRuns: await tx.run('DELETE FROM agent_runs WHERE COALESCE(stopped_at, last_seen_at) < ?', [cutoffs.daily]),
      };
      await pruneDictionaries(tx, cutoffs.results);
      return counts;
    });
    if (postgres) {
      for (const key of [...this.#partitions]) {
        const [table, month] = key.split(':');
        const cutoff =
          table === 'results' ? cutoffs.results : table === 'rollup_hourly' ? cutoffs.hourly : table === 'rollup_daily' ? cutoffs.daily : cutoffs.monthly;
        if (nextUtcMonth(Number(month)) <= cutoff) this.#partitions.delete(key);
      }
    }
    return counts;
  }

  async schemaVersion(): Promise<number> {
    const rows = await this.#db.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
    return Number(rows[0]?.version ?? 0);
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

function replaceClause(columns: readonly string[], keyColumns: number): string {
  const key = columns.slice(0, keyColumns).join(', ');
  return `ON CONFLICT (${key}) DO UPDATE SET ${columns
    .slice(keyColumns)
    .map((column) => `${column} = excluded.${column}`)
    .join(', ')}`;
}

function lastOf<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(key(row), row);
  return [...byKey.values()];
}

// PostgreSQL refuses an UPSERT that touches one row twice, so deltas of one bucket are added up first.
function mergeDeltas(deltas: readonly RollupDelta[]): RollupDelta[] {
  const merged = new Map<string, RollupDelta>();
  for (const delta of deltas) {
    const key = `${delta.monitor}\u0000${delta.check}\u0000${delta.bucket}`;
    const into = merged.get(key);
    if (!into) {
      merged.set(key, { ...delta, durationBuckets: [...delta.durationBuckets], deliveryBuckets: [...delta.deliveryBuckets] });
      continue;
    }
    into.tenant = delta.tenant;
    addTotals(into, delta);
  }
  return [...merged.values()];
}

// A long list costs more as SQL than as a filter over the answer.
const MONITORS_PER_FILTER = 500;

// The checks asked for, on both leading columns of the primary key, so that both backends seek
// (monitor, check_kind, time) for each check instead of scanning the time index over every check's rows.
function checkFilter(checks: readonly CheckRef[] | undefined): { where: string; params: string[] } {
  if (!checks) return { where: '', params: [] };
  const monitors = [...new Set(checks.map((check) => check.monitor))];
  if (monitors.length === 0 || monitors.length > MONITORS_PER_FILTER) return { where: '', params: [] };
  const kinds = [...new Set(checks.map((check) => check.check))];
  return {
    where: ` AND monitor IN (${monitors.map(() => '?').join(', ')}) AND check_kind IN (${kinds.map(() => '?').join(', ')})`,
    params: [...monitors, ...kinds],
  };
}

/** The checks' monitors and kinds as one array parameter each, so a list of any length is one statement shape. */
function checkList(dialect: SqlDriver['dialect'], checks: readonly CheckRef[]): { where: string; params: unknown[] } {
  const monitors = [...new Set(checks.map((check) => check.monitor))];
  const kinds = [...new Set(checks.map((check) => check.check))];
  return dialect === 'postgres'
    ? { where: ' AND monitor = ANY(CAST(? AS text[])) AND check_kind = ANY(CAST(? AS text[]))', params: [monitors, kinds] }
    : {
        where: ' AND monitor IN (SELECT value FROM json_each(?)) AND check_kind IN (SELECT value FROM json_each(?))',
        params: [JSON.stringify(monitors), JSON.stringify(kinds)],
      };
}

function onlyChecks<T extends CheckRef>(rows: T[], checks: readonly CheckRef[] | undefined): T[] {
  if (!checks) return rows;
  const wanted = new Set(checks.map((check) => `${check.monitor}\u0000${check.check}`));
  return rows.filter((row) => wanted.has(`${row.monitor}\u0000${row.check}`));
}

function optionalNumber<K extends string>(key: K, value: unknown): { [P in K]?: number } {
  return value === null || value === undefined ? {} : ({ [key]: Number(value) } as { [P in K]?: number });
}

function optionalString<K extends string>(key: K, value: unknown): { [P in K]?: string } {
  return value === null || value === undefined ? {} : ({ [key]: String(value) } as { [P in K]?: string });
}

const orNull = (value: unknown): unknown => (value === undefined ? null : value);

// PostgreSQL keeps a rollup sum of zero as NULL (schema 6): a NULL is a bit of the row's null bitmap, a zero 4 or
// 8 bytes, and most of a row's 22 histogram buckets are empty (an hourly row 188 -> ~110 bytes; readers sum
// with COALESCE). SQLite stores a zero in no payload bytes.
function rollupValues(delta: RollupDelta, dialect: SqlDriver['dialect']): unknown[] {
  const sums = [
    Math.round(delta.okMs),
    Math.round(delta.failMs),
    delta.runs,
    delta.failures,
    delta.durationMsSum,
    delta.deliveries,
    ...delta.durationBuckets,
    ...delta.deliveryBuckets,
  ];
  return [delta.monitor, delta.check, delta.bucket, delta.tenant, ...(dialect === 'postgres' ? sums.map((value) => (value === 0 ? null : value)) : sums)];
}

/**
 * The grouped rollup columns. PostgreSQL sends the numbers as one text (`sums`: the first bucket, then ROLLUP_SUMS): through pg a
 * row's cost is its fields', and the 28 sums of 200,000 checks took 2.5 s to read as columns, 1.4 s as one
 * (npm run bench:fleet). Each number is the text PostgreSQL sends for it as a column: read back the same.
 */
function summed(dialect: SqlDriver['dialect']): string {
  if (dialect === 'postgres')
    return `MAX(tenant) AS tenant, CONCAT_WS(',', MIN(bucket), ${ROLLUP_SUMS.map((column) => `COALESCE(SUM(${column}), 0)`).join(', ')}) AS sums`;
  return `MIN(bucket) AS bucket, MAX(tenant) AS tenant, ${ROLLUP_SUMS.map((column) => `SUM(${column}) AS ${column}`).join(', ')}`;
}

const [OK_AT, FAIL_AT, RUNS_AT, FAILURES_AT, DURATION_SUM_AT, DELIVERY_COUNT_AT] = [
  'ok_ms',
  'fail_ms',
  'runs',
  'failures',
  'duration_ms_sum',
  'deliveries',
].map((column) => ROLLUP_SUMS.indexOf(column)) as [number, number, number, number, number, number];
const DURATIONS_AT = ROLLUP_SUMS.indexOf(DURATION_COLUMNS[0] ?? '');
const DELIVERIES_AT = ROLLUP_SUMS.indexOf(DELIVERY_COLUMNS[0] ?? '');

/**
 * `text.split(',').map(Number)` without a string per number: a run of up to 15 digits (and a sign) is added up
 * digit by digit, exactly; anything else (a fraction, an exponent, a longer run) goes through Number. 200,000
 * rows of 29 sums each (npm run bench:fleet).
 */
export function numbersOf(text: string): number[] {
  const numbers: number[] = [];
  let start = 0;
  for (;;) {
    let end = text.indexOf(',', start);
    if (end < 0) end = text.length;
    let i = start;
    const negative = text.charCodeAt(i) === 45;
    if (negative) i += 1;
    let value = 0;
    let plain = end - i <= 15;
    for (; plain && i < end; i++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) plain = false;
      else value = value * 10 + digit;
    }
    numbers.push(plain && end > start + (negative ? 1 : 0) ? (negative ? -value : value) : Number(text.slice(start, end)));
    if (end === text.length) return numbers;
    start = end + 1;
  }
}

function rollupOf(row: Row): RollupDelta {
  const identity = { monitor: String(row.monitor), tenant: String(row.tenant), check: row.check_kind as CheckKind };
  if (typeof row.sums !== 'string') return { ...identity, bucket: Number(row.bucket), ...totalsOfColumns(row) };
  const values = numbersOf(row.sums);
  return { ...identity, bucket: values[0] ?? Number.NaN, ...totalsAt(values, 1) };
}

/** ROLLUP_SUMS' numbers from values[offset] on. */
function totalsAt(values: readonly number[], offset: number): Totals {
  const at = (i: number): number => values[offset + i] ?? Number.NaN;
  const durations = offset + DURATIONS_AT;
  const deliveries = offset + DELIVERIES_AT;
  return {
    okMs: at(OK_AT),
    failMs: at(FAIL_AT),
    runs: at(RUNS_AT),
    failures: at(FAILURES_AT),
    durationMsSum: at(DURATION_SUM_AT),
    deliveries: at(DELIVERY_COUNT_AT),
    durationBuckets: values.slice(durations, durations + DURATION_COLUMNS.length),
    deliveryBuckets: values.slice(deliveries, deliveries + DELIVERY_COLUMNS.length),
  };
}

function totalsOfColumns(row: Row): Totals {
  return {
    okMs: Number(row.ok_ms),
    failMs: Number(row.fail_ms),
    runs: Number(row.runs),
    failures: Number(row.failures),
    durationMsSum: Number(row.duration_ms_sum),
    deliveries: Number(row.deliveries),
    durationBuckets: DURATION_COLUMNS.map((column) => Number(row[column])),
    deliveryBuckets: DELIVERY_COLUMNS.map((column) => Number(row[column])),
  };
}

// A span's numbers: the first four of a state's.
const SPAN_NUMBERS = STATE_NUMBERS.slice(0, 4);

function checkSpanOf(row: Row): CheckSpanTotals {
  if (typeof row.numbers !== 'string')
    return spanOf(
      row,
      SPAN_NUMBERS.map((column) => Number(row[column])),
      Number(row.summed) === 1 ? totalsOfColumns(row) : undefined,
    );
  const values = numbersOf(row.numbers);
  return spanOf(row, values, values.length > SPAN_NUMBERS.length ? totalsAt(values, SPAN_NUMBERS.length) : undefined);
}

/** The span of a row whose SPAN_NUMBERS are `numbers`. */
function spanOf(row: Row, numbers: readonly number[], totals: Totals | undefined): CheckSpanTotals {
  return {
    monitor: String(row.monitor),
    tenant: String(row.tenant),
    check: row.check_kind as CheckKind,
    firstSeenAt: numbers[0] ?? Number.NaN,
    lastAt: numbers[1] ?? Number.NaN,
    lastOk: numbers[2] === 1,
    intervalS: numbers[3] ?? Number.NaN,
    ...(totals ? { totals } : {}),
  };
}

/** Whether [from, to) holds at most one bucket start of the part's grain. */
function atMostOneBucket(part: RollupPart): boolean {
  if (part.grain === 'hour') return part.to - part.from <= HOUR_MS;
  if (part.grain === 'day') return part.to - part.from <= DAY_MS;
  const first = startOfUtcMonth(part.from) === part.from ? part.from : nextUtcMonth(part.from);
  return part.to <= nextUtcMonth(first);
}

function stateOf(raw: Row): CheckStateRow {
  const row = unpackStateNumbers(raw);
  return {
    monitor: String(row.monitor),
    tenant: String(row.tenant),
    mailbox: String(row.mailbox),
    check: row.check_kind as CheckKind,
    firstSeenAt: Number(row.first_seen_at),
    lastAt: Number(row.last_at),
    lastOk: Number(row.last_ok) === 1,
    intervalS: Number(row.interval_s),
    consecutiveFailures: Number(row.consecutive_failures),
    ...optionalNumber('lastSuccessAt', row.last_success_at),
    ...optionalNumber('openIncidentAt', row.open_incident_at),
    status: row.status === undefined ? '' : String(row.status),
  };
}

function incidentValues(row: IncidentRow): unknown[] {
  const { diagnosis } = row;
  return [
    row.monitor,
    row.check,
    row.startedAt,
    row.tenant,
    orNull(row.endedAt),
    row.reason,
    row.stage,
    orNull(row.serverText),
    row.failures,
    Math.round(row.failMs),
    row.lastFailureAt,
    orNull(diagnosis?.summary),
    orNull(diagnosis?.fix),
    orNull(diagnosis?.protocol),
    orNull(diagnosis?.cloud),
    orNull(row.cause),
  ];
}

function optionalDiagnosis(row: Row): { diagnosis?: IncidentDiagnosis } {
  if (typeof row.diagnosis_summary !== 'string' || typeof row.diagnosis_fix !== 'string') return {};
  const protocol = row.diagnosis_protocol;
  const cloud = row.diagnosis_cloud;
  return {
    diagnosis: {
      summary: row.diagnosis_summary,
      fix: row.diagnosis_fix,
      ...(typeof protocol === 'string' && isProtocol(protocol) ? { protocol } : {}),
      ...(typeof cloud === 'string' && isCloud(cloud) ? { cloud } : {}),
    },
  };
}

function incidentOf(row: Row): IncidentRow {
  return {
    monitor: String(row.monitor),
    tenant: String(row.tenant),
    check: row.check_kind as CheckKind,
    startedAt: Number(row.started_at),
    ...optionalNumber('endedAt', row.ended_at),
    reason: String(row.reason),
    stage: String(row.stage),
    ...optionalString('serverText', row.server_text),
    failures: Number(row.failures),
    failMs: Number(row.fail_ms),
    lastFailureAt: Number(row.last_failure_at),
    ...optionalDiagnosis(row),
    ...(typeof row.cause === 'string' && isCause(row.cause) ? { cause: row.cause } : {}),
  };
}

function stateValues(row: CheckStateRow): unknown[] {
  return [
    row.monitor,
    row.check,
    row.tenant,
    row.mailbox,
    row.firstSeenAt,
    row.lastAt,
    row.lastOk ? 1 : 0,
    row.intervalS,
    row.consecutiveFailures,
    orNull(row.lastSuccessAt),
    orNull(row.openIncidentAt),
    row.status,
  ];
}

function runValues(row: AgentRunRow): unknown[] {
  return [row.id, row.startedAt, row.lastSeenAt, orNull(row.stoppedAt)];
}
