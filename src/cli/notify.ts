import { dirname } from 'node:path';
import { fingerprintOf, type Alert } from '../alerting/alert.js';
import { sendOnce } from '../alerting/notifier.js';
import { CHECK_KINDS } from '../core/check.js';
import { CHECK } from '../core/checks.js';
import { systemClock } from '../core/clock.js';
import { Redactor } from '../log/redact.js';
import { EXIT, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';
import { terminalText } from './terminal.js';

export const NOTIFY_HELP = `Usage: mailprobe notify --test [--notifier NAME]... [--config FILE]

Sends one notification marked as a test through each configured notifier (alerting.notifiers), or the ones
named, and prints what each receiver answered (status and the start of its body), so a webhook URL typo shows
now and not at the first real outage. It goes out as a resolved alert of the monitor "mailprobe-test", so
nothing pages. Exit codes: 0 every receiver accepted it, 1 one did not, 2 bad usage or configuration.`;

const TEST_MONITOR = 'mailprobe-test';
// Any check would do; a sending one, as the alert people most want to see arrive is about mail that does not go out.
const TEST_CHECK = CHECK_KINDS.find((check) => CHECK[check].sends) ?? CHECK_KINDS[0];

/** A notification nobody can mistake for a real one, in every receiver's format. */
export function testAlert(now: number): Alert {
  return {
    monitor: TEST_MONITOR,
    tenant: 'test',
    mailbox: 'test@mailprobe.invalid',
    check: TEST_CHECK,
    event: 'resolved',
    status: 'resolved',
    fingerprint: fingerprintOf({ monitor: TEST_MONITOR, check: TEST_CHECK }),
    startedAt: now,
    endedAt: now,
    stage: 'config',
    reason: 'config_invalid',
    category: 'config',
    summary: 'TEST NOTIFICATION from mailprobe notify --test: nothing is broken, no mailbox was checked.',
    detail: 'Sent by an operator to check that this receiver gets mailprobe notifications.',
    fixes: ['Nothing to fix: this is a test.'],
  };
}

const NOTIFY_OPTIONS = {
  config: { type: 'string' },
  test: { type: 'boolean' },
  notifier: { type: 'string', multiple: true },
} satisfies Options;

export const notifyCommand = defineCommand({ name: 'notify', help: NOTIFY_HELP, options: NOTIFY_OPTIONS, run: notify });

async function notify({ values, io, readConfig }: CommandInput<typeof NOTIFY_OPTIONS>): Promise<number> {
  if (!values.test) throw new UsageError('notify: only --test is supported: mailprobe notify --test [--notifier NAME]');
  const config = readConfig();
  const configured = config.alerting?.notifiers ?? [];
  if (configured.length === 0) throw new UsageError(`notify: ${config.file} has no alerting.notifiers to test`);
  const names = configured.map((notifier) => notifier.name);
  const unknown = (values.notifier ?? []).filter((name) => !names.includes(name));
  if (unknown.length > 0) throw new UsageError(`notify: no notifier named ${unknown.map((name) => `"${name}"`).join(', ')} (notifiers: ${names.join(', ')})`);
  const chosen = values.notifier ? configured.filter((notifier) => values.notifier?.includes(notifier.name)) : configured;

  const redactor = new Redactor();
  const alert = testAlert(systemClock.now());
  let failed = 0;
  for (const notifier of chosen) {
    const answer = await sendOnce(notifier, alert, { baseDir: dirname(config.file), env: io.env, timeoutMs: 10_000 });
    if (!answer.ok) failed += 1;
    const verdict =
      'error' in answer
        ? `not sent: ${answer.error}`
        : `${answer.ok ? 'accepted' : 'refused'}: HTTP ${answer.status}${answer.body.trim() ? ` ${JSON.stringify(answer.body.trim())}` : ''}`;
    // The receiver's words may echo a URL or token it was given: masked like every other output.
    print(io.stdout, terminalText(redactor.redact(`${notifier.name} (${notifier.type}): ${verdict}`)));
  }
  print(io.stdout, `${chosen.length - failed} of ${chosen.length} notifier(s) accepted the test notification`);
  return failed === 0 ? EXIT.ok : EXIT.checkFailed;
}
