import type { FactValue, Measurements, ProbeOutcome } from '../core/outcome.js';
import { graphCall, listValue, type RetryingCallOptions } from './graph-client.js';
import { handRunPolicy, isDeletableProbeMail, PROBE_ID_HEADER, probeMessageId, type ProbeMailPolicy } from './probe-mail.js';
import { deadlineError, pause, StepRecorder } from './timing.js';
import { ProbeError, toFailure } from './transport-errors.js';
import type { ProbeContext, ProbeFn } from './types.js';
import { CredentialMask } from './xoauth2.js';
import { field } from '../core/unknown.js';

// The graph checks: Microsoft Graph's mail path, beside IMAP/POP/SMTP. The round trip sends to the mailbox itself
// with sendMail (202 means accepted, not delivered), finds the message in the INBOX by its x- header, verifies the
// probe id as the IMAP cleanup does, and deletes it by id; the read-only check lists the INBOX (an app granted only
// Mail.ReadBasic/Mail.Read). Steps: send, delivery, cleanup, or list.

/** A list page: probe mail is recent, so one page nearly always holds it. */
const PAGE_SIZE = 50;
/** Pages followed per look; more mail than this since the send is left for the next poll. */
const MAX_PAGES = 5;
/** How far before the send the list looks back: the server's clock may be behind ours. */
const CLOCK_SLACK_MS = 5 * 60_000;

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

function isoSeconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Graph's internetMessageHeaders as a header block, so a message is judged by the same rule as over IMAP. */
function headerBlock(message: Record<string, unknown>): Buffer {
  const headers = field(message, 'internetMessageHeaders');
  const lines = (Array.isArray(headers) ? headers : []).map((header: unknown) => {
    const name = field(header, 'name');
    const value = field(header, 'value');
    return typeof name === 'string' && typeof value === 'string' ? `${name.replace(/[\r\n:]/g, '')}: ${value.replace(/[\r\n]/g, ' ')}\r\n` : '';
  });
  return Buffer.from(lines.join(''), 'latin1');
}

interface GraphRun {
  recorder: StepRecorder;
  measured: Measurements;
  facts: Record<string, FactValue>;
  call: RetryingCallOptions;
  base: string;
  ctx: ProbeContext;
}

/** The boundary: whatever the body throws becomes a failure at the step in progress, with the credential masked. */
async function runGraph(ctx: ProbeContext, deadlineMs: number, body: (run: GraphRun) => Promise<void>): Promise<ProbeOutcome> {
  const recorder = new StepRecorder(ctx.clock, 'connect');
  const facts: Record<string, FactValue> = {};
  const measured: Measurements = {};
  const mask = new CredentialMask(ctx.mailbox, ctx.accessToken);
  try {
    if (!ctx.graph) throw new ProbeError('config_invalid', 'no Microsoft Graph endpoint for this check', { stage: 'config' });
    const { endpoint, gate, env } = ctx.graph;
    const call: RetryingCallOptions = {
      endpoint,
      ...(env ? { env } : {}),
      token: ctx.accessToken,
      signal: ctx.signal,
      timeoutMs: ctx.stepTimeoutMs,
      mailbox: ctx.mailbox,
      gate,
      now: () => ctx.clock.now(),
      monotonic: () => ctx.clock.monotonic(),
      deadlineAt: ctx.clock.monotonic() + deadlineMs,
      onWait: (ms, text) => ctx.transcript.note(mask.text(`graph: throttled (${text}); waiting ${seconds(ms)} s as Retry-After asks`)),
    };
    await body({ recorder, measured, facts, call, base: `https://${endpoint.host}:${endpoint.port}`, ctx });
    recorder.end();
    return { ok: true, steps: recorder.steps, measured, facts };
  } catch (err) {
    recorder.end();
    const failure = toFailure(ctx.signal.aborted ? deadlineError(recorder.stage) : err, recorder.stage);
    failure.message = mask.text(failure.message);
    if (failure.serverText !== undefined) failure.serverText = mask.text(failure.serverText);
    return { ok: false, steps: recorder.steps, measured, facts, failure };
  }
}

function userPath(base: string, mailbox: string, rest: string): URL {
  return new URL(`/v1.0/users/${encodeURIComponent(mailbox)}/${rest}`, base);
}

/**
 * The INBOX messages received since `since` whose headers pass the probe-mail rule: own ids (this agent's, this
 * monitor's), the probe's own Message-ID, and one of `exact` or old enough for the policy. nextLink is followed only
 * on the endpoint's own origin.
 */
async function findProbeMail(run: GraphRun, since: number, policy: ProbeMailPolicy, exact: ReadonlySet<string>): Promise<{ ids: string[]; found: boolean }> {
  const first = userPath(run.base, run.ctx.mailbox, 'mailFolders/inbox/messages');
  first.searchParams.set('$filter', `receivedDateTime ge ${isoSeconds(since)}`);
  first.searchParams.set('$select', 'id,internetMessageId,internetMessageHeaders');
  first.searchParams.set('$top', String(PAGE_SIZE));
  const ids: string[] = [];
  let found = false;
  let url: URL | undefined = first;
  for (let page = 0; url && page < MAX_PAGES; page += 1) {
    const response = await graphCall(run.call, { method: 'GET', url }, (status) => status === 200);
    const now = run.ctx.clock.now();
    for (const message of listValue(response.body)) {
      const id = field(message, 'id');
      const headers = headerBlock(message);
      if (typeof id !== 'string' || !isDeletableProbeMail(headers, policy, exact, now)) continue;
      ids.push(id);
      // Deletable without the sweep's age rule means it carries one of the exact ids.
      if (isDeletableProbeMail(headers, { isOwn: policy.isOwn, sweepMinAgeMs: Number.POSITIVE_INFINITY }, exact, now)) found = true;
    }
    const next = field(response.body, '@odata.nextLink');
    url = typeof next === 'string' && URL.canParse(next) && new URL(next).origin === first.origin ? new URL(next) : undefined;
  }
  return { ids, found };
}

/** Deletes the listed messages by id; one another run deleted first (404) counts as gone, not as ours. */
async function deleteMessages(run: GraphRun, ids: readonly string[]): Promise<number> {
  let deleted = 0;
  for (const id of ids) {
    const response = await graphCall(
      run.call,
      { method: 'DELETE', url: userPath(run.base, run.ctx.mailbox, `messages/${encodeURIComponent(id)}`) },
      (s) => s === 204 || s === 404,
    );
    if (response.status === 204) deleted += 1;
  }
  return deleted;
}

/**
 * Send to self over Graph, wait for the message in the INBOX, delete it (and, when the policy sweeps, this
 * monitor's older probe messages there). Measures sendSeconds, deliverySeconds and the cleanup; facts: probeId, cleanedUp.
 */
export const graphProbe: ProbeFn = (ctx) => {
  const probeId = ctx.newProbeId();
  const policy = ctx.probeMail ?? handRunPolicy(probeId);
  return runGraph(ctx, policy.roundtrip.deadlineMs + ctx.stepTimeoutMs, async (run) => {
    run.facts.probeId = probeId;
    run.recorder.begin('send');
    const sentAt = ctx.clock.now();
    const sendStart = ctx.clock.monotonic();
    await graphCall(
      run.call,
      {
        method: 'POST',
        url: userPath(run.base, ctx.mailbox, 'sendMail'),
        body: {
          message: {
            subject: `mailprobe ${probeId.split('.').at(-1) ?? probeId}`,
            body: { contentType: 'Text', content: `mailprobe probe message for monitor ${ctx.monitor}; it deletes this message itself.` },
            toRecipients: [{ emailAddress: { address: ctx.mailbox } }],
            internetMessageHeaders: [{ name: PROBE_ID_HEADER, value: probeId }],
            internetMessageId: probeMessageId(probeId),
          },
          saveToSentItems: false,
        },
      },
      (status) => status === 202,
    );
    const acceptedAt = ctx.clock.monotonic();
    run.measured.sendSeconds = seconds(acceptedAt - sendStart);
    ctx.transcript.note(`graph: sendMail accepted (202) ${probeId}; waiting for it in the INBOX`);

    run.recorder.begin('delivery');
    const exact = new Set([probeId]);
    const deadlineAt = acceptedAt + policy.roundtrip.deadlineMs;
    let ids: string[] = [];
    for (;;) {
      const look = await findProbeMail(run, sentAt - CLOCK_SLACK_MS, policy.sweep ? policy : { ...policy, sweepMinAgeMs: Number.POSITIVE_INFINITY }, exact);
      const seenAt = ctx.clock.monotonic();
      if (look.found) {
        ids = look.ids;
        run.measured.deliverySeconds = seconds(seenAt - acceptedAt);
        break;
      }
      const left = deadlineAt - seenAt;
      if (left <= 0 || ctx.signal.aborted) {
        throw new ProbeError('delivery_timeout', `the probe message ${probeId} did not reach the INBOX within ${seconds(policy.roundtrip.deadlineMs)} s`, {
          stage: 'delivery',
        });
      }
      await pause(Math.min(policy.roundtrip.pollMs, left), ctx.signal);
    }

    if (!policy.cleanup) {
      ctx.transcript.note('cleanup: switched off for this monitor; the probe message stays');
      return;
    }
    run.recorder.begin('cleanup');
    try {
      const deleted = await deleteMessages(run, ids);
      run.facts.cleanedUp = deleted;
      run.measured.cleanup = deleted > 0 ? 'deleted' : 'not_found';
      ctx.transcript.note(`cleanup: deleted ${deleted} probe message(s) by id`);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      run.measured.cleanup = 'failed';
      const why = err instanceof Error ? err.message : String(err);
      throw new ProbeError('cleanup_failed', `the probe message could not be deleted: ${why}`, {
        stage: 'cleanup',
        ...(err instanceof ProbeError && err.serverText !== undefined ? { serverText: err.serverText } : {}),
      });
    }
  });
};

/** Lists the newest INBOX message: proves the app may read the mailbox over Graph, for apps granted only read. */
export const graphReadProbe: ProbeFn = (ctx) =>
  runGraph(ctx, ctx.stepTimeoutMs * 2, async (run) => {
    run.recorder.begin('list');
    const url = userPath(run.base, ctx.mailbox, 'mailFolders/inbox/messages');
    url.searchParams.set('$select', 'id,receivedDateTime');
    url.searchParams.set('$top', '1');
    const response = await graphCall(run.call, { method: 'GET', url }, (status) => status === 200);
    run.measured.messageCount = listValue(response.body).length;
  });
