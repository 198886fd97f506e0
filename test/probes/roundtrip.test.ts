import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Secret } from '../../src/core/secret.js';
import type { TokenProvider } from '../../src/auth/token-provider.js';
import { probeMailOf } from '../../src/config/defaults.js';
import { parseConfig } from '../../src/config/load.js';
import type { ResolvedMonitor } from '../../src/config/types.js';
import { decodeAccessToken, isDecodeError } from '../../src/diagnose/claims.js';
import { sweepingAfter } from '../../src/probes/cleanup.js';
import { Redactor } from '../../src/log/redact.js';
import { PROBES } from '../../src/probes/registry.js';
import { roundtripProbe } from '../../src/probes/roundtrip.js';
import { smtpProbe } from '../../src/probes/smtp.js';
import type { ProbeContext, Transcript } from '../../src/probes/types.js';
import type { Folder } from '../../src/sandbox/mailstore.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { loadProbeIdKeyring, probeIdKeyrings, type ProbeIdKeyring } from '../../src/probes/probe-mail.js';
import { runCheck, type CheckDeps } from '../../src/runner/run-check.js';
import { SendBudget } from '../../src/runner/send-budget.js';
import { startSandbox, type Sandbox } from '../sandbox/exchange-harness.js';

// The roundtrip check and probe-mail cleanup against the Exchange Online emulator: fast, deterministic faults
// (delivery delayed or stopped), and the store to assert on.

let sandbox: Sandbox;
let dir: string;
let tokenRequests = 0;

const FOLDERS = ['INBOX', 'Junk Email', 'Deleted Items', 'Sent Items'] as const;
// The defaults leave a loaded machine plenty of time; a test that wants the delivery deadline to pass asks for this.
const SHORT_DEADLINE = { roundtrip: { deadlineSeconds: 1, pollSeconds: 0.1 } };

before(async () => {
  sandbox = await startSandbox();
  dir = mkdtempSync(join(tmpdir(), 'mailprobe-roundtrip-'));
  writeFileSync(join(dir, 'ca.pem'), sandbox.pki.ca.cert);
});

after(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

function folder(name: string): Folder {
  const found = sandbox.emulator.store.mailbox(sandbox.mailbox).folder(name);
  assert.ok(found, `no folder ${name}`);
  return found;
}

beforeEach(() => {
  Object.assign(sandbox.emulator.faults, { deliveryStopped: false, deliveryDelayMs: 0 });
  for (const name of FOLDERS) folder(name).remove(() => true);
});

function monitorFor(extra: Record<string, unknown> = {}, name = 'rt'): ResolvedMonitor {
  const { imap, smtp, pop3 } = sandbox.emulator;
  const config = {
    defaults: { timeoutSeconds: 30, stepTimeoutSeconds: 10, tls: { caFile: 'ca.pem' }, roundtrip: { deadlineSeconds: 30, pollSeconds: 0.1 } },
    tenants: {
      t: {
        tenantId: sandbox.tenantId,
        clientId: sandbox.clientId,
        credential: { type: 'secret', secret: { env: 'UNUSED' } },
        authorityHost: '127.0.0.1:9',
      },
    },
    monitors: [{ name, tenant: 't', mailbox: sandbox.mailbox, checks: ['roundtrip'], imap, smtp, pop3, ...extra }],
  };
  const monitor = parseConfig(JSON.stringify(config), join(dir, 'monitors.json')).monitors[0];
  assert.ok(monitor);
  return monitor;
}

const tokens: TokenProvider = {
  getToken: async () => {
    tokenRequests++;
    const token = sandbox.token();
    const claims = decodeAccessToken(token);
    assert.ok(!isDecodeError(claims));
    return { ok: true, token: new Secret(token), claims, expiresAt: Date.now() + 3_600_000 };
  },
};

/** The system clock, with wall time that the test moves forward instead of sleeping (probe-id ages, sweeps). */
function shiftableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => systemClock.now() + offset, monotonic: () => systemClock.monotonic(), advance: (ms) => (offset += ms) };
}

function checkDeps(clock: Clock = systemClock): CheckDeps {
  return {
    tokens,
    clock,
    probes: PROBES,
    probeIds: probeIdKeyrings(),
    sendBudget: new SendBudget(clock),
    redact: (text) => new Redactor().redact(text),
  };
}

function keyring(monitor: ResolvedMonitor): ProbeIdKeyring {
  return loadProbeIdKeyring(probeMailOf(monitor).probeIdKeyFile);
}

function message(headers: string[], body = 'hello'): Buffer {
  return Buffer.from([`From: <someone@example.com>`, `To: <${sandbox.mailbox}>`, 'Subject: hi', ...headers, '', body, ''].join('\r\n'));
}

function probeMail(id: string): Buffer {
  return message([`Message-ID: <mailprobe.${id}@mailprobe.invalid>`, `X-Mailprobe-Id: ${id}`]);
}

/** Everything in the probe folders, as raw text plus sorted flags, for before/after comparisons. */
function snapshot(): string[] {
  return FOLDERS.flatMap((name) => folder(name).messages.map((m) => `${name}|${[...m.flags].sort().join(' ')}|${m.raw.toString('latin1')}`)).sort();
}

function recording(onClient?: (line: string) => void): Transcript & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    client: (line) => {
      lines.push(`C: ${line}`);
      onClient?.(line);
    },
    server: (line) => lines.push(`S: ${line}`),
    note: (line) => lines.push(`# ${line}`),
  };
}

/** A context for calling a probe directly, as the runner would build it, with the test's own signal and transcript. */
function directContext(monitor: ResolvedMonitor, options: { signal?: AbortSignal; transcript?: Transcript; sweep?: boolean } = {}): ProbeContext {
  const ring = keyring(monitor);
  const settings = probeMailOf(monitor);
  return {
    monitor: monitor.name,
    mailbox: monitor.mailbox,
    endpoints: monitor.endpoints,
    accessToken: new Secret(sandbox.token()),
    signal: options.signal ?? new AbortController().signal,
    stepTimeoutMs: monitor.stepTimeoutMs,
    clock: systemClock,
    transcript: options.transcript ?? recording(),
    newProbeId: () => ring.issue(monitor.name, Date.now()),
    probeMail: {
      cleanup: settings.cleanup,
      sweep: options.sweep ?? true,
      sweepMinAgeMs: 60_000,
      isOwn: (id) => ring.verify(id, monitor.name),
      roundtrip: { deadlineMs: settings.roundtrip.deadlineMs, pollMs: settings.roundtrip.pollMs },
    },
  };
}

describe('roundtrip against the Exchange emulator', () => {
  test('measures send and delivery, then leaves every folder as it was (the Sent Items copy included)', async () => {
    sandbox.emulator.faults.deliveryDelayMs = 300;
    folder('INBOX').append(message(['Message-ID: <a@example.com>']), { flags: ['\\Seen'] });
    const before = snapshot();
    const result = await runCheck(checkDeps(), monitorFor(), 'roundtrip');
    assert.equal(result.outcome.ok, true, JSON.stringify(result.outcome.failure));
    const { facts, measured } = result.outcome;
    assert.equal(typeof facts.probeId, 'string');
    // Figures, not bounds: how long a send or a delivery takes is the machine's business (benchmarks measure it).
    assert.ok(Number(measured.sendSeconds) > 0, `sendSeconds ${measured.sendSeconds}`);
    assert.ok(Number(measured.deliverySeconds) > 0, `deliverySeconds ${measured.deliverySeconds}`);
    assert.equal(measured.cleanup, 'deleted');
    assert.equal(facts.cleanedUp, 2, 'the INBOX message and its Sent Items copy');
    const steps = result.outcome.steps.map((step) => step.step);
    for (const step of ['token', 'send', 'delivery', 'cleanup'] as const) assert.ok(steps.includes(step), `step ${step} in ${steps.join(',')}`);
    assert.deepEqual(snapshot(), before);
  });

  test('a delivery that never comes fails with delivery_timeout at the deadline, and the next run sweeps what it left', async () => {
    // The check's own timeout (30 s) is far beyond the 1 s delivery deadline, so only the deadline can end the wait.
    const monitor = monitorFor(SHORT_DEADLINE);
    const clock = shiftableClock();
    sandbox.emulator.faults.deliveryStopped = true;
    const failed = await runCheck(checkDeps(clock), monitor, 'roundtrip');
    assert.equal(failed.outcome.ok, false);
    assert.equal(failed.outcome.failure?.reason, 'delivery_timeout');
    assert.equal(failed.outcome.failure?.stage, 'delivery');
    assert.match(failed.outcome.failure?.message ?? '', /did not reach the INBOX within 1 s/);
    assert.equal(failed.diagnosis?.reason, 'delivery_timeout');
    assert.equal(typeof failed.outcome.measured.sendSeconds, 'number', 'the send half is still reported');
    assert.equal(folder('Sent Items').messages.length, 1, 'Exchange kept its Sent Items copy');

    // The leftover is too young to sweep while a check of this monitor might still wait for it (30 s + 1 s + 2 s).
    sandbox.emulator.faults.deliveryStopped = false;
    const next = await runCheck(checkDeps(clock), monitor, 'roundtrip');
    assert.equal(next.outcome.ok, true, JSON.stringify(next.outcome.failure));
    assert.equal(folder('Sent Items').messages.length, 1);
    clock.advance(10 * 60_000);
    const later = await runCheck(checkDeps(clock), monitor, 'roundtrip');
    assert.equal(later.outcome.ok, true, JSON.stringify(later.outcome.failure));
    assert.equal(later.outcome.facts.cleanedUp, 3, 'its own two copies and the old Sent Items copy');
    assert.deepEqual(snapshot(), []);
  });

  test('look-alike messages are never deleted, flagged or marked read; the own older ones are', async () => {
    const monitor = monitorFor();
    const ring = keyring(monitor);
    const old = Date.now() - 3_600_000;
    const own = ring.issue(monitor.name, old);
    const otherMonitor = ring.issue('another-monitor', old);
    const foreignKey = loadProbeIdKeyring(join(dir, 'foreign', 'probe-id.key')).issue(monitor.name, old);
    const [time, random, mac] = own.split('.') as [string, string, string];
    const tampered = `${time}.${random}.${mac.slice(0, -1)}${mac.endsWith('0') ? '1' : '0'}`;
    const young = ring.issue(monitor.name, Date.now());
    const lookAlikes = [
      probeMail(otherMonitor),
      probeMail(foreignKey),
      probeMail(tampered),
      probeMail(`${time}.${random}`),
      message([`Message-ID: <reply@example.com>`, `X-Mailprobe-Id: ${own}`], 'quotes a real probe id'),
      message([`Message-ID: <mailprobe.${own}@mailprobe.invalid>`, `X-Mailprobe-Id: ${own}`, `X-Mailprobe-Id: ${otherMonitor}`]),
      message([`Message-ID: <x@example.com>`, `X-Mailprobe-Id-Old: ${own}`], `X-Mailprobe-Id: ${own}`),
      probeMail(young),
    ];
    for (const name of FOLDERS) {
      lookAlikes.forEach((raw, i) => folder(name).append(raw, { flags: i % 2 ? ['\\Seen'] : [] }));
    }
    const before = snapshot();
    for (const name of FOLDERS) folder(name).append(probeMail(own));

    const transcript = recording();
    const result = await runCheck(checkDeps(), monitor, 'roundtrip', { transcript });
    assert.equal(result.outcome.ok, true, JSON.stringify(result.outcome.failure));
    assert.equal(result.outcome.facts.cleanedUp, 6, 'the 4 old own messages and the new probe’s 2 copies');
    assert.deepEqual(snapshot(), before);
    const stores = transcript.lines.filter((line) => /^C: .*STORE/.test(line));
    assert.ok(
      stores.every((line) => /\+FLAGS.*\\Deleted/.test(line)),
      stores.join('\n'),
    );
    assert.ok(!transcript.lines.some((line) => /^C: .*FETCH.* BODY\[/.test(line)), 'headers are read with BODY.PEEK only');
  });

  test('cleanup switched off leaves the probe message', async () => {
    const result = await runCheck(checkDeps(), monitorFor({ cleanup: false }), 'roundtrip');
    assert.equal(result.outcome.ok, true);
    assert.equal(result.outcome.facts.cleanedUp, undefined);
    assert.equal(folder('INBOX').messages.length, 1);
    assert.equal(folder('Sent Items').messages.length, 1);
  });

  test('a cleanup cut short after delivery is cleanup_failed at stage cleanup, with the delivery measured', async () => {
    const controller = new AbortController();
    const transcript = recording((line) => {
      if (/STORE/.test(line)) controller.abort();
    });
    const outcome = await roundtripProbe(directContext(monitorFor(), { signal: controller.signal, transcript }));
    assert.equal(outcome.ok, false);
    assert.equal(outcome.failure?.reason, 'cleanup_failed');
    assert.equal(outcome.failure?.stage, 'cleanup');
    assert.equal(typeof outcome.measured.deliverySeconds, 'number');
    assert.equal(outcome.measured.cleanup, 'failed');
  });
});

describe('cleanup where SEARCH HEADER finds nothing and IMAP4rev2 is offered', () => {
  test('the probe is found by its Subject, confirmed by its fetched header, deleted by UID EXPUNGE; other mail is untouched', async (t) => {
    Object.assign(sandbox.model.faults, { imapHeaderSearchBlind: true, imapRev2: true });
    t.after(() => Object.assign(sandbox.model.faults, { imapHeaderSearchBlind: false, imapRev2: false }));
    const monitor = monitorFor({}, 'rt-blind');
    const ring = keyring(monitor);
    const old = ring.issue(monitor.name, Date.now() - 3_600_000);
    const foreign = ring.issue('another-monitor', Date.now() - 3_600_000);
    const subject = (id: string): string => `Subject: mailprobe probe ${id}`;
    // Someone else's mail: one marked \Deleted (a plain EXPUNGE would take it), one that talks about mailprobe,
    // another monitor's probe with its real subject, and a message quoting this monitor's id in the Subject only.
    folder('INBOX').append(message(['Message-ID: <d@example.com>']), { flags: ['\\Deleted'] });
    folder('INBOX').append(message(['Message-ID: <talk@example.com>', 'Subject: re: mailprobe alerts']));
    folder('Junk Email').append(message([subject(foreign), `Message-ID: <mailprobe.${foreign}@mailprobe.invalid>`, `X-Mailprobe-Id: ${foreign}`]));
    folder('Deleted Items').append(message([subject(old), 'Message-ID: <quoted@example.com>']));
    const before = snapshot();
    folder('Sent Items').append(message([subject(old), `Message-ID: <mailprobe.${old}@mailprobe.invalid>`, `X-Mailprobe-Id: ${old}`]));

    const transcript = recording();
    const result = await runCheck(checkDeps(), monitor, 'roundtrip', { transcript });
    assert.equal(result.outcome.ok, true, JSON.stringify(result.outcome.failure));
    assert.equal(result.outcome.facts.cleanedUp, 3, 'the new probe, its Sent Items copy and the old own probe');
    assert.equal(result.outcome.measured.cleanup, 'deleted');
    assert.equal(result.outcome.measured.probeMailLeft, 0);
    assert.deepEqual(snapshot(), before, 'no probe mail left, and every other message as it was (flags included)');

    const sent = transcript.lines.filter((line) => line.startsWith('C: '));
    assert.ok(
      sent.some((line) => /UID SEARCH SUBJECT /.test(line)),
      'searched the Subject',
    );
    assert.ok(
      sent.every((line) => !/ SEARCH .*[()]/.test(line) && !/ SEARCH .* OR /.test(line)),
      'only plain single-key searches',
    );
    assert.ok(
      sent.every((line) => !/^C: \S+ EXPUNGE/.test(line)),
      'never a plain EXPUNGE',
    );
    assert.ok(sent.some((line) => /^C: \S+ UID EXPUNGE /.test(line)));
    assert.ok(
      sent.every((line) => !/ENABLE/.test(line)),
      'IMAP4rev2 is offered but not enabled',
    );
    assert.ok(
      transcript.lines.some((line) => /^S: \* CAPABILITY .*IMAP4rev2/.test(line)),
      'the emulator offered IMAP4rev2',
    );
  });

  test('with imap.imap4rev2 the session enables it, and the emulator answers searches as broken rev2 servers do', async (t) => {
    Object.assign(sandbox.model.faults, { imapRev2: true });
    t.after(() => Object.assign(sandbox.model.faults, { imapRev2: false }));
    const transcript = recording();
    const result = await runCheck(checkDeps(), monitorFor({ imap: { ...sandbox.emulator.imap, imap4rev2: true }, ...SHORT_DEADLINE }, 'rt-rev2'), 'roundtrip', {
      transcript,
    });
    assert.ok(
      transcript.lines.some((line) => /^C: \S+ ENABLE .*IMAP4rev2/i.test(line)),
      transcript.lines.join('\n'),
    );
    assert.equal(result.outcome.failure?.reason, 'delivery_timeout');
  });
});

describe('the smtp check sweeps when the runner asks', () => {
  test('older own probe messages go, the one just sent and young ones stay', async () => {
    const monitor = monitorFor({ checks: ['smtp'] });
    const ring = keyring(monitor);
    const old = ring.issue(monitor.name, Date.now() - 3_600_000);
    const young = ring.issue(monitor.name, Date.now());
    folder('Junk Email').append(probeMail(old));
    folder('INBOX').append(probeMail(young), { flags: ['\\Seen'] });
    const outcome = await sweepingAfter(smtpProbe)(directContext(monitor));
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.equal(outcome.facts.cleanedUp, 1);
    assert.equal(folder('Junk Email').messages.length, 0);
    assert.equal(folder('INBOX').messages.length, 2, 'the young one and the one just sent');
    assert.equal(typeof outcome.facts.messageId, 'string');
  });

  test('through the runner: only for a monitor without roundtrip', async () => {
    const ring = keyring(monitorFor());
    folder('Deleted Items').append(probeMail(ring.issue('rt', Date.now() - 3_600_000)));
    const both = await runCheck(checkDeps(), monitorFor({ checks: ['smtp', 'roundtrip'] }), 'smtp');
    assert.equal(both.outcome.ok, true);
    assert.equal(folder('Deleted Items').messages.length, 1, 'the roundtrip check sweeps for this monitor');
    const alone = await runCheck(checkDeps(), monitorFor({ checks: ['smtp'] }), 'smtp');
    assert.equal(alone.outcome.ok, true, JSON.stringify(alone.outcome.failure));
    assert.equal(folder('Deleted Items').messages.length, 0);
  });

  test('a High Volume Email monitor: to itself it sends; to an external recipient the HVE front end refuses with 5.5.105 and the fix names the recipient', async (t) => {
    t.after(() => (sandbox.emulator.faults.hve = false));
    sandbox.emulator.faults.hve = true;
    const own = await runCheck(checkDeps(), monitorFor({ checks: ['smtp'], hve: {}, cleanup: false }, 'hve-own'), 'smtp');
    assert.equal(own.outcome.ok, true, JSON.stringify(own.outcome.failure));
    const external = await runCheck(checkDeps(), monitorFor({ checks: ['smtp'], hve: { recipient: 'ops@example.net' } }, 'hve-ext'), 'smtp');
    assert.equal(external.outcome.ok, false);
    assert.equal(external.outcome.failure?.reason, 'hve_external_recipient');
    assert.equal(external.outcome.failure?.stage, 'send');
    assert.match(external.outcome.failure?.serverText ?? '', /^550 5\.5\.105 External sending is not supported for High Volume Email accounts/);
    assert.equal(external.diagnosis?.reason, 'hve_external_recipient');
    assert.deepEqual(external.diagnosis?.fixes, [`Set the monitor's "hve": { "recipient": … } to a mailbox in tenant ${sandbox.tenantId}`]);
  });

  test('a sweep that cannot reach the mailbox leaves the SMTP verdict alone and says so', async () => {
    const monitor = monitorFor({ checks: ['smtp'], imap: { host: '127.0.0.1', port: 9 } });
    const transcript = {
      lines: [] as string[],
      client: () => undefined,
      server: () => undefined,
      note(line: string) {
        this.lines.push(line);
      },
    };
    const outcome = await sweepingAfter(smtpProbe)(directContext(monitor, { transcript }));
    assert.equal(outcome.ok, true, 'SMTP itself worked');
    assert.equal(outcome.facts.sweep, 'failed: cleanup_failed');
    assert.equal(outcome.measured.cleanup, 'failed', 'the sweep’s failure is the cleanup’s outcome');
    assert.equal(typeof outcome.facts.messageId, 'string');
    assert.deepEqual(
      outcome.steps.map((step) => step.step).filter((step) => step === 'connect').length,
      1,
      'the sweep’s IMAP steps stay out of the SMTP timings',
    );
    assert.ok(outcome.steps.some((step) => step.step === 'cleanup'));
    assert.ok(transcript.lines.some((line) => line.includes('sweep of older probe messages failed')));
  });
});

describe('send budget through the runner', () => {
  test('over budget the check fails unsent, without a token request; a check that never sent gives its slot back', async () => {
    const deps = checkDeps();
    const monitor = monitorFor({ checks: ['smtp', 'roundtrip'], sendBudget: { perMinute: 2, perDay: 100 } });
    const broken = monitorFor({ checks: ['smtp', 'roundtrip'], sendBudget: { perMinute: 2, perDay: 100 }, smtp: { host: '127.0.0.1', port: 9 } });
    const unsent = await runCheck(deps, broken, 'smtp');
    assert.equal(unsent.outcome.failure?.stage, 'connect');
    assert.equal((await runCheck(deps, monitor, 'smtp')).outcome.ok, true);
    assert.equal((await runCheck(deps, monitor, 'roundtrip')).outcome.ok, true);
    const sentBefore = folder('Sent Items').messages.length;
    const requestsBefore = tokenRequests;
    const refused = await runCheck(deps, monitor, 'roundtrip');
    assert.equal(refused.outcome.ok, false);
    assert.equal(refused.outcome.failure?.reason, 'send_budget_exhausted');
    assert.equal(refused.outcome.failure?.stage, 'send');
    assert.equal(refused.diagnosis?.reason, 'send_budget_exhausted');
    assert.ok((refused.retryAfterSeconds ?? 0) > 0 && (refused.retryAfterSeconds ?? 0) <= 60);
    assert.equal(folder('Sent Items').messages.length, sentBefore, 'nothing was submitted');
    assert.equal(tokenRequests, requestsBefore, 'nothing was contacted');
    const imap = await runCheck(deps, monitor, 'imap');
    assert.equal(imap.outcome.ok, true, 'checks that send nothing are not limited');
  });
});
