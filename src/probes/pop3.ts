import { Pop3Client, Pop3ReplyError } from './pop3-client.js';
import { runProbe, type ProbeRun } from './timing.js';
import { ProbeError, rejection, transportReason } from './transport-errors.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { ProbeContext, ProbeFn } from './types.js';
import { buildXOAuth2 } from './xoauth2.js';

/** POP3 over implicit TLS: greeting, CAPA offers XOAUTH2, AUTH XOAUTH2 (two-step), STAT, QUIT. */
export const pop3Probe: ProbeFn = (ctx: ProbeContext): Promise<ProbeOutcome> =>
  runProbe(ctx, 'pop3', (line) => line, (run) => pop3Session(ctx, run));

async function pop3Session(ctx: ProbeContext, run: ProbeRun): Promise<void> {
  const { recorder, facts, transcript } = run;
  recorder.begin('connect');
  const client = await Pop3Client.connect({
    endpoint: ctx.endpoints.pop3,
    timeoutMs: ctx.stepTimeoutMs,
    signal: ctx.signal,
    onClientLine: transcript.client,
    onServerLine: transcript.server,
    onTcpConnected: () => recorder.begin('tls'),
  });
  try {
    recorder.begin('greeting');
    await serverSays(() => client.greeting(), 'greeting');

    recorder.begin('capability');
    const capabilities = await serverSays(() => client.capabilities(), 'capability');
    const sasl = capabilities.find((line) => /^SASL(?: |$)/i.test(line));
    if (!sasl?.toUpperCase().split(/\s+/).includes('XOAUTH2')) {
      throw new ProbeError('xoauth2_not_offered', `CAPA does not offer SASL XOAUTH2 (${sasl ?? 'no SASL line'})`, {
        stage: 'capability',
        ...(sasl ? { serverText: sasl } : {}),
      });
    }

    recorder.begin('auth');
    await serverSays(() => client.authXOAuth2(buildXOAuth2(ctx.mailbox, ctx.accessToken)), 'auth');

    recorder.begin('stat');
    const stat = await serverSays(() => client.stat(), 'stat');
    facts.messageCount = stat.messageCount;
    facts.mailboxBytes = stat.mailboxBytes;

    recorder.begin('logout');
    // The mailbox answered; a refused or cut-off QUIT changes nothing about that. A silent server
    // still fails the check, as it would at any other step.
    await client.quit().catch((err: unknown) => {
      if (transportReason(err) === 'timeout') throw err;
      transcript.note(`QUIT did not complete: ${String(err)}`);
    });
  } finally {
    client.close();
  }
}

async function serverSays<T>(step: () => Promise<T>, stage: 'greeting' | 'capability' | 'auth' | 'stat'): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (!(err instanceof Pop3ReplyError)) throw err;
    // A refused CAPA leaves no way to see XOAUTH2 offered.
    if (stage === 'capability') {
      throw new ProbeError('xoauth2_not_offered', `CAPA refused: ${err.reply}`, { stage, serverText: err.reply });
    }
    throw rejection('pop3', stage, err.reply, err.message);
  }
}
