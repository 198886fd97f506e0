import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { Secret } from '../../src/core/secret.js';
import { MailboxGate } from '../../src/probes/graph-client.js';
import { graphProbe, graphReadProbe } from '../../src/probes/graph.js';
import { PROBE_ID_HEADER, ProbeIdKeyring, probeMessageId } from '../../src/probes/probe-mail.js';
import { SILENT_TRANSCRIPT } from '../../src/probes/timing.js';
import type { ProbeContext } from '../../src/probes/types.js';
import { GRAPH_AUDIENCE } from '../../src/sandbox/model.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';

const MONITOR = 'graph-probe';

describe('graph probes against the Exchange emulator', () => {
  let bed: EmulatorBed;
  let ring: ProbeIdKeyring;
  let endpoint: Endpoint;
  before(async () => {
    bed = await startEmulatorBed();
    ring = new ProbeIdKeyring([randomBytes(32)]);
    endpoint = { host: '127.0.0.1', port: bed.exchange.graph.port, tls: { ca: [bed.ca], rejectUnauthorized: true } };
  });
  after(() => bed.close());
  beforeEach(() => {
    bed.model.resetFaults();
    bed.exchange.faults.deliveryStopped = false;
    bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All', 'Mail.Send', 'Mail.ReadWrite'], 'graph');
    for (const folder of bed.exchange.store.mailbox(bed.mailbox).folders) folder.remove(() => true);
  });

  function context(overrides: Partial<ProbeContext> = {}, deadlineMs = 10_000): { ctx: ProbeContext; token: string } {
    const token = bed.model.issueAccessToken({
      tenantId: bed.tenantId,
      clientId: bed.clientId,
      audience: GRAPH_AUDIENCE,
      resource: 'graph',
      credential: 'secret',
    });
    const ctx: ProbeContext = {
      monitor: MONITOR,
      mailbox: bed.mailbox,
      endpoints: { imap: endpoint, pop3: endpoint, smtp: endpoint, graph: endpoint },
      accessToken: new Secret(token),
      signal: new AbortController().signal,
      stepTimeoutMs: 5_000,
      clock: systemClock,
      transcript: SILENT_TRANSCRIPT,
      newProbeId: () => ring.issue(MONITOR, Date.now()),
      probeMail: {
        cleanup: true,
        sweep: true,
        sweepMinAgeMs: 60_000,
        isOwn: (id) => ring.verify(id, MONITOR),
        roundtrip: { deadlineMs, pollMs: 200 },
      },
      graph: { endpoint, gate: new MailboxGate() },
      ...overrides,
    };
    return { ctx, token };
  }

  function seeded(subject: string, probeId?: string): Buffer {
    const id = probeId ? `${PROBE_ID_HEADER}: ${probeId}\r\nMessage-ID: ${probeMessageId(probeId)}\r\n` : 'Message-ID: <other@example.com>\r\n';
    return Buffer.from(`From: <someone@example.com>\r\nSubject: ${subject}\r\n${id}\r\nbody\r\n`);
  }

  function assertNoToken(outcome: ProbeOutcome, token: string): void {
    assert.ok(!JSON.stringify(outcome).includes(token), 'the token never reaches a result');
  }

  test('round trip: sendMail, found in the INBOX by its header, deleted by id; seeded mail, a copied id and another monitor’s probe stay', async () => {
    const inbox = bed.exchange.store.mailbox(bed.mailbox).inbox;
    const otherMonitor = ring.issue('someone-else', Date.now() - 3_600_000);
    const copied = ring.issue(MONITOR, Date.now() - 3_600_000);
    inbox.append(seeded('ordinary mail'));
    inbox.append(seeded('another monitor', otherMonitor));
    inbox.append(Buffer.from(`Subject: copied id\r\n${PROBE_ID_HEADER}: ${copied}\r\nMessage-ID: <not-the-probe@example.com>\r\n\r\nb\r\n`));
    const { ctx, token } = context();
    const outcome = await graphProbe(ctx);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(
      outcome.steps.map((step) => step.step),
      ['send', 'delivery', 'cleanup'],
    );
    assert.equal(outcome.facts.cleanedUp, 1);
    assert.equal(outcome.measured.cleanup, 'deleted');
    assert.equal(typeof outcome.measured.sendSeconds, 'number');
    assert.equal(typeof outcome.measured.deliverySeconds, 'number');
    const left = inbox.messages.map((message) => message.raw.toString('latin1'));
    assert.equal(left.length, 3, 'the probe message is gone, the three others stay');
    assert.ok(!left.some((raw) => raw.includes(String(outcome.facts.probeId))));
    assert.equal(bed.exchange.store.mailbox(bed.mailbox).folder('Sent Items')!.messages.length, 0, 'no Sent Items copy');
    assertNoToken(outcome, token);
  });

  test('the sweep deletes this monitor’s older probe messages too, never a younger one', async () => {
    const inbox = bed.exchange.store.mailbox(bed.mailbox).inbox;
    const old = ring.issue(MONITOR, Date.now() - 3_600_000);
    const young = ring.issue(MONITOR, Date.now() - 1_000);
    inbox.append(seeded('old probe', old));
    inbox.append(seeded('young probe', young));
    const outcome = await graphProbe(context().ctx);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.equal(outcome.facts.cleanedUp, 2);
    const left = inbox.messages.map((message) => message.raw.toString('latin1'));
    assert.deepEqual(
      left.map((raw) => raw.includes(young)),
      [true],
    );
  });

  const faults: Array<{ name: string; apply(): void; stage: string; reason: string; text: RegExp; mailbox?: string }> = [
    {
      name: 'an application access policy',
      apply: () => (bed.model.faults.graphOdataDisabled = [bed.mailbox]),
      stage: 'send',
      reason: 'graph_access_blocked',
      text: /^403 ErrorAccessDenied: Access to OData is disabled\.$/,
    },
    {
      name: 'a mailbox Graph cannot reach',
      apply: () => (bed.model.faults.graphRestDisabled = [bed.mailbox]),
      stage: 'send',
      reason: 'mailbox_not_enabled_for_rest',
      text: /MailboxNotEnabledForRESTAPI: The mailbox is either inactive/,
    },
    {
      name: 'consent revoked (no permissions at all)',
      apply: () => bed.model.setRoles(bed.tenantId, bed.clientId, [], 'graph'),
      stage: 'send',
      reason: 'role_missing',
      text: /NoPermissionsInAccessToken/,
    },
    {
      name: 'no mail permission',
      apply: () => bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All'], 'graph'),
      stage: 'send',
      reason: 'auth_failed',
      text: /^403 ErrorAccessDenied: Access is denied\. Check credentials and try again\.$/,
    },
    {
      name: 'throttled for longer than the check waits',
      apply: () => (bed.model.faults.graphThrottleSeconds = 120),
      stage: 'send',
      reason: 'throttled',
      text: /^429 ApplicationThrottled: Application is over its MailboxConcurrency limit\. \(Retry-After: 120\)$/,
    },
    {
      name: 'a wrong mailbox',
      apply: () => undefined,
      mailbox: 'nobody@contoso.onmicrosoft.com',
      stage: 'send',
      reason: 'invalid_user',
      text: /ErrorInvalidUser/,
    },
    {
      name: 'delivery stopped',
      apply: () => (bed.exchange.faults.deliveryStopped = true),
      stage: 'delivery',
      reason: 'delivery_timeout',
      text: /^$/,
    },
  ];
  for (const fault of faults) {
    test(`fault: ${fault.name} fails at ${fault.stage} with ${fault.reason} and Graph's own words`, async () => {
      fault.apply();
      const { ctx, token } = context(fault.mailbox ? { mailbox: fault.mailbox } : {}, 1_500);
      const outcome = await graphProbe(ctx);
      assert.equal(outcome.ok, false);
      assert.equal(outcome.failure?.stage, fault.stage);
      assert.equal(outcome.failure?.reason, fault.reason);
      assert.match(outcome.failure?.serverText ?? '', fault.text);
      assertNoToken(outcome, token);
    });
  }

  test('a short Retry-After is honoured within the check, then the request goes through', async () => {
    bed.model.faults.graphThrottleSeconds = 1;
    const notes: string[] = [];
    const { ctx } = context({ transcript: { client: () => undefined, server: () => undefined, note: (line) => notes.push(line) } });
    setTimeout(() => (bed.model.faults.graphThrottleSeconds = null), 500);
    const outcome = await graphProbe(ctx);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.ok(notes.some((line) => /waiting 1 s as Retry-After asks/.test(line)));
  });

  test('read-only: an app granted only Mail.ReadBasic.All passes the list check and fails the send', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, ['Mail.ReadBasic.All'], 'graph');
    const read = await graphReadProbe(context().ctx);
    assert.equal(read.ok, true, JSON.stringify(read.failure));
    assert.deepEqual(
      read.steps.map((step) => step.step),
      ['list'],
    );
    const sent = await graphProbe(context().ctx);
    assert.equal(sent.failure?.reason, 'auth_failed');
  });

  test('at most four requests to one mailbox at a time: six checks at once never meet MailboxConcurrency', async () => {
    bed.model.faults.graphLatencyMs = 300;
    const gate = new MailboxGate();
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => graphReadProbe(context({ graph: { endpoint, gate } }).ctx)));
    assert.deepEqual(
      outcomes.map((outcome) => outcome.ok),
      [true, true, true, true, true, true],
    );
    assert.ok(bed.exchange.graph.peakConcurrency() <= 4);
  });

  test('without a Graph endpoint the check fails as configuration, not as a crash', async () => {
    const { graph: _graph, ...rest } = context().ctx;
    const outcome = await graphReadProbe(rest);
    assert.deepEqual([outcome.failure?.stage, outcome.failure?.reason], ['config', 'config_invalid']);
  });
});
