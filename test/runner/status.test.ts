import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CheckResult } from '../../src/core/result.js';
import { statusOf } from '../../src/core/status.js';
import { StatusBoard } from '../../src/runner/status.js';
import { folding } from '../support/fold.js';

// The board keeps steps in a compact form of its own; what it lists must be what statusOf made of the event.

function result(ok: boolean, startedAt: number): CheckResult {
  return {
    monitor: 'm1',
    tenant: 't',
    mailbox: 'm1@example.com',
    check: 'smtp',
    startedAt,
    durationSeconds: 0.25,
    outcome: {
      ok,
      steps: [
        { step: 'token', seconds: 0.000123456789 },
        { step: 'connect', seconds: 0.01 },
        { step: 'tls', seconds: 1e-7 },
        { step: 'send', seconds: 12.5 },
      ],
      measured: { sendSeconds: 0.5 },
      facts: { probeId: 'p-1' },
      ...(ok ? {} : { failure: { stage: 'send', reason: 'auth_failed', message: 'refused', serverText: '535 5.7.139 Authentication unsuccessful' } }),
    },
    ...(ok ? {} : { reason: 'auth_failed' as const }),
  };
}

test('the status board lists each check as statusOf sees its event, steps and all', () => {
  const board = new StatusBoard();
  const fold = folding();
  const first = fold(result(true, Date.UTC(2030, 0, 1)));
  board.update(first);
  assert.deepEqual(board.list(), [statusOf(first)]);

  const second = fold(result(false, Date.UTC(2030, 0, 1, 0, 5)));
  board.update(second);
  const [listed] = board.list();
  assert.deepEqual(listed, statusOf(second));
  assert.equal(listed?.since, new Date(second.result.startedAt).toISOString(), 'a failing streak starts at its first failure');
  assert.deepEqual(listed?.last?.steps, second.result.outcome.steps);
  assert.equal(listed?.consecutiveFailures, 1);
  assert.deepEqual(listed?.last?.facts, { probeId: 'p-1', sendSeconds: 0.5 }, 'the entry shows the measurements among the facts');
});

test('restored entries come back unchanged, with and without a last run', () => {
  const board = new StatusBoard();
  const withRun = statusOf(folding()(result(true, Date.UTC(2030, 0, 2))));
  const pending = { monitor: 'm2', tenant: 't', mailbox: 'm2@example.com', check: 'imap' as const, state: 'pending' as const, consecutiveFailures: 0 };
  board.restore([withRun, pending]);
  assert.deepEqual(board.list(), [withRun, pending]);
});

test("every entry of a failing monitor carries the monitor's latest cause; none once it passes", () => {
  const board = new StatusBoard();
  const fold = folding();
  const imap = (ok: boolean, at: number): CheckResult => ({ ...result(ok, at), check: 'imap' });
  board.update(fold(imap(true, Date.UTC(2030, 0, 1))));
  board.update({ ...fold(result(false, Date.UTC(2030, 0, 1, 0, 1))), cause: 'protocol:smtp' });
  assert.deepEqual(
    board.list().map((entry) => [entry.check, entry.cause]),
    [
      ['imap', 'protocol:smtp'],
      ['smtp', 'protocol:smtp'],
    ],
  );
  board.update(fold(result(true, Date.UTC(2030, 0, 1, 0, 2))));
  assert.deepEqual(
    board.list().map((entry) => entry.cause),
    [undefined, undefined],
  );
});

test('the listed array is kept and updated entry by entry; a badge reads one monitor; removal and new checks rebuild it', () => {
  const board = new StatusBoard();
  const fold = folding();
  const other = (at: number): CheckResult => ({ ...result(true, at), monitor: 'm2', mailbox: 'm2@example.com' });
  board.update(fold(result(true, Date.UTC(2030, 0, 1))));
  board.update(fold(other(Date.UTC(2030, 0, 1))));
  const listed = board.list();
  const revision = board.revision;
  const failing = fold(result(false, Date.UTC(2030, 0, 1, 0, 5)));
  board.update(failing);
  assert.ok(board.revision > revision, 'a new result moves the revision');
  assert.equal(board.list(), listed, 'the same array, not a new one per request');
  assert.deepEqual(board.list()[0], statusOf(failing));
  assert.deepEqual(board.forMonitor('m2'), [board.list()[1]]);
  assert.deepEqual(board.forMonitor('nobody'), []);
  board.remove('m2\u0000smtp');
  assert.deepEqual(
    board.list().map((entry) => entry.monitor),
    ['m1'],
  );
  assert.deepEqual(board.forMonitor('m2'), []);
  board.update(fold({ ...result(true, Date.UTC(2030, 0, 1, 0, 10)), check: 'imap' }));
  assert.deepEqual(
    board.list().map((entry) => `${entry.monitor}/${entry.check}`),
    ['m1/smtp', 'm1/imap'],
  );
});
