import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { isDeletableProbeMail, loadProbeIdKeyring, ProbeIdKeyring, probeIdIssuedAt } from '../../src/probes/probe-mail.js';
import { expectedSends, SendBudget } from '../../src/runner/send-budget.js';
import { runCli } from '../support/cli.js';
import { writeMonitors } from '../support/monitors.js';

// Probe-id signing, the one rule that decides what cleanup may delete, the send budget's sliding windows and
// validate's budget warnings: no network.

const dir = mkdtempSync(join(tmpdir(), 'mailprobe-ids-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const key = (byte: number): Buffer => Buffer.alloc(32, byte);

describe('probe ids', () => {
  const ring = new ProbeIdKeyring([key(1)]);
  const now = Date.UTC(2025, 0, 2, 3, 4, 5);

  test('verify for the issuing monitor only, under the issuing key only', () => {
    const id = ring.issue('mon-a', now);
    assert.match(id, /^[0-9a-z]+\.[0-9a-f]{16}\.[0-9a-f]{32}$/);
    assert.ok(id.length <= 64, 'fits the Message-ID the smtp probe builds');
    assert.equal(ring.verify(id, 'mon-a'), true);
    assert.equal(ring.verify(id, 'mon-b'), false);
    assert.equal(new ProbeIdKeyring([key(2)]).verify(id, 'mon-a'), false);
    assert.equal(probeIdIssuedAt(id), now);
  });

  test('a changed time, random part or MAC, and odd shapes, do not verify', () => {
    const id = ring.issue('mon-a', now);
    const [time, random, mac] = id.split('.') as [string, string, string];
    const flip = (text: string): string => `${text.slice(0, -1)}${text.endsWith('0') ? '1' : '0'}`;
    for (const forged of [
      `${flip(time)}.${random}.${mac}`,
      `${time}.${flip(random)}.${mac}`,
      `${time}.${random}.${flip(mac)}`,
      `${time}.${random}`,
      `${id} `,
      id.toUpperCase(),
      '',
    ]) {
      assert.equal(ring.verify(forged, 'mon-a'), false, forged);
    }
  });

  test('a rotated keyring issues with its first key and still verifies ids of the older ones', () => {
    const old = ring.issue('mon-a', now);
    const rotated = new ProbeIdKeyring([key(9), key(1)]);
    assert.equal(rotated.verify(old, 'mon-a'), true);
    assert.equal(ring.verify(rotated.issue('mon-a', now), 'mon-a'), false);
  });

  test('the key file is created 0600 in a 0700 folder on first use and reused after', () => {
    const file = join(dir, 'state', 'probe-id.key');
    const first = loadProbeIdKeyring(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
    assert.match(readFileSync(file, 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.equal(loadProbeIdKeyring(file).verify(first.issue('m', now), 'm'), true);
  });

  test('a key file that is not keys is refused, not replaced', () => {
    const file = join(dir, 'bad.key');
    writeFileSync(file, 'secret\n', { mode: 0o600 });
    assert.throws(() => loadProbeIdKeyring(file), /key 1 is not 64 hex digits/);
    assert.equal(readFileSync(file, 'utf8'), 'secret\n');
  });
});

describe('what cleanup may delete', () => {
  const ring = new ProbeIdKeyring([key(3)]);
  const now = Date.now();
  const policy = { isOwn: (id: string) => ring.verify(id, 'mon'), sweepMinAgeMs: 60_000 };
  const headers = (...lines: string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
  const probe = (id: string): Buffer => headers(`X-Mailprobe-Id: ${id}`, `Message-ID: <mailprobe.${id}@mailprobe.invalid>`);
  const old = ring.issue('mon', now - 120_000);
  const young = ring.issue('mon', now - 1_000);

  test('an own, verified probe message older than the minimum age, or one the check names', () => {
    assert.equal(isDeletableProbeMail(probe(old), policy, new Set(), now), true);
    assert.equal(isDeletableProbeMail(probe(young), policy, new Set([young]), now), true);
    assert.equal(
      isDeletableProbeMail(headers(`x-mailprobe-id:   ${old}`, `message-id:\r\n <mailprobe.${old}@mailprobe.invalid>`), policy, new Set(), now),
      true,
    );
  });

  test('nothing else', () => {
    const cases: Array<[string, Buffer]> = [
      ['too young', probe(young)],
      ['another monitor', probe(ring.issue('other', now - 120_000))],
      ['another key', probe(new ProbeIdKeyring([key(4)]).issue('mon', now - 120_000))],
      ['own id, other Message-ID', headers(`X-Mailprobe-Id: ${old}`, 'Message-ID: <reply@example.com>')],
      ['own id, no Message-ID', headers(`X-Mailprobe-Id: ${old}`)],
      ['two ids', headers(`X-Mailprobe-Id: ${old}`, `X-Mailprobe-Id: ${old}`, `Message-ID: <mailprobe.${old}@mailprobe.invalid>`)],
      ['other header name', headers(`X-Mailprobe-Id-Old: ${old}`, `Message-ID: <mailprobe.${old}@mailprobe.invalid>`)],
      ['no headers', Buffer.alloc(0)],
    ];
    for (const [name, raw] of cases) assert.equal(isDeletableProbeMail(raw, policy, new Set(), now), false, name);
  });
});

describe('send budget', () => {
  test('sliding minute and day windows per mailbox, case-insensitive; a released slot is free again', () => {
    let now = 1_000_000_000;
    const budget = new SendBudget({ now: () => now, monotonic: () => now });
    const limits = { perMinute: 2, perDay: 3 };
    const first = budget.reserve('Probe@contoso.com', limits);
    assert.ok(first.ok);
    now += 10_000;
    assert.ok(budget.reserve('probe@contoso.com', limits).ok);
    now += 10_000;
    const full = budget.reserve('probe@contoso.com', limits);
    assert.deepEqual(full, { ok: false, window: 'minute', limit: 2, retryAfterSeconds: 40 });
    assert.ok(budget.reserve('other@contoso.com', limits).ok, 'another mailbox has its own budget');
    first.release();
    assert.ok(budget.reserve('probe@contoso.com', limits).ok, 'the released slot');
    now += 60_000;
    assert.ok(budget.reserve('probe@contoso.com', limits).ok, 'a minute later');
    // The day window counts clock hours: the sends of the hour 48 minutes in (at 2,800-2,880 s) leave it when
    // that whole hour is a day old, 87,120 s from now, never earlier.
    const day = budget.reserve('probe@contoso.com', limits);
    assert.deepEqual(day, { ok: false, window: 'day', limit: 3, retryAfterSeconds: 87_120 });
    now += 87_119_000;
    assert.equal(budget.reserve('probe@contoso.com', limits).ok, false, 'a second before the hour has left the day');
    now += 1_000;
    assert.ok(budget.reserve('probe@contoso.com', limits).ok, 'once it has');
  });

  test('what a schedule sends', () => {
    assert.deepEqual(expectedSends(2, 300), { perMinute: 2, perDay: 576 });
    assert.deepEqual(expectedSends(1, 20), { perMinute: 3, perDay: 4320 });
    assert.deepEqual(expectedSends(0, 60), { perMinute: 0, perDay: 0 });
  });
});

describe('mailprobe validate warns about sending', () => {
  const bed = {
    ca: 'unused',
    entra: { authorityHost: '127.0.0.1:9' },
    tenantId: '9b62d4ed-1234-1234-b00d-341a1bd0b3f5',
    clientId: '10e1f456-3921-1234-1234-105af0774c61',
    clientSecret: 'secret-value',
    mailbox: 'probe@contoso.onmicrosoft.com',
    imap: { host: '127.0.0.1', port: 993 },
    pop3: { host: '127.0.0.1', port: 995 },
    smtp: { host: '127.0.0.1', port: 587 },
  };

  test('a schedule over Exchange’s safe share and over the budget, summed per mailbox', async () => {
    const { file } = writeMonitors(bed, {
      defaults: { tls: {} },
      monitors: [
        { name: 'busy', checks: ['smtp', 'roundtrip'], schedule: '* * * * *', smtp: { host: 'smtp.office365.com', port: 587 } },
        { name: 'calm', checks: ['imap'], schedule: '* * * * *' },
        { name: 'lab', mailbox: 'lab@contoso.onmicrosoft.com', checks: ['smtp', 'roundtrip'], schedule: '* * * * *' },
      ],
    });
    const run = await runCli(['validate', '--config', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /monitors\[0\]\.schedule.*sends up to 2 a minute and 2880 a day, over the send budget \(3 a minute, 1000 a day\)/);
    assert.match(
      run.stderr,
      /probe messages from probe@contoso\.onmicrosoft\.com \(up to 2 a minute, 2880 a day\) exceed 10 % of Exchange Online's SMTP AUTH limits/,
    );
    assert.doesNotMatch(
      run.stderr,
      /lab@contoso\.onmicrosoft\.com .*Exchange Online's SMTP AUTH limits/,
      "a server that is not Exchange Online's has not its limits",
    );
  });

  test('the default schedule stays quiet', async () => {
    const { file } = writeMonitors(bed, { defaults: { tls: {} }, monitors: [{ name: 'usual', checks: ['smtp', 'roundtrip'] }] });
    const run = await runCli(['validate', '--config', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /send budget|SMTP AUTH limits/);
  });
});

describe('probe-mail settings in monitors.json', () => {
  const file = join(dir, 'conf', 'monitors.json');
  const load = (defaults: object, monitor: object = {}) =>
    parseConfig(
      JSON.stringify({
        defaults,
        tenants: {
          t: { tenantId: 'contoso.onmicrosoft.com', clientId: '10e1f456-3921-1234-1234-105af0774c61', credential: { type: 'secret', secret: { env: 'S' } } },
        },
        monitors: [{ name: 'm', tenant: 't', mailbox: 'probe@contoso.com', checks: ['roundtrip'], ...monitor }],
      }),
      file,
    );

  test('defaults: 5 min delivery deadline on top of the check timeout, cleanup on, a tenth of Exchange’s limits, key in ./.mailprobe', () => {
    const config = load({});
    assert.deepEqual(config.monitors[0]?.probeMail, {
      cleanup: true,
      roundtrip: { deadlineMs: 300_000, pollMs: 5_000, timeoutMs: 360_000 },
      sendBudget: { perMinute: 3, perDay: 1000 },
      probeIdKeyFile: join(dir, 'conf', '.mailprobe', 'probe-id.key'),
    });
    assert.equal(config.monitors[0]?.timeoutMs, 60_000, 'the other checks keep their deadline');
    assert.ok(config.warnings.some((w) => w.path === 'monitors[0].schedule' && /may last 360 s/.test(w.message)));
  });

  test('monitor values win over defaults; the poll stays below the step timeout', () => {
    const config = load(
      { cleanup: false, roundtrip: { deadlineSeconds: 30 } },
      { stepTimeoutSeconds: 4, roundtrip: { pollSeconds: 10 }, sendBudget: { perDay: 50 } },
    );
    assert.deepEqual(config.monitors[0]?.probeMail?.roundtrip, { deadlineMs: 30_000, pollMs: 2_000, timeoutMs: 90_000 });
    assert.equal(config.monitors[0]?.probeMail?.cleanup, false);
    assert.deepEqual(config.monitors[0]?.probeMail?.sendBudget, { perMinute: 3, perDay: 50 });
    assert.deepEqual(config.warnings, []);
  });

  test('a budget beyond Exchange’s own limits is refused', () => {
    assert.throws(() => load({ sendBudget: { perMinute: 31 } }), /defaults\.sendBudget\.perMinute/);
  });
});
