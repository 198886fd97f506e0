import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { Secret } from '../../src/core/secret.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { probeIdKeyrings } from '../../src/probes/probe-mail.js';
import { Agent } from '../../src/runner/agent.js';
import { SendBudget } from '../../src/runner/send-budget.js';
import { MemoryLogger } from '../alerting/support.js';
import { until } from '../support/until.js';

const TENANT_ID = '9b62d4ed-1234-1234-b00d-341a1bd0b3f5';

function config(monitors: string[]) {
  return parseConfig(
    JSON.stringify({
      tenants: { t: { tenantId: TENANT_ID, clientId: '10e1f456-3921-1234-1234-105af0774c61', credential: { type: 'secret', secret: 'x' } } },
      // A schedule that does not come round during the test: only the start-up run happens.
      monitors: monitors.map((name) => ({ name, tenant: 't', mailbox: `${name}@contoso.com`, checks: ['imap'], schedule: '0 0 1 1 *' })),
    }),
    '/nonexistent/monitors.json',
  );
}

test('a check still running when a reload removes its monitor leaves no series and no status behind', async () => {
  const now = Date.now();
  const clock = { now: () => now, monotonic: () => performance.now() };
  const claims = { aud: 'https://outlook.office365.com', tid: TENANT_ID, roles: ['IMAP.AccessAsApp'], exp: now / 1000 + 3600 };
  const finish: Array<(outcome: ProbeOutcome) => void> = [];
  const metrics = new MailprobeMetrics({ version: 't' });
  const logger = new MemoryLogger();
  const agent = new Agent({
    deps: {
      tokens: { getToken: async () => ({ ok: true, token: new Secret('token'), claims, expiresAt: now + 3_600_000 }) },
      clock,
      probes: { imap: () => new Promise<ProbeOutcome>((resolve) => finish.push(resolve)) },
      probeIds: probeIdKeyrings(),
      sendBudget: new SendBudget(clock),
      redact: (text) => text,
    },
    metrics,
    logger,
    clock,
  });
  agent.start(config(['kept', 'gone']), { runAtStart: true });
  try {
    await until(() => finish.length === 2, 'both start-up checks running');
    agent.reload(config(['kept']));
    for (const resolve of finish) resolve({ ok: true, steps: [{ step: 'connect', seconds: 0.01 }], measured: {}, facts: {} });
    await until(() => agent.inFlight() === 0, 'both checks finished');

    const text = await metrics.metrics();
    assert.match(text, /^mailprobe_check_success\{monitor="kept",check="imap"\} 1$/m);
    assert.doesNotMatch(text, /monitor="gone"/);
    assert.deepEqual(
      agent.status.list().map((status) => status.monitor),
      ['kept'],
    );
    assert.ok(logger.messages().includes('result of a check whose monitor a reload removed, dropped'));
  } finally {
    await agent.stop(0);
  }
});
