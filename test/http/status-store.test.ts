import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { plainCause } from '../../src/core/cause.js';
import type { CheckResult, Diagnosis } from '../../src/core/result.js';
import { DEFAULT_POLICY } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { StoreHistoryReader } from '../../src/history/store-reader.js';
import { escapeText } from '../../src/http/status/html.js';
import type { StatusSource } from '../../src/http/status/model.js';
import { statusRoute } from '../../src/http/status/routes.js';
import { jobsOf } from '../../src/runner/scheduler.js';
import { StatusBoard } from '../../src/runner/status.js';
import { FakeClock, MemoryLogger } from '../alerting/support.js';
import { attributing } from '../support/fold.js';

// With history on, the status page and its feeds read the store's incidents, with the diagnosis and cause stored
// at the first failure (one source of truth, as Gatus's page reads its store); the board is the source only
// without a store. A real SQLite store, fed by the agent's fold as the daemon feeds it.

const NOW = Date.parse('2031-05-14T12:00:00Z');
const MIN = 60_000;

const loaded = parseConfig(
  JSON.stringify({
    tenants: {
      dod: {
        tenantId: '7d1c3e0a-5b2f-4c8e-9a61-2f0b8d4c6e11',
        clientId: '10e1f456-3921-4abc-8def-105af0774c61',
        cloud: 'usgovdod',
        credential: { type: 'secret', secret: 'x' },
      },
    },
    monitors: [{ name: 'helpdesk', displayName: 'Helpdesk mail', tenant: 'dod', mailbox: 'helpdesk@dod.example', checks: ['imap'] }],
  }),
  '/tmp/monitors.json',
);

const FIRST: Diagnosis = {
  reason: 'connect_refused',
  summary: 'Nothing listens on outlook-dod.office365.us:993',
  candidates: [],
  fixes: ['openssl s_client -connect outlook-dod.office365.us:993\n(then check the firewall)'],
  protocol: 'imap',
  cloud: 'usgovdod',
};
const LATER: Diagnosis = {
  reason: 'timeout',
  summary: 'The server did not answer in time',
  candidates: [],
  fixes: ['raise agent.stepTimeoutMs'],
  protocol: 'imap',
  cloud: 'usgovdod',
};

function failure(at: number, diagnosis: Diagnosis): CheckResult {
  return {
    monitor: 'helpdesk',
    tenant: 'dod',
    mailbox: 'helpdesk@dod.example',
    check: 'imap',
    startedAt: at,
    durationSeconds: 0.2,
    outcome: { ok: false, steps: [], measured: {}, facts: {}, failure: { stage: 'connect', protocol: 'imap', reason: diagnosis.reason, message: 'failed' } },
    reason: diagnosis.reason,
    diagnosis,
  };
}

async function get(source: StatusSource, path: string): Promise<string> {
  const route = statusRoute(source, path);
  assert.ok(route, `a route for ${path}`);
  return (await route.handle(new URLSearchParams())).body;
}

function incidentsOf(page: string): string {
  const start = page.indexOf('<h2 id="incidents">');
  assert.ok(start >= 0, 'the page has its incident list');
  return page.slice(start, page.indexOf('</section>', start));
}

describe('the status page with a history store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-status-store-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('its incidents are the store’s, with the diagnosis and cause stored at the first failure; without a store, the board’s', async (t) => {
    const clock = new FakeClock();
    clock.time = NOW;
    const store = await openSqliteStore(join(dir, 'history.sqlite'), { now: NOW });
    t.after(() => store.close());
    const recorder = new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
    const board = new StatusBoard();
    const jobs = jobsOf(loaded.monitors);
    board.expect(jobs);
    const fold = attributing();
    // The same check fails twice, the second time for another reason: the board shows the latest failure, the
    // incident keeps what was diagnosed when it began.
    for (const result of [failure(NOW - 10 * MIN, FIRST), failure(NOW - 5 * MIN, LATER)]) {
      const event = fold(result);
      board.update(event);
      recorder.listener(event, jobs[0]);
    }
    await recorder.flush();
    const [stored] = await store.incidents({ from: NOW - MIN, to: NOW, limit: 5 });
    assert.ok(stored?.cause, 'the store keeps the attributed cause');

    const base: StatusSource = { settings: () => loaded.statusPage, monitors: () => loaded.monitors, checks: () => board.list(), now: () => NOW };
    const withStore: StatusSource = { ...base, history: new StoreHistoryReader({ store, policy: DEFAULT_POLICY }) };

    const detail = incidentsOf(await get(withStore, '/status/detail'));
    assert.ok(detail.includes(escapeText(FIRST.summary)), detail);
    assert.ok(detail.includes('openssl s_client -connect outlook-dod.office365.us:993'), 'the first fix, as stored for the tenant’s cloud');
    assert.ok(!detail.includes('then check the firewall'), 'its first line only');
    assert.ok(!detail.includes(escapeText(LATER.summary)), 'never the later failure’s diagnosis');
    const publicView = incidentsOf(await get(withStore, '/status'));
    assert.ok(publicView.includes(escapeText(plainCause(stored.cause))), 'the stored cause, in plain words');
    assert.ok(!publicView.includes('openssl'), 'the public view shows no fix');
    const summary = JSON.parse(await get(withStore, '/status/summary.json')) as { incidents: Array<{ name: string; created_at: string }> };
    assert.deepEqual(
      summary.incidents.map((incident) => [incident.name, incident.created_at]),
      [['Helpdesk mail · IMAP failing', new Date(NOW - 10 * MIN).toISOString()]],
    );

    const fromBoard = incidentsOf(await get(base, '/status/detail'));
    assert.ok(fromBoard.includes(escapeText(LATER.summary)), 'without a store, the board’s latest failure');
  });
});
