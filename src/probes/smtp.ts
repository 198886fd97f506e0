import type net from 'node:net';
import SMTPConnection, { type SMTPConnectionCustomAuthContext } from 'nodemailer/lib/smtp-connection';
import { runProbe, withWatchdog, type ProbeRun, type Watchdog } from './timing.js';
import { ProbeError, rejection, tlsOptionsFor, transportReason } from './transport-errors.js';
import { connectEndpoint } from './connect.js';
import type { Stage } from '../core/check.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { ProbeContext, ProbeFn } from './types.js';
import { probeMessageId } from './probe-mail.js';
import { buildXOAuth2 } from './xoauth2.js';
import { field } from '../core/unknown.js';

export interface ProbeMessage {
  probeId: string;
  /** With angle brackets, as in the Message-ID header. */
  messageId: string;
  /** The server's final answer to DATA (Exchange: `250 2.0.0 OK <id> [Hostname=…]`). */
  serverResponse: string;
}

/** Shows nodemailer's masked auth lines the way the other protocols show theirs. */
export function maskSmtpClientLine(line: string): string {
  if (line === '/* secret */') return '[redacted]';
  return line.replace(/^(AUTH XOAUTH2) .+$/i, '$1 [redacted]');
}

// RFC 5322 wants a numeric zone; toUTCString() ends in the obsolete "GMT".
function rfc5322Date(epochMs: number): string {
  return new Date(epochMs).toUTCString().replace(/GMT$/, '+0000');
}

function composeMessage(mailbox: string, recipient: string, probeId: string, epochMs: number): string {
  return [
    `From: <${mailbox}>`,
    `To: <${recipient}>`,
    `Subject: mailprobe probe ${probeId}`,
    `Date: ${rfc5322Date(epochMs)}`,
    `Message-ID: ${probeMessageId(probeId)}`,
    `X-Mailprobe-Id: ${probeId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    `mailprobe sent this message to itself to check SMTP submission (probe ${probeId}).`,
    'It is safe to delete.',
    '',
  ].join('\r\n');
}

// Not "XOAUTH2": for that method name nodemailer, given no token generator of its own, picks the
// first mechanism the server offers instead (AUTH LOGIN on Exchange), custom handler or not.
const XOAUTH2_HANDLER = 'MAILPROBE-XOAUTH2';

/**
 * nodemailer's built-in XOAUTH2 answers an error challenge by fetching a new token and trying
 * again, which drops the server's final reply; this handler keeps it. Two-step (AUTH XOAUTH2,
 * 334, credentials) as in Microsoft's own sample, which also keeps long tokens off the command
 * line. Never anything but XOAUTH2.
 */
function xoauth2Handler(ctx: ProbeContext, run: ProbeRun) {
  return async ({ authMethods, sendCommand }: SMTPConnectionCustomAuthContext): Promise<void> => {
    run.recorder.attribute('capability');
    if (!authMethods.includes('XOAUTH2')) {
      const offered = authMethods.join(' ') || 'none';
      throw new ProbeError('xoauth2_not_offered', `EHLO after STARTTLS does not offer AUTH XOAUTH2 (offered: ${offered})`, {
        stage: 'capability',
      });
    }
    run.recorder.begin('auth');
    const ready = await sendCommand('AUTH XOAUTH2');
    if (ready.status !== 334) throw rejection('smtp', 'auth', ready.response, 'AUTH XOAUTH2 was refused');
    let verdict = await sendCommand(buildXOAuth2(ctx.mailbox, ctx.accessToken).reveal());
    if (verdict.status === 334) verdict = await sendCommand('');
    if (verdict.status !== 235) throw rejection('smtp', 'auth', verdict.response, 'the server rejected the XOAUTH2 credentials');
  };
}

/**
 * A nodemailer error that carries an SMTP reply becomes a rejection classified on that reply. A refusal that came
 * before the close wins over the close (a 421 answer is followed by the server hanging up, and the close can
 * reach us first): its words are the failure's.
 */
function fromNodemailer(err: unknown, stage: Stage, refusal: LastRefusal): unknown {
  if (err instanceof ProbeError) return err;
  const answered = field(err, 'response');
  const response = typeof answered === 'string' && /^\d{3}/.test(answered) ? answered : transportReason(err) === 'connection_reset' ? refusal.reply : undefined;
  if (response === undefined) return err;
  const refused = rejection('smtp', stage, response, `the server refused ${String(field(err, 'command') ?? 'the command')}`);
  // requireTLS sends STARTTLS even when EHLO did not offer it; a refusal means no TLS to be had.
  if (field(err, 'command') === 'STARTTLS' && refused.reason === 'protocol_error') {
    return new ProbeError('starttls_unavailable', refused.message, { stage: 'starttls', serverText: response });
  }
  return refused;
}

function closedError(): Error {
  return Object.assign(new Error('server closed the connection'), { code: 'ECONNRESET' });
}

/** The server's latest reply to the latest command, if it was a refusal (4xx/5xx). */
interface LastRefusal {
  reply?: string;
}

function transcriptLogger(run: ProbeRun, watchdog: Watchdog, refusal: LastRefusal) {
  const ignore = (): void => undefined;
  return {
    debug: (entry: unknown, message: unknown) => {
      if (typeof message !== 'string') return;
      const tnx = field(entry, 'tnx');
      if (tnx === 'server') {
        watchdog.kick();
        for (const line of message.split('\n')) run.transcript.server(line);
        if (/^[45]\d\d(?:[ -]|$)/.test(message)) refusal.reply = message;
      } else if (tnx === 'client') {
        watchdog.kick();
        delete refusal.reply;
        // The greeting ends when the client speaks: a server line alone may be garbage, not a greeting.
        if (run.recorder.stage === 'greeting') run.recorder.begin('capability');
        if (message === 'STARTTLS') run.recorder.begin('starttls');
        run.transcript.client(message);
      }
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
}

/**
 * Submits one probe message from the mailbox to itself (or to its endpoint's recipient) over 587-style SMTP: plain connect,
 * EHLO, STARTTLS (required), EHLO, AUTH XOAUTH2, MAIL/RCPT/DATA, QUIT. Steps: connect, greeting,
 * capability (first EHLO), starttls (STARTTLS, handshake, second EHLO), auth, send, logout.
 * Throws ProbeError or a transport error; runProbe turns either into the failure.
 */
export async function sendProbeMessage(ctx: ProbeContext, run: ProbeRun, probeId: string): Promise<ProbeMessage> {
  const { recorder } = run;
  const endpoint = ctx.endpoints.smtp;
  // Both end up in header lines and SMTP commands; a CR, LF or bracket would inject into them.
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(probeId)) {
    throw new ProbeError('internal_error', 'probe id unfit for a Message-ID', { stage: 'send' });
  }
  const recipient = endpoint.recipient ?? ctx.mailbox;
  if (/[\s<>]/.test(ctx.mailbox) || /[\s<>]/.test(recipient)) {
    throw new ProbeError('config_invalid', 'mailbox or recipient address unfit for an SMTP envelope', { stage: 'config' });
  }

  let socket: net.Socket | undefined;
  let connection: SMTPConnection | undefined;
  const refusal: LastRefusal = {};
  const teardown = (): void => {
    connection?.close();
    socket?.destroy();
  };
  return withWatchdog({ stepTimeoutMs: ctx.stepTimeoutMs, signal: ctx.signal, recorder, onTrip: teardown }, async (watchdog) => {
    try {
      recorder.begin('connect');
      // Connected here rather than by nodemailer, so the connect step is timed on its own and may go through the
      // outbound proxy (nodemailer's own proxy support has no step timing and no proxy failure of its own).
      const opened = await connectEndpoint(endpoint, { timeoutMs: ctx.stepTimeoutMs, signal: ctx.signal, note: run.transcript.note });
      socket = opened;
      recorder.begin('greeting');
      const smtp = new SMTPConnection({
        host: endpoint.host,
        port: endpoint.port,
        connection: opened,
        secure: false,
        requireTLS: true,
        tls: tlsOptionsFor(endpoint),
        logger: transcriptLogger(run, watchdog, refusal),
        transactionLog: true,
        // nodemailer's connectionTimeout covers greeting, EHLO, STARTTLS and the handshake together;
        // the watchdog bounds each of them, this is only the backstop.
        connectionTimeout: ctx.stepTimeoutMs * 5,
        greetingTimeout: ctx.stepTimeoutMs,
        socketTimeout: ctx.stepTimeoutMs,
        customAuth: { [XOAUTH2_HANDLER]: xoauth2Handler(ctx, run) },
      });
      connection = smtp;
      const errored = new Promise<never>((_resolve, reject) => smtp.on('error', reject));
      const ended = new Promise<never>((_resolve, reject) => smtp.once('end', () => reject(closedError())));
      const broken = Promise.race([errored, ended]);
      for (const settles of [errored, ended, broken]) settles.catch(() => undefined);
      const step = <T>(start: (done: (err?: Error | null, value?: T) => void) => void): Promise<T> =>
        Promise.race([new Promise<T>((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T)))), broken]);

      await step<void>((done) => smtp.connect((err) => done(err)));
      await step<boolean>((done) => smtp.login({ user: ctx.mailbox, method: XOAUTH2_HANDLER }, (err, ok) => done(err, ok)));

      recorder.begin('send');
      const message = composeMessage(ctx.mailbox, recipient, probeId, ctx.clock.now());
      const info = await step<{ response: string }>((done) => smtp.send({ from: ctx.mailbox, to: [recipient] }, message, (err, sent) => done(err, sent)));
      const sent: ProbeMessage = { probeId, messageId: probeMessageId(probeId), serverResponse: info.response };

      recorder.begin('logout');
      const closed = new Promise<void>((resolve) => smtp.once('end', resolve));
      smtp.quit();
      // The message is submitted; a refused or cut-off QUIT changes nothing about that.
      await Promise.race([closed, errored]).catch((err: unknown) => {
        if (transportReason(err) === 'timeout') throw err;
        run.transcript.note(`QUIT did not complete: ${String(err)}`);
      });
      return sent;
    } catch (err) {
      throw fromNodemailer(err, recorder.stage, refusal);
    } finally {
      teardown();
    }
  });
}

/** SMTP submission: STARTTLS, AUTH XOAUTH2, one message from the mailbox to itself, QUIT. */
export const smtpProbe: ProbeFn = (ctx: ProbeContext): Promise<ProbeOutcome> =>
  runProbe(ctx, 'smtp', maskSmtpClientLine, async (run) => {
    const probeId = ctx.newProbeId();
    run.facts.probeId = probeId;
    const sent = await sendProbeMessage(ctx, run, probeId);
    run.facts.messageId = sent.messageId;
  });
