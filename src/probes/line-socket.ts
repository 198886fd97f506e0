import tls from 'node:tls';
import type { Endpoint } from '../core/endpoint.js';
import { tlsOptionsFor } from './transport-errors.js';
import { connectEndpoint } from './connect.js';

// The transport under the probes' own line-protocol clients (POP3, and IMAP for the imap check): implicit TLS,
// CRLF lines and counted bytes, each wait bounded by the step timeout and the runner's abort, the unread input
// bounded too. The protocol on top decides what a line means.

/** The server broke the protocol: an overlong or malformed line, or an answer that fits nothing. */
export class ProtocolViolation extends Error {
  readonly code = 'EPROTOCOL';

  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

// Codes the shared transport table maps (timeout, connection_reset), so no protocol needs a table of its own.
class LineTransportError extends Error {
  readonly code: 'ETIMEDOUT' | 'ECONNRESET' | 'ABORT_ERR';

  constructor(code: 'ETIMEDOUT' | 'ECONNRESET' | 'ABORT_ERR', message: string) {
    super(message);
    this.name = 'LineTransportError';
    this.code = code;
  }
}

/** What a protocol client on this transport is given by its probe. */
export interface LineClientOptions {
  endpoint: Endpoint;
  /** Bound for connecting, the handshake and every single read. */
  timeoutMs: number;
  signal: AbortSignal;
  onClientLine?: (line: string) => void;
  onServerLine?: (line: string) => void;
  /** The TCP connection is up (through the proxy, if any); the TLS handshake starts. */
  onTcpConnected?: () => void;
  /** A line for the transcript about the connection itself (which proxy carries it). */
  onNote?: (text: string) => void;
}

export interface LineSocketOptions extends Omit<LineClientOptions, 'onClientLine' | 'onServerLine'> {
  /** Longest line accepted, CRLF excluded. */
  maxLineLength: number;
  /** Unread input kept at most; a server further ahead of the client than this is flooding it. */
  maxBufferedBytes: number;
}

export class LineSocket {
  readonly #socket: tls.TLSSocket;
  readonly #options: LineSocketOptions;
  #buffer: Buffer = Buffer.alloc(0);
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: tls.TLSSocket, options: LineSocketOptions) {
    this.#socket = socket;
    this.#options = options;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      if (this.#buffer.length > options.maxBufferedBytes) {
        this.#buffer = Buffer.alloc(0);
        socket.destroy();
        this.#fail(new ProtocolViolation(`the server sent more than ${options.maxBufferedBytes} bytes ahead of the answers asked for`));
        return;
      }
      this.#wake?.();
    });
    socket.on('error', (err: Error) => this.#fail(err));
    socket.on('close', () => this.#fail(new LineTransportError('ECONNRESET', 'server closed the connection')));
  }

  /** Connects (directly or through the outbound proxy) with implicit TLS. Resolves once the handshake is done; nothing is read yet. */
  static async connect(options: LineSocketOptions): Promise<LineSocket> {
    const tcp = await connectEndpoint(options.endpoint, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      ...(options.onNote ? { note: options.onNote } : {}),
    });
    options.onTcpConnected?.();
    const socket = tls.connect({ ...tlsOptionsFor(options.endpoint), socket: tcp });
    try {
      await bounded(options, 'in the TLS handshake', (settle) => {
        socket.once('secureConnect', () => settle());
        socket.once('error', (err) => settle(err));
        socket.once('close', () => settle(new LineTransportError('ECONNRESET', 'connection closed during the TLS handshake')));
      });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    return new LineSocket(socket, options);
  }

  /** One CRLF-terminated line (UTF-8), bounded by the timeout, the abort signal and the line length limit. */
  readLine(): Promise<string> {
    return this.#read('waiting for the server', () => this.#takeLine());
  }

  /** Exactly `count` bytes, as the length prefix of a literal announced them. */
  readBytes(count: number): Promise<Buffer> {
    return this.#read('reading a literal', () => this.#takeBytes(count));
  }

  write(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  /** Idempotent; every exit path calls it. */
  close(): void {
    this.#socket.destroy();
  }

  #read<T>(what: string, take: () => T | undefined): Promise<T> {
    return bounded<T>(this.#options, what, (settle) => {
      this.#wake = () => {
        try {
          const next = take();
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
  }

  #takeLine(): string | undefined {
    const { maxLineLength } = this.#options;
    const end = this.#buffer.indexOf('\r\n');
    if (end < 0) {
      if (this.#buffer.length > maxLineLength) throw new ProtocolViolation(`server line longer than ${maxLineLength} bytes`);
      return undefined;
    }
    if (end > maxLineLength) throw new ProtocolViolation(`server line longer than ${maxLineLength} bytes`);
    const line = this.#buffer.subarray(0, end).toString('utf8');
    this.#buffer = this.#buffer.subarray(end + 2);
    if (/[\r\n\0]/.test(line)) throw new ProtocolViolation('server line contains a bare CR, LF or NUL');
    return line;
  }

  #takeBytes(count: number): Buffer | undefined {
    if (this.#buffer.length < count) return undefined;
    const bytes = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return bytes;
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#wake?.();
  }
}

/** Runs one wait under the per-step timeout and the abort signal; `settle` ends it either way. */
function bounded<T = void>(
  options: Pick<LineSocketOptions, 'timeoutMs' | 'signal'>,
  what: string,
  start: (settle: (err?: unknown, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timeout = (): void => settle(new LineTransportError('ETIMEDOUT', `no answer within ${options.timeoutMs} ms while ${what}`));
    const timer = setTimeout(timeout, options.timeoutMs);
    const onAbort = (): void => settle(new LineTransportError('ABORT_ERR', `aborted while ${what}`));
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
