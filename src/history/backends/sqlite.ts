import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from '../migrations.js';
import type { SqlDriver, SqlExecutor } from '../sql.js';
import { SqlHistoryStore } from '../sql-store.js';

export const SQLITE_FILE = 'history.sqlite';

/**
 * The embedded default: one SQLite file in agent.stateDir. WAL lets the report and the status page read while
 * the agent writes; synchronous=NORMAL keeps a crash from corrupting the file (it may lose the last
 * transaction, which is the last batch, and nothing older).
 */
export async function openSqliteStore(file: string, options: { now: number }): Promise<SqlHistoryStore> {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Mailbox names, tenants and servers' words: readable by the agent's user only (SQLite gives its -wal and
    // -shm files the same mode). An existing file made 0644 by an older version is narrowed too.
    closeSync(openSync(file, 'a', 0o600));
    try {
      chmodSync(file, 0o600);
    } catch {
      // Another user's file (a report run as someone else): theirs to narrow; reading it still works.
    }
  }
  const db = new Database(file);
  try {
    return await opened(db, options.now);
  } catch (error) {
    db.close();
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new CorruptHistoryError(file, String(code));
    throw error;
  }
}

/** The history file is not a SQLite database or is damaged: retrying cannot help; moving it aside can. */
export class CorruptHistoryError extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
  ) {
    super(`${file} is not a readable history database (${code})`);
    this.name = 'CorruptHistoryError';
  }
}

async function opened(db: Database.Database, now: number): Promise<SqlHistoryStore> {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // A second process (mailprobe report beside the agent) waits for a write in progress instead of failing.
  db.pragma('busy_timeout = 5000');
  // better-sqlite3 builds SQLite with a 16 MB page cache, which 10,000 monitors' upserts fill (2,000 batches of
  // their results: 105 MB resident with it, 90 MB with 4 MB); batched writes find the pages they miss in the
  // kernel's cache.
  db.pragma('cache_size = -4000');
  const driver = sqliteDriver(db);
  await migrate(driver, now);
  return new SqlHistoryStore(driver);
}

function sqliteDriver(db: Database.Database): SqlDriver {
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string): Database.Statement => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      // Inserts come in five shapes per table (sql-store.ts); reads of a page's checks have IN lists of every
      // length, and those stay uncached once the cache is full rather than pinning memory for good.
      if (statements.size < 100) statements.set(sql, statement);
    }
    return statement;
  };
  const executor: SqlExecutor = {
    query: async <T extends object>(sql: string, params: readonly unknown[] = []) => prepared(sql).all(...params) as T[],
    run: async (sql, params = []) => {
      const statement = prepared(sql);
      if (!statement.reader) return statement.run(...params).changes;
      statement.all(...params);
      return 0;
    },
  };
  // better-sqlite3 is synchronous, but the store's code awaits between statements; a queue keeps two
  // transactions from interleaving on the one connection.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    dialect: 'sqlite',
    ...executor,
    mapRows: async <T>(sql: string, params: readonly unknown[], map: (row: Record<string, unknown>) => T) => {
      const rows: T[] = [];
      for (const row of prepared(sql).iterate(...params)) rows.push(map(row as Record<string, unknown>));
      return rows;
    },
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const next = queue.then(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const value = await fn(executor);
          db.exec('COMMIT');
          return value;
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw error;
        }
      });
      queue = next.catch(() => undefined);
      return next;
    },
    close: async () => {
      await queue;
      db.close();
    },
  };
}
