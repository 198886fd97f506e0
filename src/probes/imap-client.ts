import { REDACTION_MASK, type Secret } from '../core/secret.js';
import { LineSocket, ProtocolViolation, type LineClientOptions } from './line-socket.js';

// The imap check speaks what the hand test with openssl s_client speaks: greeting, CAPABILITY, AUTHENTICATE
// XOAUTH2, LIST, LOGOUT. imapflow, a full client (a stream parser and command compiler, ID and NAMESPACE after
// login), allocated ~450 KB per check for that: 58 % of the agent's allocation at 1,000 monitors (npm run bench,
// sampling heap profile), which set the young generation's size and the heap's growth at 10,000 monitors. This
// client reads lines as they come, keeps none, and bounds what it reads. Work inside a mailbox (SEARCH, FETCH,
// STORE for cleanup and roundtrip) stays with imapflow.

/** The server answered a command with a tagged NO or BAD, or refused in its greeting; `status` is its words. */
export class ImapRefusal extends Error {
  /** The status line without the tag, as the reply classifier reads it: "NO AUTHENTICATE failed." */
  readonly status: string;

  constructor(command: string, status: string) {
    super(`${command} was refused: ${status}`);
    this.name = 'ImapRefusal';
    this.status = status;
  }
}

/** Greetings, capabilities and LIST lines are far shorter; a folder name sent as a literal is too. */
const MAX_LINE_BYTES = 64 * 1024;
const MAX_LITERAL_BYTES = 64 * 1024;
const MAX_LITERALS_PER_LINE = 4;
/** Room for what TLS hands over in one go beyond the line and literal being read. */
const READ_AHEAD_BYTES = 128 * 1024;
/** Most a server may send in answer to one command (a LIST of thousands of folders is a few hundred KiB). */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
export const MAX_ANSWER_LINES = 20_000;
/** What the transcript keeps of one server line. */
export const MAX_TRANSCRIPT_LINE = 2000;

export class ImapClient {
  readonly #lines: LineSocket;
  readonly #options: LineClientOptions;
  #nextTag = 1;
  #capabilities: ReadonlySet<string> | undefined;

  private constructor(lines: LineSocket, options: LineClientOptions) {
    this.#lines = lines;
    this.#options = options;
  }

  /** Connects with implicit TLS (993). Resolves once the handshake is done; the greeting is not read yet. */
  static async connect(options: LineClientOptions): Promise<ImapClient> {
    // A literal is read whole, after the line that announces it.
    const lines = await LineSocket.connect({
      ...options,
      maxLineLength: MAX_LINE_BYTES,
      maxBufferedBytes: MAX_LINE_BYTES + MAX_LITERAL_BYTES + READ_AHEAD_BYTES,
    });
    return new ImapClient(lines, options);
  }

  /** "* OK", keeping the capabilities when it lists them; "* BYE" is a refusal, "* PREAUTH" leaves no login to prove. */
  async greeting(): Promise<void> {
    const line = await this.#readResponse();
    const match = /^\* (OK|BYE|PREAUTH)\b ?(.*)$/i.exec(line);
    const status = match?.[1]?.toUpperCase();
    if (status === 'OK') {
      this.#capabilities = capabilityCode(match?.[2] ?? '');
      return;
    }
    if (status === 'BYE') throw new ImapRefusal('the greeting', line.slice(2));
    if (status === 'PREAUTH') throw new ProtocolViolation('the server greeted with PREAUTH: the session is logged in before any credential');
    throw new ProtocolViolation(`the greeting is not "* OK": ${clip(line)}`);
  }

  /** From the greeting when it listed them, else from CAPABILITY. Names are upper case. */
  async capabilities(): Promise<ReadonlySet<string>> {
    if (this.#capabilities) return this.#capabilities;
    let found: ReadonlySet<string> | undefined;
    await this.#command('CAPABILITY', {
      untagged: (line) => {
        const listed = /^\* CAPABILITY (.*)$/i.exec(line)?.[1];
        if (listed !== undefined) found = capabilitySet(listed);
      },
    });
    if (!found) throw new ProtocolViolation('CAPABILITY completed without a CAPABILITY answer');
    this.#capabilities = found;
    return found;
  }

  /**
   * SASL XOAUTH2, the initial response on the command line when SASL-IR is offered (as Exchange does) or after
   * the server's "+". A continuation after the credentials is an error challenge; an empty line asks for the verdict.
   */
  async authenticateXOAuth2(initialResponse: Secret): Promise<void> {
    const inline = (await this.capabilities()).has('SASL-IR');
    let sent = inline;
    await this.#command(inline ? `AUTHENTICATE XOAUTH2 ${initialResponse.reveal()}` : 'AUTHENTICATE XOAUTH2', {
      logged: inline ? `AUTHENTICATE XOAUTH2 ${REDACTION_MASK}` : 'AUTHENTICATE XOAUTH2',
      continuation: () => {
        if (sent) return { line: '', logged: '' };
        sent = true;
        return { line: initialResponse.reveal(), logged: REDACTION_MASK };
      },
      maxContinuations: inline ? 1 : 2,
    });
    // Capabilities may change once logged in; nothing here reads them again.
    this.#capabilities = undefined;
  }

  /** LIST "" "*": how many folders the server lists. */
  async countFolders(): Promise<number> {
    let folders = 0;
    await this.#command('LIST "" "*"', {
      untagged: (line) => {
        if (/^\* LIST /i.test(line)) folders++;
      },
    });
    return folders;
  }

  async logout(): Promise<void> {
    await this.#command('LOGOUT');
  }

  /** Idempotent; every exit path calls it. */
  close(): void {
    this.#lines.close();
  }

  /** Sends one tagged command and reads to its tagged status, bounded in lines and bytes; returns the status. */
  async #command(
    text: string,
    options: {
      logged?: string;
      untagged?: (line: string) => void;
      continuation?: () => { line: string; logged: string };
      maxContinuations?: number;
    } = {},
  ): Promise<string> {
    const tag = `A${this.#nextTag++}`;
    const verb = text.split(' ', 1)[0] ?? text;
    this.#send(`${tag} ${text}`, `${tag} ${options.logged ?? text}`);
    let bytes = 0;
    let lines = 0;
    let continuations = 0;
    let bye: string | undefined;
    for (;;) {
      // The server said goodbye and closed: its words, not the close, are why the command failed.
      const line = await this.#readResponse().catch((err: unknown) => {
        throw bye === undefined ? err : new ImapRefusal(verb, bye);
      });
      bytes += line.length + 2;
      lines++;
      if (bytes > MAX_ANSWER_BYTES) throw new ProtocolViolation(`the server sent more than ${MAX_ANSWER_BYTES} bytes in answer to ${verb}`);
      if (lines > MAX_ANSWER_LINES) throw new ProtocolViolation(`the server sent more than ${MAX_ANSWER_LINES} lines in answer to ${verb}`);
      if (line.startsWith(`${tag} `)) return tagged(verb, line.slice(tag.length + 1));
      if (line.startsWith('* ')) {
        if (/^\* BYE\b/i.test(line)) bye ??= line.slice(2);
        options.untagged?.(line);
        continue;
      }
      if ((line === '+' || line.startsWith('+ ')) && options.continuation && continuations++ < (options.maxContinuations ?? 1)) {
        const reply = options.continuation();
        this.#send(reply.line, reply.logged);
        continue;
      }
      throw new ProtocolViolation(`unexpected line in answer to ${verb}: ${clip(line)}`);
    }
  }

  /** One response line with its literals ({n} at the end of a line, then n bytes, then the rest of the line). */
  async #readResponse(): Promise<string> {
    let line = await this.#lines.readLine();
    for (let literals = 0, size = literalSize(line); size !== undefined; size = literalSize(line)) {
      if (size > MAX_LITERAL_BYTES) throw new ProtocolViolation(`the server announced a literal of ${size} bytes (at most ${MAX_LITERAL_BYTES})`);
      if (++literals > MAX_LITERALS_PER_LINE) throw new ProtocolViolation(`more than ${MAX_LITERALS_PER_LINE} literals in one response line`);
      const literal = await this.#lines.readBytes(size);
      line += literal.toString('utf8') + (await this.#lines.readLine());
    }
    this.#options.onServerLine?.(clip(line));
    return line;
  }

  #send(line: string, logged: string): void {
    this.#options.onClientLine?.(logged);
    this.#lines.write(line);
  }
}

function tagged(verb: string, status: string): string {
  const word = status.split(' ', 1)[0]?.toUpperCase();
  if (word === 'OK') return status;
  if (word === 'NO' || word === 'BAD') throw new ImapRefusal(verb, status);
  throw new ProtocolViolation(`the tagged answer to ${verb} is not OK, NO or BAD: ${clip(status)}`);
}

function literalSize(line: string): number | undefined {
  const digits = /\{(\d{1,10})\+?\}$/.exec(line)?.[1];
  return digits === undefined ? undefined : Number(digits);
}

/** The [CAPABILITY …] response code of a status text, if it has one. */
function capabilityCode(text: string): ReadonlySet<string> | undefined {
  const listed = /^\[CAPABILITY ([^\]]*)\]/i.exec(text)?.[1];
  return listed === undefined ? undefined : capabilitySet(listed);
}

function capabilitySet(listed: string): ReadonlySet<string> {
  return new Set(listed.toUpperCase().split(' ').filter(Boolean));
}

/** A server line as the transcript keeps it. */
export function clip(line: string): string {
  return line.length > MAX_TRANSCRIPT_LINE ? `${line.slice(0, MAX_TRANSCRIPT_LINE)}…` : line;
}
