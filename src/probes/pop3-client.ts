import tls from 'node:tls';
import { REDACTION_MASK, type Secret } from '../core/secret.js';
import type { Endpoint } from '../core/endpoint.js';
import { tlsOptionsFor } from './transport-errors.js';

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

/** The server broke the protocol: an overlong or malformed line, or an answer that fits nothing. */
export class Pop3ProtocolError extends Error {
  readonly code = 'EPROTOCOL';

  constructor(message: string) {
    super(message);
    this.name = 'Pop3ProtocolError';
  }
}

// Codes the shared transport table maps (timeout, connection_reset), so POP3 needs no table of its own.
class Pop3TransportError extends Error {
  readonly code: 'ETIMEDOUT' | 'ECONNRESET' | 'ABORT_ERR';

  constructor(code: 'ETIMEDOUT' | 'ECONNRESET' | 'ABORT_ERR', message: string) {
    super(message);
    this.name = 'Pop3TransportError';
    this.code = code;
  }
}

export interface Pop3Options {
  endpoint: Endpoint;
  /** Bound for connecting, the handshake and every single reply. */
  timeoutMs: number;
  signal: AbortSignal;
  /** Longest line accepted, CRLF excluded; RFC 1939 allows 512 octets, CAPA and SASL lines need more. */
  maxLineLength?: number;
  onClientLine?: (line: string) => void;
  onServerLine?: (line: string) => void;
  /** The TCP connection is up; the TLS handshake starts. */
  onTcpConnected?: () => void;
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
  readonly #socket: tls.TLSSocket;
  readonly #options: Pop3Options;
  readonly #maxLine: number;
  #buffer = Buffer.alloc(0);
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: tls.TLSSocket, options: Pop3Options) {
    this.#socket = socket;
    this.#options = options;
    this.#maxLine = options.maxLineLength ?? DEFAULT_MAX_LINE;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      if (this.#buffer.length > this.#maxLine * MAX_BUFFERED_LINES) {
        this.#buffer = Buffer.alloc(0);
        socket.destroy();
        this.#fail(new Pop3ProtocolError(`the server sent more than ${this.#maxLine * MAX_BUFFERED_LINES} bytes ahead of the replies asked for`));
        return;
      }
      this.#wake?.();
    });
    socket.on('error', (err: Error) => this.#fail(err));
    socket.on('close', () => this.#fail(new Pop3TransportError('ECONNRESET', 'server closed the connection')));
  }

  /** Connects with implicit TLS (995). Resolves once the handshake is done; the greeting is not read yet. */
  static async connect(options: Pop3Options): Promise<Pop3Client> {
    const socket = tls.connect(tlsOptionsFor(options.endpoint));
    socket.once('connect', () => options.onTcpConnected?.());
    try {
      await bounded(options, 'connecting', (settle) => {
        socket.once('secureConnect', () => settle());
        socket.once('error', (err) => settle(err));
        socket.once('close', () => settle(new Pop3TransportError('ECONNRESET', 'connection closed during the TLS handshake')));
      });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    return new Pop3Client(socket, options);
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
    if (!match?.[1] || !match[2]) throw new Pop3ProtocolError(`STAT answer is not "+OK count size": ${reply}`);
    return { messageCount: Number(match[1]), mailboxBytes: Number(match[2]) };
  }

  async quit(): Promise<string> {
    this.#send('QUIT');
    return this.#expectOk('QUIT', await this.readLine());
  }

  /** Idempotent; every exit path calls it. */
  close(): void {
    this.#socket.destroy();
  }

  /** One CRLF-terminated line, bounded by timeoutMs, the abort signal and the line length limit. */
  async readLine(): Promise<string> {
    const line = await bounded<string>(this.#options, 'waiting for the server', (settle) => {
      this.#wake = () => {
        try {
          const next = this.#takeLine();
          if (next !== undefined) return settle(undefined, next);
          if (this.#failure) settle(this.#failure);
        } catch (err) {
          settle(err);
        }
      };
      this.#wake();
    }).finally(() => {
      this.#wake = undefined;
    });
    this.#options.onServerLine?.(line);
    return line;
  }

  #takeLine(): string | undefined {
    const end = this.#buffer.indexOf('\r\n');
    if (end < 0) {
      if (this.#buffer.length > this.#maxLine) throw new Pop3ProtocolError(`server line longer than ${this.#maxLine} bytes`);
      return undefined;
    }
    if (end > this.#maxLine) throw new Pop3ProtocolError(`server line longer than ${this.#maxLine} bytes`);
    const line = this.#buffer.subarray(0, end).toString('utf8');
    this.#buffer = this.#buffer.subarray(end + 2);
    if (/[\r\n\0]/.test(line)) throw new Pop3ProtocolError('server line contains a bare CR, LF or NUL');
    return line;
  }

  async #readMultiline(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line === '.') return lines;
      if (lines.length >= MAX_MULTILINE_LINES) throw new Pop3ProtocolError(`multi-line answer longer than ${MAX_MULTILINE_LINES} lines`);
      lines.push(line.startsWith('..') ? line.slice(1) : line);
    }
  }

  #expectOk(command: string, reply: string): string {
    if (reply === '+OK' || reply.startsWith('+OK ')) return reply;
    if (reply === '-ERR' || reply.startsWith('-ERR ') || reply.startsWith('-ERR[')) throw new Pop3ReplyError(command, reply);
    throw new Pop3ProtocolError(`unexpected answer to ${command}: ${reply}`);
  }

  #send(line: string, logged: string = line): void {
    this.#options.onClientLine?.(logged);
    this.#socket.write(`${line}\r\n`);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#wake?.();
  }
}

function isContinuation(line: string): boolean {
  return line === '+' || line.startsWith('+ ');
}

/** Runs one wait under the per-step timeout and the abort signal; `settle` ends it either way. */
function bounded<T = void>(
  options: Pick<Pop3Options, 'timeoutMs' | 'signal'>,
  what: string,
  start: (settle: (err?: unknown, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timeout = (): void => settle(new Pop3TransportError('ETIMEDOUT', `no answer within ${options.timeoutMs} ms while ${what}`));
    const timer = setTimeout(timeout, options.timeoutMs);
    const onAbort = (): void => settle(new Pop3TransportError('ABORT_ERR', `aborted while ${what}`));
    function settle(err?: unknown, value?: T): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(value as T);
    }
    if (options.signal.aborted) return onAbort();
    options.signal.addEventListener('abort', onAbort, { once: true });
    start(settle);
  });
}
