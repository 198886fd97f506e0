import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import { probeMailOf } from '../../src/config/defaults.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { ResolvedMonitor } from '../../src/config/types.js';
import { Redactor } from '../../src/log/redact.js';
import { PROBES } from '../../src/probes/registry.js';
import type { ProbeContext } from '../../src/probes/types.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { systemClock } from '../../src/core/clock.js';
import type { CheckResult } from '../../src/core/result.js';
import { runCheck, type CheckDeps } from '../../src/runner/run-check.js';
import { createRuntime } from '../../src/runner/runtime.js';
import { SendBudget } from '../../src/runner/send-budget.js';
import { runCli } from '../support/cli.js';
import { writeMonitors } from '../support/monitors.js';
import { startTestbed, type Testbed } from '../support/testbed/index.js';

// The roundtrip check and probe-mail cleanup against real Postfix (submission, queue, LMTP) and Dovecot
// (IMAPS, Maildir): delivery measured, the mailbox left as it was, look-alikes untouched over 200 cycles with
// crashes between send and cleanup, and a delivery that never comes.

const MONITOR = 'bed-roundtrip';
const DEADLINE_SECONDS = 2;
const TIMEOUT_SECONDS = 3;
// What the runner leaves young leftovers alone for: the longest check of the monitor plus its 2 s grace.
const SWEEP_MIN_AGE_MS = (TIMEOUT_SECONDS + DEADLINE_SECONDS + 2) * 1000;

let bed: Testbed;
let configFile: string;
let monitor: ResolvedMonitor;
let deps: CheckDeps;
const deliveries: number[] = [];
/** Message-IDs of the seeded messages. */
const seeded = new Set<string>();

interface StoredMail {
  folder: string;
  messageId: string;
  seen: boolean;
  deleted: boolean;
}

/** Every message in the mailbox's Maildir (INBOX and the Maildir++ folders), read from disk. */
function mailbox(): StoredMail[] {
  const root = bed.maildir(bed.mailbox);
  const folders = ['', ...readdirSync(root).filter((name) => name.startsWith('.') && statSync(join(root, name)).isDirectory())];
  return folders.flatMap((folder) =>
    ['new', 'cur'].flatMap((sub) => {
      const at = join(root, folder, sub);
      let files: string[];
      try {
        files = readdirSync(at);
      } catch {
        return [];
      }
      return files.map((file) => {
        const flags = /:2,([A-Za-z]*)$/.exec(file)?.[1] ?? '';
        const head = readFileSync(join(at, file), 'latin1').split(/\r?\n\r?\n/)[0] ?? '';
        const messageId = /^Message-ID:\s*(.*)$/im.exec(head)?.[1]?.trim() ?? '?';
        return { folder: folder || 'INBOX', messageId, seen: flags.includes('S'), deleted: flags.includes('T') };
      });
    }),
  );
}

function sorted(mails: StoredMail[]): string[] {
  return mails.map((m) => `${m.folder}|${m.messageId}|seen=${m.seen}|deleted=${m.deleted}`).sort();
}

function assertOk(result: CheckResult | ProbeOutcome, what: string): void {
  const outcome = 'outcome' in result ? result.outcome : result;
  assert.equal(outcome.ok, true, `${what}: ${JSON.stringify(outcome.failure)}`);
}

/** 50 ordinary messages, a third of them carrying X-Mailprobe-Id look-alikes, half of them read. */
async function seedMailbox(): Promise<void> {
  const token = await deps.tokens.getToken(monitor.tenant);
  assert.ok(token.ok);
  const ring = deps.probeIds(probeMailOf(monitor).probeIdKeyFile);
  const old = Date.now() - 86_400_000;
  const genuine = ring.issue(MONITOR, old);
  const [time, random, mac] = genuine.split('.') as [string, string, string];
  const lookAlikes = [
    ring.issue('another-monitor', old),
    `${time}.${random}.${mac.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}`,
    `${time}.${random}.${'0'.repeat(32)}`,
    'not-a-probe-id',
  ];
  const client = new ImapFlow({
    host: bed.imap.host,
    port: bed.imap.port,
    secure: true,
    auth: { user: bed.mailbox, accessToken: token.token.reveal() },
    tls: { ca: [bed.ca] },
    logger: false,
  });
  await client.connect();
  try {
    const folders = ['INBOX', 'INBOX', 'Junk Email', 'Deleted Items', 'Sent Items'];
    for (let i = 0; i < 50; i++) {
      const headers = [
        `From: <colleague${i}@contoso.onmicrosoft.com>`,
        `To: <${bed.mailbox}>`,
        `Subject: ordinary ${i}`,
        `Message-ID: <ordinary-${i}@example.com>`,
      ];
      const lookAlike = lookAlikes[i % lookAlikes.length]!;
      if (i % 3 === 0) headers.push(`X-Mailprobe-Id: ${lookAlike}`);
      // A genuine id copied into a message that is not the probe (its Message-ID is not the probe's).
      if (i === 1) headers.push(`X-Mailprobe-Id: ${genuine}`);
      if (i === 2) headers[3] = `Message-ID: <mailprobe.${lookAlike}@mailprobe.invalid>`;
      seeded.add(headers[3]!.slice('Message-ID: '.length));
      const raw = [...headers, '', `Message ${i}.`, ''].join('\r\n');
      await client.append(folders[i % folders.length]!, raw, i % 2 ? ['\\Seen'] : []);
    }
  } finally {
    await client.logout();
  }
}

function variant(changes: Partial<NonNullable<ResolvedMonitor['probeMail']>>): ResolvedMonitor {
  return { ...monitor, probeMail: { ...probeMailOf(monitor), ...changes } };
}

/** A roundtrip that "crashes" once it is past the send: aborted as soon as its IMAP session says anything. */
async function crashingRoundtrip(): Promise<ProbeOutcome> {
  const token = await deps.tokens.getToken(monitor.tenant);
  assert.ok(token.ok);
  const ring = deps.probeIds(probeMailOf(monitor).probeIdKeyFile);
  const controller = new AbortController();
  let inImap = false;
  const ctx: ProbeContext = {
    monitor: MONITOR,
    mailbox: monitor.mailbox,
    endpoints: monitor.endpoints,
    accessToken: token.token,
    signal: controller.signal,
    stepTimeoutMs: monitor.stepTimeoutMs,
    clock: systemClock,
    transcript: {
      client: (line) => {
        if (/^\S+ (CAPABILITY|AUTHENTICATE|ID)/.test(line)) inImap = true;
        if (inImap) controller.abort();
      },
      server: () => undefined,
      note: () => undefined,
    },
    newProbeId: () => ring.issue(MONITOR, Date.now()),
    probeMail: {
      cleanup: true,
      sweep: true,
      sweepMinAgeMs: SWEEP_MIN_AGE_MS,
      isOwn: (id) => ring.verify(id, MONITOR),
      roundtrip: probeMailOf(monitor).roundtrip,
    },
  };
  return PROBES.roundtrip(ctx);
}

before(async () => {
  bed = await startTestbed();
  ({ file: configFile } = writeMonitors(bed, {
    monitors: [{ name: MONITOR, checks: ['roundtrip'] }],
    defaults: { timeoutSeconds: TIMEOUT_SECONDS, stepTimeoutSeconds: 2, roundtrip: { deadlineSeconds: DEADLINE_SECONDS, pollSeconds: 0.1 } },
  }));
  const loaded = loadConfigFile(configFile).monitors[0];
  assert.ok(loaded);
  monitor = loaded;
  const runtime = createRuntime({ clock: systemClock, redactor: new Redactor(), env: {} });
  // 200 cycles in a few minutes are far beyond any real budget (at most 30 a minute); a budget whose clock jumps
  // a minute per send keeps the runner's accounting in the path without throttling the test.
  let fakeNow = Date.now();
  const budgetClock = { now: () => (fakeNow += 61_000), monotonic: () => performance.now() };
  deps = { ...runtime.deps, sendBudget: new SendBudget(budgetClock) };
  // The first delivery creates the Maildir; its roundtrip cleans up after itself.
  assertOk(await runCheck(deps, monitor, 'roundtrip'), 'first roundtrip');
  await seedMailbox();
});

after(async () => {
  await bed?.close();
});

function latencySummary(): string {
  const ordered = [...deliveries].sort((a, b) => a - b);
  const pick = (q: number): number => ordered[Math.min(ordered.length - 1, Math.floor(q * ordered.length))] ?? NaN;
  return `delivery latency over ${ordered.length} roundtrips: p50 ${pick(0.5)} s, p95 ${pick(0.95)} s, max ${pick(1)} s`;
}

describe('roundtrip against real Postfix and Dovecot', () => {
  test('mailprobe check measures the delivery and leaves the mailbox with exactly the messages it had', async () => {
    const before = sorted(mailbox());
    assert.equal(before.length, 50);
    const run = await runCli(['check', '--config', configFile, '--json']);
    const parsed = JSON.parse(run.stdout) as { results: Array<{ check: string; outcome: ProbeOutcome }> };
    const result = parsed.results.find((r) => r.check === 'roundtrip');
    assert.ok(result, run.stdout + run.stderr);
    assert.equal(run.code, 0, run.stdout + run.stderr + (await bed.logTail()));
    const { facts } = result.outcome;
    assert.ok(Number(facts.sendSeconds) > 0, `sendSeconds ${facts.sendSeconds}`);
    assert.ok(Number(facts.deliverySeconds) >= 0 && Number(facts.deliverySeconds) < DEADLINE_SECONDS, `deliverySeconds ${facts.deliverySeconds}`);
    assert.equal(facts.cleanedUp, 1);
    deliveries.push(Number(facts.deliverySeconds));
    assert.deepEqual(sorted(mailbox()), before);
  });

  test('a delivery that never comes fails with delivery_timeout at the deadline; the next cycles work and clean up both', async () => {
    const before = sorted(mailbox());
    await bed.stopDelivery();
    let stopped = true;
    try {
      const started = Date.now();
      const held = await runCheck(deps, monitor, 'roundtrip');
      assert.equal(held.outcome.failure?.reason, 'delivery_timeout', JSON.stringify(held.outcome.failure));
      assert.equal(held.outcome.failure?.stage, 'delivery');
      // The delivery deadline ended the wait, as the probe reports it; how long that took is the machine's load.
      assert.match(held.outcome.failure?.message ?? '', new RegExp(`did not reach the INBOX within ${DEADLINE_SECONDS} s`));
      await bed.startDelivery();
      stopped = false;
      const next = await runCheck(deps, monitor, 'roundtrip');
      assertOk(next, 'the cycle after delivery resumed');
      deliveries.push(Number(next.outcome.facts.deliverySeconds));
      assert.equal(sorted(mailbox()).length, before.length + 1, 'the held message arrived and is still too young to sweep');
      await sleep(SWEEP_MIN_AGE_MS - (Date.now() - started) + 200);
      const sweeping = await runCheck(deps, monitor, 'roundtrip');
      assertOk(sweeping, 'the sweeping cycle');
      assert.equal(sweeping.outcome.facts.cleanedUp, 2, 'its own message and the held one');
      assert.deepEqual(sorted(mailbox()), before);
    } finally {
      if (stopped) await bed.startDelivery();
    }
  });

  test('50 ordinary messages (look-alikes among them) survive 200 cycles with crashes between send and cleanup, read state unchanged', async (t) => {
    const before = sorted(mailbox());
    assert.equal(before.length, 50);
    assert.equal(before.filter((m) => m.includes('seen=true')).length, 25);
    const sendOnly = variant({ cleanup: false });
    const started = Date.now();
    const counts = { roundtrip: 0, sendOnly: 0, crashed: 0 };
    for (let cycle = 0; cycle < 200; cycle++) {
      if (cycle % 5 === 0) {
        // Sent and never cleaned up, as if the agent died right after the submission.
        assertOk(await runCheck(deps, sendOnly, 'smtp'), `send-only cycle ${cycle}`);
        counts.sendOnly++;
      } else if (cycle % 5 === 1) {
        const crashed = await crashingRoundtrip();
        assert.equal(crashed.failure?.reason, 'timeout', `crash cycle ${cycle}: ${JSON.stringify(crashed.failure)}`);
        counts.crashed++;
      } else {
        const result = await runCheck(deps, monitor, 'roundtrip');
        assertOk(result, `roundtrip cycle ${cycle}`);
        deliveries.push(Number(result.outcome.facts.deliverySeconds));
        counts.roundtrip++;
      }
      // Checked on every cycle, not only at the end: an ordinary message never changes, even for a moment.
      assert.deepEqual(sorted(mailbox().filter((m) => seeded.has(m.messageId))), before, `cycle ${cycle}`);
    }
    const cycleSeconds = (Date.now() - started) / 1000;
    // The leftovers of the last few crashes are still too young to sweep; once they are not, one cycle clears them.
    await sleep(SWEEP_MIN_AGE_MS + 200);
    assertOk(await runCheck(deps, monitor, 'roundtrip'), 'final sweep');
    assert.deepEqual(sorted(mailbox()), before);
    t.diagnostic(
      `200 cycles (${counts.roundtrip} roundtrips, ${counts.sendOnly} send-only, ${counts.crashed} crashed after send) in ${cycleSeconds.toFixed(1)} s, ${((cycleSeconds / 200) * 1000).toFixed(0)} ms a cycle`,
    );
    t.diagnostic(latencySummary());
  });
});
