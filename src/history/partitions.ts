import { startOfUtcMonth } from './spans.js';
import type { SqlExecutor } from './sql.js';

// PostgreSQL only (schema 5): raw results and the hourly, daily and monthly rollups are partitioned by UTC
// calendar month on their time column, so that expiring a month drops a table instead of deleting millions of
// rows (100,000 monitors x 2 checks write 1.7 billion results a month). SQLite keeps plain tables.

/** The partitioned tables and the time column each is partitioned on. */
export const PARTITIONED = { results: 'started_at', rollup_hourly: 'bucket', rollup_daily: 'bucket', rollup_monthly: 'bucket' } as const;
export type PartitionedTable = keyof typeof PARTITIONED;

/**
 * Percent of each page a partition fills with new rows. A rollup row is updated in place all its hour, day or
 * month: with room on its page the update is HOT (no new index entry, the old version pruned on the page); on a
 * full page each update moved the row and added an index entry. Results are only appended.
 */
export const FILLFACTOR: Readonly<Record<PartitionedTable, number>> = { results: 100, rollup_hourly: 90, rollup_daily: 70, rollup_monthly: 70 };

export function nextUtcMonth(month: number): number {
  const date = new Date(month);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** `results_203011`: the table and its month, so the bounds are known from the name. */
export function partitionName(table: PartitionedTable, month: number): string {
  const date = new Date(month);
  return `${table}_${date.getUTCFullYear()}${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The month starts of every instant given (deduplicated). */
export function monthsOf(instants: Iterable<number>): number[] {
  const months = new Set<number>();
  for (const instant of instants) months.add(startOfUtcMonth(instant));
  return [...months].sort((a, b) => a - b);
}

/** Creates the months' partitions that are missing; replicas creating the same month take turns. */
export async function createPartitions(tx: SqlExecutor, table: PartitionedTable, months: readonly number[]): Promise<void> {
  // Looked up before the lock is taken: ten shards starting together waited on each other's lock for partitions
  // that all existed (23 ms each; npm run bench:fleet -- --statements).
  const names = months.map((month) => partitionName(table, month));
  const missing = await tx.query<{ name: string }>('SELECT name FROM unnest(CAST(? AS text[])) AS name WHERE to_regclass(name) IS NULL', [names]);
  if (missing.length === 0) return;
  await tx.query('SELECT pg_advisory_xact_lock(7201913)');
  for (const month of months) {
    await tx.run(
      `CREATE TABLE IF NOT EXISTS ${partitionName(table, month)} PARTITION OF ${table} FOR VALUES FROM (${month}) TO (${nextUtcMonth(month)})${fillfactor(table)}`,
    );
  }
}

export interface Partition {
  name: string;
  from: number;
  to: number;
}

/** The table's partitions, oldest first, with their bounds read back from their names. */
export async function partitionsOf(tx: SqlExecutor, table: PartitionedTable): Promise<Partition[]> {
  const rows = await tx.query<{ name: string }>(
    'SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(? AS regclass)',
    [table],
  );
  const found: Partition[] = [];
  for (const { name } of rows) {
    const match = /_(\d{4})(\d{2})$/.exec(name);
    if (!match) continue;
    const from = Date.UTC(Number(match[1]), Number(match[2]) - 1, 1);
    found.push({ name, from, to: nextUtcMonth(from) });
  }
  return found.sort((a, b) => a.from - b.from);
}

/**
 * Deletes the table's rows older than the cutoff: whole months by dropping their partition, the month the
 * cutoff falls in by DELETE. The count of a dropped partition is PostgreSQL's estimate once it has been analyzed
 * (counting a month of results would read it all), its exact count before.
 */
export async function prunePartitions(tx: SqlExecutor, table: PartitionedTable, cutoff: number): Promise<number> {
  let removed = 0;
  for (const partition of await partitionsOf(tx, table)) {
    if (partition.from >= cutoff) break;
    if (partition.to <= cutoff) {
      const [estimate] = await tx.query<{ rows: number }>('SELECT reltuples AS rows FROM pg_class WHERE oid = CAST(? AS regclass)', [partition.name]);
      const rows = Number(estimate?.rows ?? -1);
      if (rows >= 0) removed += Math.round(rows);
      else removed += Number((await tx.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${partition.name}`))[0]?.n ?? 0);
      await tx.run(`DROP TABLE ${partition.name}`);
    } else {
      removed += await tx.run(`DELETE FROM ${partition.name} WHERE ${PARTITIONED[table]} < ?`, [cutoff]);
    }
  }
  return removed;
}

/** The storage parameter clause of a new partition of the table ('' at the default, 100). */
export function fillfactor(table: PartitionedTable): string {
  return FILLFACTOR[table] < 100 ? ` WITH (fillfactor = ${FILLFACTOR[table]})` : '';
}
