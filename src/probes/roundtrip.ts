import type { ImapFlow } from 'imapflow';
import { asCleanupFailure, confirmProbeMail, deleteProbeMail, findProbeMail, recordCleanup } from './cleanup.js';
import { maskImapClientLine, withImapSession } from './imap.js';
import { maskSmtpClientLine, sendProbeMessage } from './smtp.js';
import { handRunPolicy, type ProbeMailPolicy } from './probe-mail.js';
import { pause, runProbe, type ProbeRun } from './timing.js';
import { ProbeError } from './transport-errors.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { ProbeContext, ProbeFn } from './types.js';

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/**
 * Searches the selected INBOX for the probe id until it shows up or the delivery deadline passes. NOOP first, so
 * the server reports mail that arrived since the last look before the search runs. Returns the monotonic time
 * the message was seen.
 */
async function waitForDelivery(client: ImapFlow, ctx: ProbeContext, probeId: string, deadlineAt: number, policy: ProbeMailPolicy): Promise<number> {
  for (;;) {
    await client.noop();
    const found = await confirmProbeMail(client, await findProbeMail(client, new Set([probeId])), probeId);
    const seenAt = ctx.clock.monotonic();
    if (found.length > 0) return seenAt;
    const left = deadlineAt - seenAt;
    if (left <= 0 || ctx.signal.aborted) {
      throw new ProbeError('delivery_timeout', `the probe message ${probeId} did not reach the INBOX within ${seconds(policy.roundtrip.deadlineMs)} s`, {
        stage: 'delivery',
      });
    }
    await pause(Math.min(policy.roundtrip.pollMs, left), ctx.signal);
  }
}

/**
 * End-to-end delivery: the smtp check's submission (the same sendProbeMessage), then an IMAP session that waits
 * for the message in the INBOX by its X-Mailprobe-Id and deletes it, with this monitor's older probe messages,
 * when the policy says so. Measures sendSeconds (connect to the server's acceptance of DATA), deliverySeconds
 * (acceptance to the message being seen in the INBOX, to within one poll) and the cleanup; facts: probeId, cleanedUp.
 * A cleanup that fails after the delivery was measured is cleanup_failed at stage cleanup, measurements kept.
 */
export const roundtripProbe: ProbeFn = (ctx: ProbeContext): Promise<ProbeOutcome> =>
  runProbe(
    ctx,
    'smtp',
    (line) => maskImapClientLine(maskSmtpClientLine(line)),
    async (run: ProbeRun) => {
      const probeId = ctx.newProbeId();
      run.facts.probeId = probeId;
      const policy = ctx.probeMail ?? handRunPolicy(probeId);

      const sendStart = ctx.clock.monotonic();
      await sendProbeMessage(ctx, run, probeId);
      // The server accepted the message when QUIT began; the QUIT round trip belongs to neither send nor delivery.
      run.recorder.end();
      const last = run.recorder.steps.at(-1);
      const acceptedAt = ctx.clock.monotonic() - (last?.step === 'logout' ? last.seconds * 1000 : 0);
      run.measured.sendSeconds = seconds(acceptedAt - sendStart);
      // From here on the probe speaks IMAP: waiting for the message, and deleting it.
      run.protocol = 'imap';
      const deadlineAt = acceptedAt + policy.roundtrip.deadlineMs;

      await withImapSession(ctx, run, 'delivery', async (client) => {
        await client.mailboxOpen('INBOX');
        const seenAt = await waitForDelivery(client, ctx, probeId, deadlineAt, policy);
        run.measured.deliverySeconds = seconds(seenAt - acceptedAt);
        if (!policy.cleanup) {
          run.transcript.note('cleanup: switched off for this monitor; the probe message stays');
          return;
        }
        run.recorder.begin('cleanup');
        recordCleanup(run, await deleteProbeMail(client, run, policy, new Set([probeId]), ctx.clock.now()));
      }).catch((err: unknown) => {
        if (run.recorder.stage !== 'cleanup') throw err;
        run.measured.cleanup = 'failed';
        throw asCleanupFailure(err);
      });
    },
  );
