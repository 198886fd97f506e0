import { after, before, describe } from 'node:test';
import pg from 'pg';
import { openPostgresStore } from '../../src/history/backends/postgres.js';
import type { HistoryStore } from '../../src/history/types.js';
import { BASE, storeContract } from '../history/contract.js';
import { startPostgres, type PrivatePostgres } from '../support/postgres.js';

describe('history store contract: PostgreSQL (a private server from Debian packages)', () => {
  let server: PrivatePostgres | undefined;
  const urls = new Map<HistoryStore, string>();
  let n = 0;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.close();
  });
  storeContract({
    dialect: 'postgres',
    openPrepared: async (statements) => {
      if (!server) throw new Error('PostgreSQL not started');
      const url = await server.createDatabase(`contract_${++n}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        for (const statement of statements) await client.query(statement);
      } finally {
        await client.end();
      }
      const store = await openPostgresStore({ connectionString: url, now: BASE });
      urls.set(store, url);
      return store;
    },
    open: async () => {
      if (!server) throw new Error('PostgreSQL not started');
      const url = await server.createDatabase(`contract_${++n}`);
      const store = await openPostgresStore({ connectionString: url, now: BASE });
      urls.set(store, url);
      return store;
    },
    reopen: async (store) => {
      const url = urls.get(store);
      if (!url) throw new Error('unknown store');
      await store.close();
      const again = await openPostgresStore({ connectionString: url, now: BASE });
      urls.set(again, url);
      return again;
    },
  });
});
