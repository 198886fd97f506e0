import type net from 'node:net';
import tls from 'node:tls';
import { ImapFlow, type ImapFlowOptions, type ImapTransport, type Logger } from 'imapflow';
import { runProbe, withWatchdog, type ProbeRun, type Watchdog } from './timing.js';
import { clip, ImapClient, ImapRefusal, MAX_ANSWER_BYTES, MAX_ANSWER_LINES, MAX_TRANSCRIPT_LINE } from './imap-client.js';
import { ProbeError, rejection, tlsOptionsFor } from './transport-errors.js';
import { lineClientOptions, logOut, serverRefusals } from './session-steps.js';
import { connectEndpoint } from './connect.js';
import { buildXOAuth2 } from './xoauth2.js';
import type { Stage } from '../core/check.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { ProbeContext, ProbeFn, Transcript } from './types.js';
import { quietTranscript } from './quiet-transcript.js';
import { field } from '../core/unknown.js';

// For sessions that work inside the mailbox, imapflow runs CAPABILITY, ID, AUTHENTICATE and NAMESPACE inside
// connect() and exposes no hook between them. Its (internal, untyped) authenticate() is the one seam where the
// server's capabilities are known and nothing secret has been sent, so the probe subclasses it there.
interface ImapFlowInternals {
  authenticate(): Promise<boolean>;
}
const imapflowAuthenticate = (ImapFlow.prototype as unknown as ImapFlowInternals).authenticate;

interface AuthHooks {
  before(capabilities: ReadonlyMap<string, unknown>): void;
  after(): void;
}

class XOAuth2ImapFlow extends ImapFlow {
  readonly #hooks: AuthHooks;

  constructor(options: ImapFlowOptions, hooks: AuthHooks) {
    super(options);
    this.#hooks = hooks;
  }

  async authenticate(): Promise<boolean> {
    this.#hooks.before(this.capabilities);
    // imapflow prefers OAUTHBEARER whenever it is offered; the probe proves XOAUTH2, the one
    // mechanism Exchange offers, so the other never reaches imapflow's choice.
    this.capabilities.delete('AUTH=OAUTHBEARER');
    const authenticated = await imapflowAuthenticate.call(this);
    this.#hooks.after();
    return authenticated;
  }
}

/**
 * imapflow buffers up to 1 GiB per line and 2 GiB per response by default: one hostile or broken server (an
 * endless greeting, a 100 MB line) drove a check past 700 MB. Its sessions (roundtrip, cleanup) read greetings,
 * capabilities, LIST, a UID SEARCH and two header fields per probe message; these bounds leave room for a SEARCH
 * over a very large mailbox (about 100,000 UIDs a line) and keep a check's worst case to a few megabytes.
 */
export const IMAP_LIMITS = {
  maxLineLength: 1024 * 1024,
  maxLiteralSize: 1024 * 1024,
  maxResponseSize: 2 * 1024 * 1024 + 64 * 1024,
  maxResponseTokens: 100_000,
} as const satisfies Pick<ImapFlowOptions, 'maxLineLength' | 'maxLiteralSize' | 'maxResponseSize' | 'maxResponseTokens'>;

/** Hides the SASL initial response that rides on the AUTHENTICATE line (SASL-IR). */
export function maskImapClientLine(line: string): string {
  return line.replace(/^(\S+ AUTHENTICATE \S+) .*$/i, '$1 [redacted]');
}

/**
 * Splits what the server sends into lines for the transcript, byte for byte as received
 * (imapflow's own log re-serialises parsed responses), and remembers the last tagged status,
 * whose text is the server's verdict when a command fails.
 */
class ServerLines {
  lastTagged: string | undefined;
  /** An untagged BYE: the server ending the session, whose words explain the close that follows. */
  bye: string | undefined;
  #partial = '';
  #bytes = 0;
  #lines = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onFlood: (what: string) => void,
  ) {}

  /** The client sent a command: what the server sends next answers it. */
  clientSpoke(): void {
    this.#bytes = 0;
    this.#lines = 0;
  }

  push(chunk: Buffer): void {
    // Every single line and response is bounded by IMAP_LIMITS, but not how many of them answer one command; a
    // server streaming valid untagged lines would keep the watchdog fed until the check's deadline.
    this.#bytes += chunk.length;
    if (this.#bytes > MAX_ANSWER_BYTES) return this.onFlood(`more than ${MAX_ANSWER_BYTES} bytes`);
    const lines = (this.#partial + chunk.toString('utf8')).split('\r\n');
    this.#lines += lines.length - 1;
    if (this.#lines > MAX_ANSWER_LINES) return this.onFlood(`more than ${MAX_ANSWER_LINES} lines`);
    this.#partial = (lines.pop() ?? '').slice(0, MAX_TRANSCRIPT_LINE);
    for (const line of lines) {
      if (!line.startsWith('* ') && !line.startsWith('+')) this.lastTagged = line.replace(/^\S+ /, '');
      else if (/^\* BYE\b/i.test(line)) this.bye ??= line.slice(2);
      this.onLine(clip(line));
    }
  }
}

/** A tagged NO/BAD (imapflow: responseStatus), or a login imapflow itself declared failed. */
function isServerRefusal(err: unknown): boolean {
  const status = field(err, 'responseStatus');
  return status === 'NO' || status === 'BAD' || field(err, 'authenticationFailed') === true;
}

function transcriptLogger(run: ProbeRun, transcript: Transcript, watchdog: Watchdog, serverLines: ServerLines): Logger {
  const ignore = (): void => undefined;
  return {
    // Client lines arrive here already masked by imapflow (sensitive attributes); server lines
    // come from the socket instead, see ServerLines.
    debug: (entry: unknown) => {
      const msg = field(entry, 'msg');
      if (field(entry, 'src') !== 'c' || typeof msg !== 'string') return;
      watchdog.kick();
      serverLines.clientSpoke();
      // The greeting ends when the client speaks: a server line alone may be garbage, not a greeting.
      if (run.recorder.stage === 'greeting') run.recorder.begin('capability');
      transcript.client(msg);
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
}

/**
 * Opens an authenticated imapflow session (implicit TLS, SASL XOAUTH2) for work inside the mailbox (roundtrip,
 * cleanup), runs `work` on it and logs out. Steps: connect, tls, greeting, capability, auth, then `afterAuth` for
 * the session set-up imapflow does after login (ID, NAMESPACE) and for `work`, then logout. Exchange's "BAD User is
 * authenticated but not connected." answers the first command after login, so it lands in `afterAuth`.
 */
export async function withImapSession<T>(ctx: ProbeContext, run: ProbeRun, afterAuth: Stage, work: (client: ImapFlow) => Promise<T>): Promise<T> {
  const { recorder } = run;
  const endpoint = ctx.endpoints.imap;
  let tcp: net.Socket | undefined;
  let socket: tls.TLSSocket | undefined;
  let client: XOAuth2ImapFlow | undefined;
  let lastError: unknown;
  const teardown = (): void => {
    client?.close();
    socket?.destroy();
    tcp?.destroy();
  };
  return withWatchdog({ stepTimeoutMs: ctx.stepTimeoutMs, signal: ctx.signal, recorder, onTrip: teardown }, async (watchdog) => {
    const transcript = quietTranscript(run.transcript);
    const serverLines = new ServerLines(
      (line) => {
        watchdog.kick();
        transcript.server(line);
      },
      (what) => {
        lastError ??= new ProbeError('protocol_error', `the server sent ${what} in answer to one command during ${recorder.stage}`);
        teardown();
      },
    );
    // A transport of our own, so TCP connect and the TLS handshake are timed apart, the TCP connection may go through
    // the outbound proxy, and the socket is ours to destroy whatever state imapflow is in. imapflow's connect()
    // wants the socket at once, so the TCP connection (or tunnel) is made before it is called.
    const transport: ImapTransport = {
      connect: (_options, onConnect) => {
        const opened = tls.connect({ ...tlsOptionsFor(endpoint), ...(tcp ? { socket: tcp } : {}) }, () => {
          watchdog.kick();
          recorder.begin('greeting');
          onConnect();
          // After imapflow's pipe is in place, so no byte is consumed before imapflow sees it.
          opened.on('data', (chunk: Buffer) => serverLines.push(chunk));
        });
        socket = opened;
        return opened;
      },
    };
    client = new XOAuth2ImapFlow(
      {
        host: endpoint.host,
        port: endpoint.port,
        secure: true,
        auth: { user: ctx.mailbox, accessToken: ctx.accessToken.reveal() },
        transport,
        logger: transcriptLogger(run, transcript, watchdog, serverLines),
        connectionTimeout: ctx.stepTimeoutMs,
        greetingTimeout: ctx.stepTimeoutMs,
        socketTimeout: ctx.stepTimeoutMs,
        disableAutoIdle: true,
        disableCompression: true,
        // Exchange's IMAP4rev2 search is reported broken, and ENABLE cannot be undone within a session: the
        // probe stays IMAP4rev1 unless the monitor opts in (imap.imap4rev2), whatever imapflow would default to.
        disableAutoEnable: endpoint.imap4rev2 !== true,
        disableIMAP4rev2: endpoint.imap4rev2 !== true,
        ...IMAP_LIMITS,
      },
      {
        before: (capabilities) => {
          recorder.attribute('capability');
          requireXOAuth2(capabilities.keys());
          recorder.begin('auth');
        },
        after: () => recorder.begin(afterAuth),
      },
    );
    client.on('error', (err: unknown) => {
      lastError ??= err;
    });
    recorder.begin('connect');
    try {
      tcp = await connectEndpoint(endpoint, { timeoutMs: ctx.stepTimeoutMs, signal: ctx.signal, note: transcript.note });
      watchdog.kick();
      recorder.begin('tls');
      await client.connect();
      const result = await work(client);
      recorder.begin('logout');
      // The mailbox answered; a LOGOUT that goes wrong changes nothing about that.
      await client.logout().catch((err: unknown) => run.transcript.note(`LOGOUT did not complete: ${String(err)}`));
      return result;
    } catch (err) {
      if (err instanceof ProbeError) throw err;
      if (isServerRefusal(err)) {
        const text = serverLines.lastTagged ?? String(field(err, 'responseText') ?? field(err, 'response') ?? '');
        throw rejection('imap', recorder.stage, text, `server refused the command during ${recorder.stage}`);
      }
      // A reply that came before the close wins over it: a BYE is the server ending the session (not LOGOUT's own).
      if (serverLines.bye !== undefined && recorder.stage !== 'logout') {
        throw rejection('imap', recorder.stage, serverLines.bye, `the server ended the session during ${recorder.stage}`);
      }
      // A command cut off by a lost connection reports NoConnection; the socket error says why.
      throw lastError ?? err;
    } finally {
      teardown();
    }
  });
}

/** Fails the check at capability, before any credential is sent, unless AUTH=XOAUTH2 is among `capabilities`. */
function requireXOAuth2(capabilities: Iterable<string>): void {
  const names = [...capabilities];
  if (names.some((name) => name.toUpperCase() === 'AUTH=XOAUTH2')) return;
  const offered = names.filter((name) => name.toUpperCase().startsWith('AUTH=')).join(' ') || 'none';
  throw new ProbeError('xoauth2_not_offered', `CAPABILITY does not offer AUTH=XOAUTH2 (offered: ${offered})`, { stage: 'capability' });
}

const refusedAt = serverRefusals('imap', 'CAPABILITY', (err) => (err instanceof ImapRefusal ? err.status : undefined));

/**
 * IMAPS as the hand test speaks it: TLS, greeting, CAPABILITY offers XOAUTH2, AUTHENTICATE XOAUTH2, LIST (folder
 * count), LOGOUT, on the probe's own client (imap-client.ts says why). Exchange's "BAD User is authenticated but not
 * connected." answers the first command after login, so it lands in list.
 */
export const imapProbe: ProbeFn = (ctx: ProbeContext): Promise<ProbeOutcome> =>
  runProbe(ctx, 'imap', maskImapClientLine, async (run) => {
    const { recorder } = run;
    recorder.begin('connect');
    const client = await ImapClient.connect(lineClientOptions(ctx, run, ctx.endpoints.imap));
    try {
      recorder.begin('greeting');
      await refusedAt('greeting', () => client.greeting());
      recorder.begin('capability');
      requireXOAuth2(await refusedAt('capability', () => client.capabilities()));
      recorder.begin('auth');
      await refusedAt('auth', () => client.authenticateXOAuth2(buildXOAuth2(ctx.mailbox, ctx.accessToken)));
      recorder.begin('list');
      run.measured.folderCount = await refusedAt('list', () => client.countFolders());
      recorder.begin('logout');
      await logOut(run, 'LOGOUT', () => client.logout());
    } finally {
      client.close();
    }
  });
