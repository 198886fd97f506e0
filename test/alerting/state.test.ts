import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fingerprintOf, tenantFingerprintOf, type Alert } from '../../src/alerting/alert.js';
import { createNotifier } from '../../src/alerting/notifier.js';
import { loadAlertStates, serialiseAlertStates } from '../../src/alerting/state-file.js';
import { AlertStates, type AlertPolicy, type Observation } from '../../src/alerting/state.js';
import type { CheckResult } from '../../src/core/result.js';
import type { ResultEvent } from '../../src/core/state.js';
import { folding } from '../support/fold.js';
import { failed, FakeClock, MemoryLogger, passed, startReceiver, T0 } from './support.js';

const MINUTE = 60_000;
const policy: AlertPolicy = { failureThreshold: 3, successThreshold: 1, repeatIntervalMs: 240 * MINUTE };

const folds = new WeakMap<AlertStates, (result: CheckResult) => ResultEvent>();

/** Feeds one result as the agent does: folded into its check's state first (one fold per AlertStates here). */
function observe(states: AlertStates, result: CheckResult, now: number): Observation {
  let fold = folds.get(states);
  if (!fold) folds.set(states, (fold = folding()));
  return states.observe(fold(result), now);
}

/** Feeds results one minute apart and returns the event each produced ('-' for none). */
function run(states: AlertStates, results: CheckResult[], start = T0): string[] {
  return results.map((result, i) => observe(states, { ...result, startedAt: start + i * MINUTE }, start + i * MINUTE).alert?.event ?? '-');
}

describe('AlertStates', () => {
  test('fires on the failureThreshold-th consecutive failure, once', () => {
    assert.deepEqual(run(new AlertStates(policy), [failed(), failed(), failed(), failed(), failed()]), ['-', '-', 'firing', '-', '-']);
  });

  test('a failure now and then among successes never fires', () => {
    const results = [failed(), passed(), failed(), failed(), passed(), failed(), passed(), failed(), failed(), passed()];
    assert.deepEqual(
      run(new AlertStates(policy), results),
      results.map(() => '-'),
    );
  });

  test('the first success after firing resolves; a new streak must reach the threshold again', () => {
    const events = run(new AlertStates(policy), [failed(), failed(), failed(), passed(), passed(), failed(), failed(), failed()]);
    assert.deepEqual(events, ['-', '-', 'firing', 'resolved', '-', '-', '-', 'firing']);
  });

  test('successThreshold: a failure in between restarts the count of successes', () => {
    const states = new AlertStates({ ...policy, successThreshold: 2 });
    assert.deepEqual(run(states, [failed(), failed(), failed(), passed(), failed(), passed(), passed()]), ['-', '-', 'firing', '-', '-', '-', 'resolved']);
  });

  test('the alert carries the first failure time, the last details, and the resolution time', () => {
    const states = new AlertStates(policy);
    observe(states, failed({ at: T0, reason: 'auth_failed' }), T0);
    observe(states, failed({ at: T0 + MINUTE }), T0 + MINUTE);
    const firing = observe(states, failed({ at: T0 + 2 * MINUTE, serverText: 'A1 NO AUTHENTICATE failed.' }), T0 + 2 * MINUTE).alert;
    assert.deepEqual(firing, {
      event: 'firing',
      status: 'firing',
      fingerprint: fingerprintOf({ monitor: 'probe-contoso', check: 'imap' }),
      monitor: 'probe-contoso',
      tenant: 'contoso',
      mailbox: 'probe@contoso.com',
      check: 'imap',
      stage: 'auth',
      reason: 'auth_failed',
      category: 'auth',
      summary: 'summary of auth_failed',
      serverText: 'A1 NO AUTHENTICATE failed.',
      detail: 'failed: auth_failed',
      fixes: ['fix for auth_failed'],
      startedAt: T0,
    });
    const resolved = observe(states, passed({ at: T0 + 5 * MINUTE }), T0 + 5 * MINUTE).alert;
    assert.equal(resolved?.status, 'resolved');
    assert.equal(resolved?.startedAt, T0);
    assert.equal(resolved?.endedAt, T0 + 5 * MINUTE);
    assert.equal(resolved?.reason, 'auth_failed');
  });

  test('a reason change while firing notifies once, naming the previous reason', () => {
    const states = new AlertStates(policy);
    const events = run(states, [
      failed(),
      failed(),
      failed(),
      failed({ reason: 'token_secret_expired', stage: 'token' }),
      failed({ reason: 'token_secret_expired', stage: 'token' }),
    ]);
    assert.deepEqual(events, ['-', '-', 'firing', 'reason_changed', '-']);
    const [firing] = states.firing();
    assert.equal(firing?.alert.reason, 'token_secret_expired');
    assert.equal(firing?.alert.category, 'token');
    const changed = new AlertStates(policy);
    run(changed, [failed(), failed(), failed()]);
    const alert = observe(changed, failed({ reason: 'connect_refused', at: T0 + 9 * MINUTE }), T0 + 9 * MINUTE).alert;
    assert.deepEqual(alert?.previous, { reason: 'auth_failed', category: 'auth', endedAt: T0 + 9 * MINUTE });
    assert.equal(alert?.status, 'firing');
  });

  test("the monitor's cause rides on the alert, and a new cause while firing is told once like a new reason", () => {
    const states = new AlertStates(policy);
    const fold = folding();
    const at = (minutes: number, cause: ResultEvent['cause']): Observation => {
      const event = fold(failed({ at: T0 + minutes * MINUTE }));
      return states.observe(cause === undefined ? event : { ...event, cause }, T0 + minutes * MINUTE);
    };
    at(0, 'protocol:imap');
    at(1, 'protocol:imap');
    const firing = at(2, 'protocol:imap').alert;
    assert.equal(firing?.event, 'firing');
    assert.equal(firing?.cause, 'protocol:imap');
    // the monitor's other path failed too: same reason, new cause
    const changed = at(3, 'mailbox').alert;
    assert.equal(changed?.event, 'reason_changed');
    assert.equal(changed?.cause, 'mailbox');
    assert.deepEqual(changed?.previous, { reason: 'auth_failed', category: 'auth', cause: 'protocol:imap', endedAt: T0 + 3 * MINUTE });
    assert.equal(at(4, 'mailbox').alert, undefined, 'the same cause is not told twice');
    assert.equal(states.firing()[0]?.alert.cause, 'mailbox');
  });

  test('the cause told is saved with the alert, so the same cause after a restart is not told again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprobe-alerts-'));
    try {
      const states = new AlertStates(policy);
      const fold = folding();
      const at = (target: AlertStates, minutes: number): Observation =>
        target.observe({ ...fold(failed({ at: T0 + minutes * MINUTE })), cause: 'smtp_auth_gate' }, T0 + minutes * MINUTE);
      [0, 1, 2].forEach((minutes) => at(states, minutes));
      const path = join(dir, 'state.json');
      writeFileSync(path, serialiseAlertStates(states.snapshot()));
      const restarted = new AlertStates(policy, loadAlertStates(path, new MemoryLogger()));
      assert.equal(restarted.firing()[0]?.alert.cause, 'smtp_auth_gate');
      assert.equal(at(restarted, 3).alert, undefined, 'no reason_changed for the cause told before the restart');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reminds every repeatInterval while firing, measured from the last notification', () => {
    const states = new AlertStates({ ...policy, repeatIntervalMs: 10 * MINUTE });
    const at = (minutes: number): string => observe(states, failed({ at: T0 + minutes * MINUTE }), T0 + minutes * MINUTE).alert?.event ?? '-';
    assert.deepEqual([at(0), at(1), at(2), at(11), at(12), at(13), at(22), at(33)], ['-', '-', 'firing', '-', 'repeat', '-', 'repeat', 'repeat']);
    assert.equal(at(34), '-');
  });

  test('repeatInterval 0 never reminds', () => {
    const states = new AlertStates({ ...policy, repeatIntervalMs: 0 });
    const events = run(
      states,
      Array.from({ length: 50 }, () => failed()),
      T0,
    );
    assert.deepEqual(
      events.filter((event) => event !== '-'),
      ['firing'],
    );
  });

  test('checks are independent: another check or monitor failing does not count', () => {
    const states = new AlertStates(policy);
    const events = run(states, [failed(), failed({ check: 'smtp' }), failed({ monitor: 'other' }), failed(), passed({ check: 'smtp' }), failed()]);
    assert.deepEqual(events, ['-', '-', '-', '-', '-', 'firing']);
  });

  describe('a tenant-wide reason (tenant_external_limit)', () => {
    const limited = (monitor: string, at: number, check: 'smtp' | 'imap' = 'smtp'): CheckResult => ({
      ...failed({ monitor, check, at, reason: 'tenant_external_limit', stage: 'send' }),
      mailbox: `${monitor}@contoso.com`,
    });
    const ok = (monitor: string, at: number, check: 'smtp' | 'imap' = 'smtp'): CheckResult => ({
      ...passed({ monitor, check, at }),
      mailbox: `${monitor}@contoso.com`,
    });
    const monitors = ['m1', 'm2', 'm3'];

    /** Every monitor fails `rounds` times, one minute per round; returns the alerts in order. */
    function rounds(states: AlertStates, count: number, start: number, result = limited): Alert[] {
      const alerts: Alert[] = [];
      for (let round = 0; round < count; round++) {
        const at = start + round * MINUTE;
        for (const monitor of monitors) {
          const alert = observe(states, result(monitor, at), at).alert;
          if (alert) alerts.push(alert);
        }
      }
      return alerts;
    }

    test('several monitors of one tenant: one alert naming every mailbox, reminded once, resolved by the last to recover', () => {
      const states = new AlertStates({ ...policy, repeatIntervalMs: 10 * MINUTE });
      const fired = rounds(states, 3, T0);
      assert.equal(fired.length, 1, 'one alert for three checks');
      const [alert] = fired;
      assert.equal(alert?.event, 'firing');
      assert.deepEqual(alert?.mailboxes, ['m1@contoso.com', 'm2@contoso.com', 'm3@contoso.com']);
      assert.equal(alert?.fingerprint, tenantFingerprintOf('contoso', 'tenant_external_limit'));
      assert.equal(alert?.startedAt, T0);

      const reminded = rounds(states, 10, T0 + 3 * MINUTE);
      assert.deepEqual(
        reminded.map((one) => one.event),
        ['repeat'],
        'one reminder for the tenant, not one per check',
      );
      assert.equal(states.firing().length, 1, 'Alertmanager re-posts the tenant alert once');

      const at = T0 + 20 * MINUTE;
      assert.equal(observe(states, ok('m1', at), at).alert, undefined);
      assert.equal(observe(states, ok('m2', at), at).alert, undefined);
      const resolved = observe(states, ok('m3', at), at).alert;
      assert.equal(resolved?.event, 'resolved');
      assert.equal(resolved?.fingerprint, alert?.fingerprint);
      assert.deepEqual(states.snapshot(), []);
    });

    test('the notifiers told are shared by every check of the tenant alert', () => {
      const states = new AlertStates(policy);
      const [alert] = rounds(states, 3, T0);
      assert.ok(alert);
      states.setNotifiers(alert, ['pager']);
      assert.deepEqual(
        states.snapshot().map((state) => state.firing?.notifiers),
        [['pager'], ['pager'], ['pager']],
      );
    });

    test('a delegated sign-in that lapses (every check of the tenant entry at once): one alert per lapse, however often it lapses', () => {
      const states = new AlertStates({ ...policy, repeatIntervalMs: 0 });
      const lapsed = (monitor: string, at: number): CheckResult => ({
        ...failed({ monitor, check: 'smtp', at, reason: 'signin_lapsed_frequency', stage: 'token' }),
        mailbox: `${monitor}@contoso.com`,
      });
      const events: string[] = [];
      // A short sign-in frequency: it lapses, someone signs in again, it lapses again, five times over.
      for (let lapse = 0; lapse < 5; lapse++) {
        const start = T0 + lapse * 60 * MINUTE;
        events.push(...rounds(states, 6, start, lapsed).map((alert) => `${alert.event} ${alert.mailboxes?.length ?? 0}`));
        for (const monitor of monitors) {
          const alert = observe(states, ok(monitor, start + 10 * MINUTE), start + 10 * MINUTE).alert;
          if (alert) events.push(alert.event);
        }
      }
      assert.deepEqual(events, Array.from({ length: 5 }, () => ['firing 3', 'resolved']).flat());
      for (const reason of ['signin_lapsed_inactive', 'signin_revoked', 'signin_required'] as const) {
        const fresh = new AlertStates(policy);
        const fired = rounds(fresh, 3, T0, (monitor, at) => ({ ...lapsed(monitor, at), reason }));
        assert.deepEqual(
          fired.map((alert) => [alert.reason, alert.fingerprint]),
          [[reason, tenantFingerprintOf('contoso', reason)]],
        );
      }
    });

    test('other reasons still alert per check', () => {
      const states = new AlertStates(policy);
      const fired = rounds(states, 3, T0, (monitor, at) => ({ ...failed({ monitor, at, reason: 'auth_failed' }), mailbox: `${monitor}@contoso.com` }));
      assert.deepEqual(
        fired.map((one) => [one.monitor, one.mailboxes]),
        [
          ['m1', undefined],
          ['m2', undefined],
          ['m3', undefined],
        ],
      );
    });

    test('a check moving from the tenant-wide reason to its own ends its part and opens its own incident', () => {
      const states = new AlertStates(policy);
      rounds(states, 3, T0);
      const at = T0 + 3 * MINUTE;
      const left = observe(states, { ...failed({ monitor: 'm1', check: 'smtp', at, reason: 'auth_failed' }), mailbox: 'm1@contoso.com' }, at);
      assert.equal(left.alert, undefined, 'the tenant alert still stands for m2 and m3');
      const own = observe(
        states,
        { ...failed({ monitor: 'm1', check: 'smtp', at: at + MINUTE, reason: 'auth_failed' }), mailbox: 'm1@contoso.com' },
        at + MINUTE,
      );
      assert.equal(own.alert?.event, 'firing');
      assert.equal(own.alert?.reason, 'auth_failed');
      assert.equal(own.alert?.mailboxes, undefined);
      const tenant = states.firing().find(({ alert }) => alert.mailboxes);
      assert.deepEqual(tenant?.alert.mailboxes, ['m2@contoso.com', 'm3@contoso.com']);
    });
  });

  test('healthy checks keep no state', () => {
    const states = new AlertStates(policy);
    assert.equal(observe(states, passed(), T0).changed, false);
    observe(states, failed(), T0);
    assert.equal(states.snapshot().length, 1);
    assert.equal(observe(states, passed(), T0).changed, true);
    assert.deepEqual(states.snapshot(), []);
  });
});

describe('alert state file', () => {
  test('round-trips, drops unreadable entries, and survives a missing or foreign file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprobe-alerts-'));
    try {
      const states = new AlertStates(policy);
      run(states, [failed(), failed(), failed(), failed({ check: 'smtp', reason: 'smtp_auth_disabled_tenant' })]);
      const path = join(dir, 'state.json');
      const saved = JSON.parse(serialiseAlertStates(states.snapshot())) as { version: number; alerts: unknown[] };
      saved.alerts.push({ monitor: 'x', reason: 'no_such_reason' });
      writeFileSync(path, JSON.stringify(saved));
      const logger = new MemoryLogger();
      assert.deepEqual(loadAlertStates(path, logger), states.snapshot());
      assert.deepEqual(logger.messages(), ['alert state entries dropped as unreadable']);

      assert.deepEqual(loadAlertStates(join(dir, 'absent.json'), logger), []);
      writeFileSync(path, '{"something": "else"}');
      assert.deepEqual(loadAlertStates(path, logger), []);
      assert.equal(logger.messages().at(-1), 'alert state file is corrupt; starting with no saved alert state, checks and notifications go on');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a re-created notifier neither re-fires nor forgets: streaks, firing alerts and reminders carry over', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprobe-alerts-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const receiver = await startReceiver(t, () => ({ status: 200 }));
    const clock = new FakeClock();
    const config = {
      failureThreshold: 3,
      repeatIntervalMinutes: 60,
      stateFile: 'alerts/state.json',
      notifiers: [{ type: 'webhook' as const, name: 'hook', url: receiver.url }],
    };
    const make = () => createNotifier(config, { logger: new MemoryLogger(), clock, baseDir: dir, saveDelayMs: 5 });

    const first = make();
    const fold = folding();
    first.listener(fold(failed({ check: 'smtp' })));
    first.listener(fold(failed({ check: 'smtp' })));
    for (let i = 0; i < 3; i++) first.listener(fold(failed()));
    await first.close();
    assert.equal(receiver.received.length, 1, 'the imap alert fired once');
    const onDisk = JSON.parse(readFileSync(join(dir, 'alerts/state.json'), 'utf8')) as {
      version: number;
      alerts: Array<{ check: string; failures: number; firing?: { notifiers: string[] } }>;
    };
    assert.equal(onDisk.version, 1);
    assert.deepEqual(
      onDisk.alerts.map((entry) => [entry.check, entry.failures, entry.firing?.notifiers]),
      [
        ['smtp', 2, undefined],
        ['imap', 3, ['hook']],
      ],
    );

    clock.time += 30 * MINUTE;
    const second = make();
    // As the daemon does without history: the agent's fold resumes from the streaks the state file kept.
    const resumed = folding(second.streaks());
    second.listener(resumed(failed()));
    second.listener(resumed(failed({ check: 'smtp' })));
    await second.flush();
    assert.deepEqual(
      receiver.received.map((request) => [(request.body as { check: string }).check, (request.body as { event: string }).event]),
      [
        ['imap', 'firing'],
        ['smtp', 'firing'],
      ],
      'imap still firing without a repeat (30 < 60 minutes); smtp fired on its third failure across the restart',
    );

    clock.time += 31 * MINUTE;
    second.listener(resumed(failed()));
    second.listener(resumed(passed({ check: 'smtp', at: clock.time })));
    await second.close();
    const third = make();
    third.listener(folding(third.streaks())(passed({ at: clock.time })));
    await third.close();
    const events = receiver.received.map((request) => `${(request.body as { check: string }).check}:${(request.body as { event: string }).event}`);
    assert.deepEqual(events, ['imap:firing', 'smtp:firing', 'imap:repeat', 'smtp:resolved', 'imap:resolved']);
    const resolved = receiver.received.at(-1)?.body as { startedAt: string };
    assert.equal(resolved.startedAt, new Date(T0).toISOString(), 'the incident start survived two restarts');
  });
});
