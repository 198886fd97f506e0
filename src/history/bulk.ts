import type { SqlDriver, SqlExecutor } from './sql.js';

// Rows into a table in as few statements as the backend wants.
//
// PostgreSQL: one statement per table and batch whatever its size, the rows as one array per column through
// unnest. Multi-row VALUES took 1, 4, 16, 64 or 256 rows a statement, so a shard's batch of ~66 results was
// three statements per table and ~20 round trips a batch, each parsed and planned anew with up to 8,000
// parameters (npm run bench:fleet -- --statements).
//
// SQLite: multi-row VALUES in statements of 1, 4, 16, 64 or 256 rows (as many as fit the parameter bound), so a
// table has at most five statement shapes. One statement per batch size made every new size a new prepared
// statement, each holding its SQL and SQLite program: batches of 40-100 results grew a process by ~30 MB of
// native memory that the statement cache pinned (1 s batches of 10,000 monitors' results; measured by hand).

/** How PostgreSQL receives a column's array; INSERT casts it to the column's own type. */
export type ColumnType = 'text' | 'int8' | 'float8' | 'bytea';

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
}

export function columns(spec: Readonly<Record<string, ColumnType>>): Column[] {
  return Object.entries(spec).map(([name, type]) => ({ name, type }));
}

// Well under SQLite's 32,766 bound parameters per statement.
const PARAMS_PER_STATEMENT = 8000;

/** The power-of-4 chunks that rows go to SQLite in (at most `most` rows each). */
export function* chunksOf<T>(rows: readonly T[], most: number): Generator<T[]> {
  for (let start = 0; start < rows.length;) {
    const left = Math.min(rows.length - start, most);
    let size = 1;
    while (size * 4 <= left) size *= 4;
    yield rows.slice(start, start + size);
    start += size;
  }
}

/**
 * INSERT of the rows (each in the columns' order) with an optional ON CONFLICT clause. With `returning`, the
 * rows the statements returned.
 */
export async function insertRows(
  tx: SqlExecutor,
  dialect: SqlDriver['dialect'],
  table: string,
  spec: readonly Column[],
  rows: readonly unknown[][],
  options: { conflict?: string; returning?: string } = {},
): Promise<Array<Record<string, unknown>>> {
  if (rows.length === 0) return [];
  if (dialect === 'postgres') {
    const { sql, params } = unnestInsert(table, spec, rows, options.conflict);
    if (options.returning) return tx.query<Record<string, unknown>>(`${sql} RETURNING ${options.returning}`, params);
    await tx.run(sql, params);
    return [];
  }
  const names = spec.map((column) => column.name).join(', ');
  const tail = `${options.conflict ? ` ${options.conflict}` : ''}${options.returning ? ` RETURNING ${options.returning}` : ''}`;
  const tuple = `(${spec.map(() => '?').join(', ')})`;
  const out: Array<Record<string, unknown>> = [];
  for (const chunk of chunksOf(rows, Math.max(1, Math.floor(PARAMS_PER_STATEMENT / spec.length)))) {
    const sql = `INSERT INTO ${table} (${names}) VALUES ${chunk.map(() => tuple).join(', ')}${tail}`;
    if (options.returning) out.push(...(await tx.query<Record<string, unknown>>(sql, chunk.flat())));
    else await tx.run(sql, chunk.flat());
  }
  return out;
}

/** Rows for one table of a batch, in its columns' order, with what to do on a key already there. */
export interface TableRows {
  table: string;
  spec: readonly Column[];
  rows: unknown[][];
  conflict: string;
}

export interface Statement {
  sql: string;
  params: unknown[];
}

/** PostgreSQL: the rows as one INSERT of one array per column, alone or as a part of one statement (`together`). */
export function unnestInsert(table: string, spec: readonly Column[], rows: readonly unknown[][], conflict?: string): Statement {
  const names = spec.map((column) => column.name).join(', ');
  const unnest = spec.map((column) => `CAST(? AS ${column.type}[])`).join(', ');
  return {
    sql: `INSERT INTO ${table} (${names}) SELECT * FROM unnest(${unnest})${conflict ? ` ${conflict}` : ''}`,
    params: spec.map((_, i) => rows.map((row) => row[i] ?? null)),
  };
}

/**
 * PostgreSQL: data-modifying statements as one (all but the last as WITH parts): one round trip and one implicit
 * transaction instead of BEGIN, a statement per table and COMMIT.
 */
export function together(statements: readonly Statement[]): Statement | undefined {
  const last = statements[statements.length - 1];
  if (!last) return undefined;
  const parts = statements.slice(0, -1);
  return {
    sql: `${parts.length > 0 ? `WITH ${parts.map((part, i) => `part${i} AS (${part.sql})`).join(', ')} ` : ''}${last.sql}`,
    params: statements.flatMap((statement) => statement.params),
  };
}
