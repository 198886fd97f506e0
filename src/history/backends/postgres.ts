import pg from 'pg';
import { migrate } from '../migrations.js';
import type { SqlDriver, SqlExecutor } from '../sql.js';
import { SqlHistoryStore } from '../sql-store.js';

const INT8 = 20;
const NUMERIC = 1700;

export interface PostgresOptions {
  /** postgres://user@host:port/db, or a unix socket directory as ?host=/path. */
  connectionString: string;
  now: number;
  /** Connections in the pool (default 4: one writer, a few report readers). */
  max?: number;
  /** Deadline for one statement (default 30 s), so a hung database fails a write instead of holding it. */
  statementTimeoutMs?: number;
}

/** For replicas that share history: every agent writes its own checks' rows into one database. */
export async function openPostgresStore(options: PostgresOptions): Promise<SqlHistoryStore> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 4,
    connectionTimeoutMillis: 10_000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    // No JIT compilation: it spent ~220 ms compiling a report's read of 200,000 checks, which then ran no faster
    // (1.07 s against 0.93 s without it, npm run bench:fleet's data); the other statements here gain nothing from it.
    options: '-c jit=off',
    // Sums of BIGINT come back as NUMERIC; every value here is an epoch millisecond or a count below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        // eslint-disable-next-line @typescript-eslint/no-unsafe-return -- pg types its parsers as returning any
        oid === INT8 || oid === NUMERIC ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client that loses its connection (database restart) must not crash the agent.
  pool.on('error', () => undefined);
  const driver = postgresDriver(pool);
  try {
    await migrate(driver, options.now);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new SqlHistoryStore(driver);
}

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function executorOf(client: pg.Pool | pg.PoolClient): SqlExecutor {
  return {
    query: async <T extends object>(sql: string, params: readonly unknown[] = []) => (await client.query(numbered(sql), [...params])).rows as T[],
    run: async (sql, params = []) => (await client.query(numbered(sql), [...params])).rowCount ?? 0,
  };
}

function postgresDriver(pool: pg.Pool): SqlDriver {
  return {
    dialect: 'postgres',
    ...executorOf(pool),
    mapRows: (sql, params, map) => mapRows(pool, sql, params, map),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> =>
      onClient(pool, async (client, lost) => {
        try {
          await client.query('BEGIN');
          const value = await fn(executorOf(client));
          await client.query('COMMIT');
          return value;
        } catch (error) {
          if (!lost()) await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    close: () => pool.end(),
  };
}

/**
 * fn on a client of its own. The pool's error handler covers idle clients only: a database that goes away while a
 * client is checked out emits 'error' on it, which without a listener ended the agent (npm run soak --
 * --store-outage). The query in flight fails with it; the broken client is discarded on release.
 */
async function onClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient, lost: () => Error | undefined) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onLost = (error: Error): void => {
    lost = error;
  };
  client.on('error', onLost);
  try {
    return await fn(client, () => lost);
  } finally {
    client.off('error', onLost);
    client.release(lost);
  }
}

function mapRows<T>(pool: pg.Pool, sql: string, params: readonly unknown[], map: (row: Record<string, unknown>) => T): Promise<T[]> {
  return onClient(
    pool,
    (client) =>
      new Promise<T[]>((resolve, reject) => {
        const rows: T[] = [];
        let failed: unknown;
        const query = new pg.Query(numbered(sql), [...params]);
        query.on('row', (row: Record<string, unknown>) => {
          if (failed !== undefined) return;
          try {
            rows.push(map(row));
          } catch (error) {
            failed = error;
          }
        });
        query.on('error', reject);
        query.on('end', () => (failed === undefined ? resolve(rows) : reject(failed instanceof Error ? failed : new Error(String(failed)))));
        client.query(query);
      }),
  );
}
