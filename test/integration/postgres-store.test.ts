import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { openPostgresStore } from '../../src/history/backends/postgres.js';
import { renderReport } from '../../src/history/report-format.js';
import { storeBrief, storeReport, workerBrief, workerReportJson } from '../../src/history/report-runner.js';
import type { HistoryStore } from '../../src/history/types.js';
import { BASE, storeContract } from '../history/contract.js';
import { DEC, HOUR, NOV, novemberHistory } from '../summary/support.js';
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

  test('the report built in a worker thread on its own connection equals the one built on the store', async () => {
    if (!server) throw new Error('PostgreSQL not started');
    const url = await server.createDatabase('report_worker');
    const store = await openPostgresStore({ connectionString: url, now: NOV });
    try {
      await novemberHistory(store);
      const job = { sla: undefined, configured: [], query: { from: NOV, to: DEC, now: DEC + HOUR, label: '2030-11' } };
      const [inWorker, onStore, brief] = await Promise.all([
        workerBrief({ backend: 'postgres', connectionString: url })(job, 1),
        storeReport(store)(job),
        storeBrief(store)(job, 1),
      ]);
      assert.deepEqual(inWorker, brief);
      assert.equal(inWorker.summary.outages, 2);
      assert.equal(inWorker.outages.count, 2);
      assert.equal(inWorker.outages.top.length, 1, 'only the top outages cross back');
      assert.equal(
        inWorker.outages.top[0]?.durationSeconds,
        Math.max(...onStore.incidents.filter((incident) => incident.outage).map((incident) => incident.durationSeconds)),
      );
      assert.equal(
        (await workerReportJson({ backend: 'postgres', connectionString: url })(job)).toString('utf8'),
        renderReport(onStore, 'json'),
        'the JSON text /api/report serves',
      );
      await assert.rejects(workerBrief({ backend: 'postgres', connectionString: `${url}_missing` })(job, 1), /does not exist/);
    } finally {
      await store.close();
    }
  });
});
