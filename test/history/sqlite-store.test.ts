import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import type { HistoryStore } from '../../src/history/types.js';
import { BASE, storeContract } from './contract.js';

describe('history store contract: SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-history-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const files = new Map<HistoryStore, string>();
  let n = 0;
  storeContract({
    dialect: 'sqlite',
    openPrepared: async (statements) => {
      const file = join(dir, `store-${++n}`, 'history.sqlite');
      mkdirSync(dirname(file), { recursive: true });
      const db = new Database(file);
      for (const statement of statements) db.exec(statement);
      db.close();
      const store = await openSqliteStore(file, { now: BASE });
      files.set(store, file);
      return store;
    },
    open: async () => {
      const file = join(dir, `store-${++n}`, 'history.sqlite');
      const store = await openSqliteStore(file, { now: BASE });
      files.set(store, file);
      return store;
    },
    reopen: async (store) => {
      const file = files.get(store);
      if (!file) throw new Error('unknown store');
      await store.close();
      const again = await openSqliteStore(file, { now: BASE });
      files.set(again, file);
      return again;
    },
  });
});
