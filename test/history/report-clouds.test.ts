import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { Secret } from '../../src/core/secret.js';
import { DEFAULT_POLICY } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { buildReport, reportChecks } from '../../src/history/report.js';
import { probeIdKeyrings } from '../../src/probes/probe-mail.js';
import { runCheck, type CheckDeps } from '../../src/runner/run-check.js';
import { SendBudget } from '../../src/runner/send-budget.js';
import { MemoryLogger } from '../alerting/support.js';
import { record } from '../support/fold.js';

const MINUTE = 60_000;
const NOW = Date.UTC(2030, 10, 10, 9);

// What the runner diagnosed at the time is what the report prints: a DoD tenant's fix names DoD's hosts (not GCC
// High's, which share its login host), a China tenant's names 21Vianet's scope.
test('the SLA report prints each incident’s fix for its own tenant’s cloud, as diagnosed at the failure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-report-clouds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openSqliteStore(join(dir, 'history.sqlite'), { now: NOW });
  t.after(() => store.close());
  const config = parseConfig(
    JSON.stringify({
      tenants: {
        dod: {
          tenantId: '9b62d4ed-1234-1234-b00d-341a1bd0b3f5',
          clientId: '10e1f456-3921-1234-1234-105af0774c61',
          cloud: 'usgovdod',
          credential: { type: 'secret', secret: 'x' },
        },
        cn: {
          tenantId: '7c11aa00-1234-1234-b00d-341a1bd0b3f5',
          clientId: '20e1f456-3921-1234-1234-105af0774c61',
          cloud: 'china',
          credential: { type: 'secret', secret: 'x' },
        },
      },
      monitors: [
        { name: 'dod-box', tenant: 'dod', mailbox: 'probe@dod.example', checks: ['imap'] },
        { name: 'cn-box', tenant: 'cn', mailbox: 'probe@cn.example', checks: ['imap'] },
      ],
    }),
    '/nonexistent/monitors.json',
  );
  let now = NOW;
  const clock = { now: () => now, monotonic: () => performance.now() };
  const deps: CheckDeps = {
    // The DoD token is fine and the server refuses the connection; the China token was issued for Graph.
    tokens: {
      getToken: async (tenant) => ({
        ok: true,
        token: new Secret('token'),
        claims: {
          aud: tenant.cloud === 'china' ? 'https://microsoftgraph.chinacloudapi.cn' : 'https://outlook-dod.office365.us',
          tid: tenant.tenantId,
          roles: ['IMAP.AccessAsApp'],
          exp: now / 1000 + 3600,
        },
        expiresAt: now + 3_600_000,
      }),
    },
    clock,
    probes: {
      imap: async (): Promise<ProbeOutcome> => ({
        ok: false,
        steps: [{ step: 'connect', seconds: 0.01 }],
        measured: {},
        facts: {},
        failure: { stage: 'connect', protocol: 'imap', reason: 'connect_refused', message: 'ECONNREFUSED' },
      }),
    },
    probeIds: probeIdKeyrings(),
    sendBudget: new SendBudget(clock),
    redact: (text) => text,
  };
  const recorder = new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
  for (let i = 0; i < 3; i++, now += 5 * MINUTE) {
    for (const monitor of config.monitors) record(recorder, await runCheck(deps, monitor, 'imap'), { monitor: { intervalSeconds: 300 } });
  }
  await recorder.close();

  const report = await buildReport({ store, policy: DEFAULT_POLICY, configured: reportChecks(config) }, { from: NOW - MINUTE, to: now, now, label: 'test' });
  const fixOf = (monitor: string): string => report.incidents.find((incident) => incident.monitor === monitor)?.fix ?? '';
  assert.match(fixOf('dod-box'), /outlook-dod\.office365\.us/, 'DoD’s mail host');
  assert.doesNotMatch(fixOf('dod-box'), /outlook\.office365\.us/, 'never GCC High’s');
  assert.match(fixOf('cn-box'), /partner\.outlook\.cn\/\.default/, '21Vianet’s scope');
});
