import { Pop3Client, Pop3ReplyError } from './pop3-client.js';
import { runProbe, type ProbeRun } from './timing.js';
import { ProbeError } from './transport-errors.js';
import { lineClientOptions, logOut, serverRefusals } from './session-steps.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { ProbeContext, ProbeFn } from './types.js';
import { buildXOAuth2 } from './xoauth2.js';

const serverSays = serverRefusals('pop3', 'CAPA', (err) => (err instanceof Pop3ReplyError ? err.reply : undefined));

/** POP3 over implicit TLS: greeting, CAPA offers XOAUTH2, AUTH XOAUTH2 (two-step), STAT, QUIT. */
export const pop3Probe: ProbeFn = (ctx: ProbeContext): Promise<ProbeOutcome> =>
  runProbe(
    ctx,
    'pop3',
    (line) => line,
    (run) => pop3Session(ctx, run),
  );

async function pop3Session(ctx: ProbeContext, run: ProbeRun): Promise<void> {
  const { recorder, measured, facts } = run;
  recorder.begin('connect');
  const client = await Pop3Client.connect(lineClientOptions(ctx, run, ctx.endpoints.pop3));
  try {
    recorder.begin('greeting');
    await serverSays('greeting', () => client.greeting());

    recorder.begin('capability');
    const capabilities = await serverSays('capability', () => client.capabilities());
    const sasl = capabilities.find((line) => /^SASL(?: |$)/i.test(line));
    if (!sasl?.toUpperCase().split(/\s+/).includes('XOAUTH2')) {
      throw new ProbeError('xoauth2_not_offered', `CAPA does not offer SASL XOAUTH2 (${sasl ?? 'no SASL line'})`, {
        stage: 'capability',
        ...(sasl ? { serverText: sasl } : {}),
      });
    }

    recorder.begin('auth');
    await serverSays('auth', () => client.authXOAuth2(buildXOAuth2(ctx.mailbox, ctx.accessToken)));

    recorder.begin('stat');
    const stat = await serverSays('stat', () => client.stat());
    measured.messageCount = stat.messageCount;
    facts.mailboxBytes = stat.mailboxBytes;

    recorder.begin('logout');
    await logOut(run, 'QUIT', () => client.quit());
  } finally {
    client.close();
  }
}
