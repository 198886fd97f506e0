import net from 'node:net';
import tls from 'node:tls';

export interface TlsCredentials {
  cert: string;
  key: string;
}

/** Raised by readLine when the peer sends more than maxLineBytes without a line end. */
export class LineTooLongError extends Error {
  constructor(limit: number) {
    super(`line longer than ${limit} bytes`);
    this.name = 'LineTooLongError';
  }
}

/**
 * One client connection, read as a sequence of lines and byte runs. Each session is a plain async loop
 * (await readLine, answer, repeat), which makes multi-step exchanges (SASL continuations, IMAP literals,
 * SMTP DATA, IDLE) read top to bottom.
 */
export interface LineConnection {
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly closed: boolean;
  /** Next line without its CRLF (or bare LF), decoded as latin1 so every byte survives; null once the peer is gone. */
  readLine(): Promise<string | null>;
  /** Exactly n raw bytes (an IMAP literal); null once the peer is gone. */
  readBytes(n: number): Promise<Buffer | null>;
  write(data: string | Buffer): void;
  /** Writes text followed by CRLF. Strings are latin1 so callers control every byte. */
  writeLine(line: string): void;
  /** Upgrades a plain connection in place (SMTP STARTTLS); bytes the client sent before the handshake are dropped. */
  startTls(): Promise<boolean>;
  /** What to say before closing when the connection sat idle too long; protocols set it after greeting. */
  idleFarewell: string | undefined;
  /** Flushes pending output, then closes. */
  end(): void;
  destroy(): void;
  /** Resolves when the socket is gone, whoever closed it. */
  readonly done: Promise<void>;
}

export interface LineServerOptions {
  host: string;
  /** Implicit TLS (IMAPS, POP3S) when set; otherwise plain, with startTls() available when starttls is set. */
  tls?: TlsCredentials;
  starttls?: TlsCredentials;
  idleTimeoutMs: number;
  maxLineBytes: number;
  /** Runs one session. The connection is closed when it settles. */
  handle(connection: LineConnection): Promise<void>;
}

export interface LineServer {
  host: string;
  port: number;
  /** Stops listening and destroys every open connection at once. */
  close(): Promise<void>;
}

// Stop reading from the socket while this much unread input is queued, so a flooding client cannot grow memory.
const HIGH_WATER_BYTES = 1024 * 1024;

type Waiter = { kind: 'line' } | { kind: 'bytes'; n: number };

class Connection implements LineConnection {
  idleFarewell: string | undefined;
  readonly done: Promise<void>;
  private socket: net.Socket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { want: Waiter; resolve: (value: Buffer | null) => void; reject: (error: Error) => void } | undefined;
  private ended = false;
  private isSecure: boolean;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onEnd = (): void => this.finishInput();
  private readonly onTimeout = (): void => {
    const socket = this.socket;
    if (this.idleFarewell !== undefined && socket.writable) socket.write(`${this.idleFarewell}\r\n`, 'latin1');
    socket.destroy();
  };
  private resolveDone!: () => void;

  constructor(
    socket: net.Socket,
    secure: boolean,
    private readonly options: LineServerOptions,
    private readonly track: (socket: net.Socket) => void,
  ) {
    this.socket = socket;
    this.isSecure = secure;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.attach(socket);
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get secure(): boolean {
    return this.isSecure;
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.writableEnded;
  }

  readLine(): Promise<string | null> {
    return this.read({ kind: 'line' }).then((buffer) => (buffer === null ? null : buffer.toString('latin1')));
  }

  readBytes(n: number): Promise<Buffer | null> {
    return this.read({ kind: 'bytes', n });
  }

  write(data: string | Buffer): void {
    if (this.closed) return;
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  writeLine(line: string): void {
    this.write(`${line}\r\n`);
  }

  async startTls(): Promise<boolean> {
    const credentials = this.options.starttls;
    if (!credentials || this.isSecure || this.closed) return false;
    const plain = this.socket;
    plain.off('data', this.onData);
    plain.off('end', this.onEnd);
    // Idle expiry belongs to the TLS socket now; left on the plain one it would fire too and write the farewell in clear.
    plain.off('timeout', this.onTimeout);
    plain.setTimeout(0);
    // Anything pipelined after STARTTLS arrived in clear text and must not be honoured (RFC 3207 §4.2).
    this.chunks = [];
    this.buffered = 0;
    const secureSocket = new tls.TLSSocket(plain, {
      isServer: true,
      secureContext: tls.createSecureContext(credentials),
    });
    this.track(secureSocket);
    this.socket = secureSocket;
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.options.idleTimeoutMs);
      secureSocket.once('secure', () => {
        clearTimeout(timer);
        resolve(true);
      });
      secureSocket.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      secureSocket.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ok) {
      this.destroy();
      this.finishInput();
      return false;
    }
    this.isSecure = true;
    this.attach(secureSocket);
    return true;
  }

  end(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    // A peer that never reads would keep a half-closed socket around; give it a moment, then drop it.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private attach(socket: net.Socket): void {
    socket.setTimeout(this.options.idleTimeoutMs);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('timeout', this.onTimeout);
    // Errors (resets, bad TLS records) just end the session; nothing a client does may crash the server.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.finishInput();
      this.resolveDone();
    });
  }

  private read(want: Waiter): Promise<Buffer | null> {
    if (this.waiter) return Promise.reject(new Error('concurrent read on one connection'));
    return new Promise((resolve, reject) => {
      this.waiter = { want, resolve, reject };
      if (this.socket.isPaused()) this.socket.resume();
      this.satisfy();
    });
  }

  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.satisfy();
    if (this.buffered > HIGH_WATER_BYTES && !this.waiter) this.socket.pause();
  }

  private finishInput(): void {
    this.ended = true;
    this.satisfy();
  }

  private satisfy(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const result = this.take(waiter.want);
    if (result instanceof Error) {
      this.waiter = undefined;
      waiter.reject(result);
      return;
    }
    if (result === undefined) {
      if (!this.ended) return;
      this.waiter = undefined;
      waiter.resolve(null);
      return;
    }
    this.waiter = undefined;
    waiter.resolve(result);
  }

  /** Takes what the waiter wants from the queue: the result, undefined if not there yet, or an error. */
  private take(want: Waiter): Buffer | undefined | Error {
    // Concatenate only once the request can be met, so a large literal arriving in many chunks is copied once.
    if (want.kind === 'bytes') {
      if (this.buffered < want.n) return undefined;
      const all = this.joined();
      this.keep(all.subarray(want.n));
      return all.subarray(0, want.n);
    }
    if (!this.chunks.some((chunk) => chunk.includes(0x0a))) {
      return this.buffered > this.options.maxLineBytes ? new LineTooLongError(this.options.maxLineBytes) : undefined;
    }
    const all = this.joined();
    const newline = all.indexOf(0x0a);
    if (newline > this.options.maxLineBytes) return new LineTooLongError(this.options.maxLineBytes);
    const end = newline > 0 && all[newline - 1] === 0x0d ? newline - 1 : newline;
    this.keep(all.subarray(newline + 1));
    return all.subarray(0, end);
  }

  private joined(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  private keep(rest: Buffer): void {
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
  }
}

export async function startLineServer(options: LineServerOptions): Promise<LineServer> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const run = (socket: net.Socket, secure: boolean): void => {
    track(socket);
    const connection = new Connection(socket, secure, options, track);
    options
      .handle(connection)
      .catch(() => undefined)
      .finally(() => connection.end());
  };

  const server: net.Server = options.tls
    ? tls.createServer({ ...options.tls, handshakeTimeout: options.idleTimeoutMs }, (socket) => run(socket, true))
    : net.createServer((socket) => run(socket, false));
  // For TLS servers 'connection' fires with the raw socket before the handshake, so close() reaches those too.
  server.on('connection', track);
  server.on('tlsClientError', (_error: Error, socket: net.Socket) => socket.destroy());
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('line server has no TCP address');

  return {
    host: options.host,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
