import { REDACTION_MASK, type Secret } from '../core/secret.js';
import { LineSocket, ProtocolViolation, type LineClientOptions } from './line-socket.js';

// No maintained POP3 library does SASL XOAUTH2 in the two-step form Exchange requires, and the
// probe needs only greeting, CAPA, AUTH, STAT and QUIT, so this is a small strict client.

/** The server answered -ERR (or something else where +OK was due); `reply` is its line. */
export class Pop3ReplyError extends Error {
  readonly reply: string;

  constructor(command: string, reply: string) {
    super(`${command} was refused: ${reply}`);
    this.name = 'Pop3ReplyError';
    this.reply = reply;
  }
}

export interface Pop3Options extends LineClientOptions {
  /** Longest line accepted, CRLF excluded; RFC 1939 allows 512 octets, CAPA and SASL lines need more. */
  maxLineLength?: number;
}

export interface Pop3Stat {
  messageCount: number;
  mailboxBytes: number;
}

const DEFAULT_MAX_LINE = 8 * 1024;
/**
 * Unread input kept at most: the probe reads one reply at a time, so more than a few lines ahead is a server
 * flooding (many short lines, which the line limit alone does not stop).
 */
const MAX_BUFFERED_LINES = 8;
/** A CAPA answer has a dozen lines; a server that never sends the final "." is stopped here. */
const MAX_MULTILINE_LINES = 256;

export class Pop3Client {
  readonly #lines: LineSocket;
  readonly #options: Pop3Options;

  private constructor(lines: LineSocket, options: Pop3Options) {
    this.#lines = lines;
    this.#options = options;
  }

  /** Connects with implicit TLS (995). Resolves once the handshake is done; the greeting is not read yet. */
  static async connect(options: Pop3Options): Promise<Pop3Client> {
    const maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE;
    const lines = await LineSocket.connect({ ...options, maxLineLength, maxBufferedBytes: maxLineLength * MAX_BUFFERED_LINES });
    return new Pop3Client(lines, options);
  }

  async greeting(): Promise<string> {
    return this.#expectOk('greeting', await this.readLine());
  }

  /** CAPA: the capability lines, without the status line and the terminating dot. */
  async capabilities(): Promise<string[]> {
    this.#send('CAPA');
    this.#expectOk('CAPA', await this.readLine());
    return this.#readMultiline();
  }

  /**
   * SASL XOAUTH2 in the two-step form (RFC 5034): the one-line form `AUTH XOAUTH2 <b64>` makes
   * Exchange answer "-ERR Protocol error. Connection is closed." If the server answers the
   * credentials with another continuation (an error challenge), an empty line asks for its verdict.
   */
  async authXOAuth2(initialResponse: Secret): Promise<string> {
    this.#send('AUTH XOAUTH2');
    const ready = await this.readLine();
    if (!isContinuation(ready)) return this.#expectOk('AUTH XOAUTH2', ready);
    this.#send(initialResponse.reveal(), REDACTION_MASK);
    let verdict = await this.readLine();
    if (isContinuation(verdict)) {
      this.#send('');
      verdict = await this.readLine();
    }
    return this.#expectOk('AUTH XOAUTH2', verdict);
  }

  async stat(): Promise<Pop3Stat> {
    this.#send('STAT');
    const reply = this.#expectOk('STAT', await this.readLine());
    const match = /^\+OK (\d+) (\d+)(?: .*)?$/.exec(reply);
    if (!match?.[1] || !match[2]) throw new ProtocolViolation(`STAT answer is not "+OK count size": ${reply}`);
    return { messageCount: Number(match[1]), mailboxBytes: Number(match[2]) };
  }

  async quit(): Promise<string> {
    this.#send('QUIT');
    return this.#expectOk('QUIT', await this.readLine());
  }

  /** Idempotent; every exit path calls it. */
  close(): void {
    this.#lines.close();
  }

  async readLine(): Promise<string> {
    const line = await this.#lines.readLine();
    this.#options.onServerLine?.(line);
    return line;
  }

  async #readMultiline(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line === '.') return lines;
      if (lines.length >= MAX_MULTILINE_LINES) throw new ProtocolViolation(`multi-line answer longer than ${MAX_MULTILINE_LINES} lines`);
      lines.push(line.startsWith('..') ? line.slice(1) : line);
    }
  }

  #expectOk(command: string, reply: string): string {
    if (reply === '+OK' || reply.startsWith('+OK ')) return reply;
    if (reply === '-ERR' || reply.startsWith('-ERR ') || reply.startsWith('-ERR[')) throw new Pop3ReplyError(command, reply);
    throw new ProtocolViolation(`unexpected answer to ${command}: ${reply}`);
  }

  #send(line: string, logged: string = line): void {
    this.#options.onClientLine?.(logged);
    this.#lines.write(line);
  }
}

function isContinuation(line: string): boolean {
  return line === '+' || line.startsWith('+ ');
}
