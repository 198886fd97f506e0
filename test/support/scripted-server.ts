import net from 'node:net';
import tls from 'node:tls';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Secret } from '../../src/core/secret.js';
import { createPki, type Pem, type TestPki } from '../../src/sandbox/certs.js';
import type { Protocol } from '../../src/core/check.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ProbeContext, ProbeFn, Transcript } from '../../src/probes/types.js';

/**
 * One step of a dialogue. `expect` reads one CRLF line from the client and checks it (a RegExp
 * must match the whole line); `reply` answers it, from the match so tagged IMAP replies can reuse
 * the client's tag.
 */
export type ScriptStep =
  | { send: string }
  | { expect: string | RegExp; reply?: string | ((match: RegExpExecArray) => string) }
  | { startTls: true }
  /**
   * Writes `chunk` again and again (respecting backpressure) until `bytes` are out or the client goes away:
   * an endless or huge line, or a flood of lines. Without `bytes` it never stops on its own.
   */
  | { flood: string; bytes?: number }
  /** Read nothing more and answer nothing: a server stuck mid-session. */
  | { hang: true }
  /** Runs `call` when the dialogue gets here: the test acts (aborts the probe) at a known step, not after a guessed delay. */
  | { call: () => void }
  /** Drop the connection with a TCP RST. */
  | { reset: true }
  | { close: true };

export interface ScriptedServer {
  host: string;
  port: number;
  /** Every line the client sent, in order, as received (after TLS). */
  received: string[];
  /** Script mismatches; a passing test expects none. */
  problems: string[];
  /** Settles when the script has run to its end (or broke off). */
  finished: Promise<void>;
  close(): Promise<void>;
}

export interface ScriptedServerOptions {
  /** Implicit TLS from the first byte with this certificate (IMAPS, POP3S). */
  tls?: Pem;
  /** Certificate for `startTls` steps. */
  startTls?: Pem;
  script: ScriptStep[];
}

class LineReader {
  #buffer = '';
  #waiter: ((line: string | undefined) => void) | undefined;
  #ended = false;
  #socket: net.Socket | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.#buffer += chunk.toString('latin1');
    this.#deliver();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#deliver();
  };

  attach(socket: net.Socket): void {
    this.detach();
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  /** Stops reading and forgets what was buffered: after STARTTLS nothing sent in plaintext counts. */
  detach(): void {
    this.#socket?.removeListener('data', this.#onData);
    this.#socket?.removeListener('end', this.#onEnd);
    this.#socket?.removeListener('close', this.#onEnd);
    this.#socket = undefined;
    this.#buffer = '';
    this.#ended = false;
  }

  next(): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#deliver();
    });
  }

  #deliver(): void {
    if (!this.#waiter) return;
    const end = this.#buffer.indexOf('\r\n');
    if (end < 0 && !this.#ended) return;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (end < 0) return waiter(undefined);
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 2);
    waiter(line);
  }
}

async function upgrade(socket: net.Socket, reader: LineReader, pem: Pem): Promise<tls.TLSSocket> {
  reader.detach();
  const secure = new tls.TLSSocket(socket, { isServer: true, key: pem.key, cert: pem.cert });
  // A client that rejects our certificate aborts the handshake; that is the test, not a fault.
  secure.on('error', () => undefined);
  reader.attach(secure);
  await Promise.race([once(secure, 'secure'), once(secure, 'close')]);
  return secure;
}

async function runScript(raw: net.Socket, options: ScriptedServerOptions, server: ScriptedServer): Promise<void> {
  const reader = new LineReader();
  let current: net.Socket = raw;
  const write = (text: string): void => {
    if (!current.destroyed) current.write(Buffer.from(text, 'latin1'));
  };
  reader.attach(current);
  if (options.tls) current = await upgrade(raw, reader, options.tls);
  for (const step of options.script) {
    if ('send' in step) {
      write(step.send);
    } else if ('expect' in step) {
      const line = await reader.next();
      if (line === undefined) {
        server.problems.push(`client closed while ${String(step.expect)} was expected`);
        return;
      }
      server.received.push(line);
      const match = matchLine(step.expect, line);
      if (!match) {
        server.problems.push(`expected ${String(step.expect)}, got ${JSON.stringify(line)}`);
        current.destroy();
        return;
      }
      if (step.reply !== undefined) write(typeof step.reply === 'string' ? step.reply : step.reply(match));
    } else if ('flood' in step) {
      await flood(current, Buffer.from(step.flood, 'latin1'), step.bytes ?? Number.POSITIVE_INFINITY);
    } else if ('startTls' in step) {
      if (!options.startTls) throw new Error('startTls step without a startTls certificate');
      current = await upgrade(current, reader, options.startTls);
    } else if ('call' in step) {
      step.call();
    } else if ('hang' in step) {
      reader.detach();
      return;
    } else if ('reset' in step) {
      raw.resetAndDestroy();
      return;
    } else {
      current.end();
      return;
    }
  }
  // Reading on keeps an unexpected extra command visible instead of silently dropped.
  for (;;) {
    const line = await reader.next();
    if (line === undefined) return;
    server.received.push(line);
    server.problems.push(`unexpected line after the script ended: ${JSON.stringify(line)}`);
  }
}

async function flood(socket: net.Socket, chunk: Buffer, bytes: number): Promise<void> {
  let sent = 0;
  while (sent < bytes && !socket.destroyed && socket.writable) {
    const piece = bytes - sent >= chunk.length ? chunk : chunk.subarray(0, bytes - sent);
    sent += piece.length;
    if (!socket.write(piece)) {
      await Promise.race([once(socket, 'drain'), once(socket, 'close')]).catch(() => undefined);
    }
  }
}

function matchLine(expected: string | RegExp, line: string): RegExpExecArray | undefined {
  const pattern =
    typeof expected === 'string' ? new RegExp(`^${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : new RegExp(`^(?:${expected.source})$`, expected.flags);
  const match = pattern.exec(line);
  return match ?? undefined;
}

/** A one-connection server on 127.0.0.1:0 that plays `script` byte for byte. */
export async function startScriptedServer(options: ScriptedServerOptions): Promise<ScriptedServer> {
  const sockets = new Set<net.Socket>();
  let resolveFinished: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    resolveFinished = resolve;
  });
  let served = false;
  const result: ScriptedServer = {
    host: '127.0.0.1',
    port: 0,
    received: [],
    problems: [],
    finished,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (served) {
      result.problems.push('a second connection arrived');
      socket.destroy();
      return;
    }
    served = true;
    runScript(socket, options, result)
      .catch((err: unknown) => result.problems.push(`script failed: ${String(err)}`))
      .finally(resolveFinished);
  };
  const server = net.createServer(onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  result.port = address.port;
  return result;
}

/** A port on 127.0.0.1 that nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

let sharedPki: Promise<TestPki> | undefined;

/** One CA and server certificate per test process; key generation is the slow part. */
export function testPki(): Promise<TestPki> {
  sharedPki ??= createPki();
  return sharedPki;
}

export interface RecordedTranscript extends Transcript {
  lines: string[];
}

export function recordTranscript(): RecordedTranscript {
  const lines: string[] = [];
  return {
    lines,
    client: (line) => lines.push(`C: ${line}`),
    server: (line) => lines.push(`S: ${line}`),
    note: (line) => lines.push(`N: ${line}`),
  };
}

export const TEST_MAILBOX = 'probe@contoso.example';
// Shaped like a JWT so the redaction assertions mean something.
export const TEST_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbSJ9.c2lnbmF0dXJl';

export interface TestContextOptions {
  protocol: Protocol;
  port: number;
  /** Trusted extra CAs; [] trusts only Node's default store. */
  ca: string[];
  stepTimeoutMs?: number;
  signal?: AbortSignal;
}

export function testContext(options: TestContextOptions): ProbeContext & { transcript: RecordedTranscript } {
  const endpoint: Endpoint = { host: '127.0.0.1', port: options.port, tls: { ca: options.ca, rejectUnauthorized: true } };
  const unused: Endpoint = { host: '127.0.0.1', port: 9, tls: { rejectUnauthorized: true } };
  const endpoints: Record<Protocol, Endpoint> = { imap: unused, smtp: unused, pop3: unused, graph: unused };
  endpoints[options.protocol] = endpoint;
  let probes = 0;
  return {
    monitor: 'test',
    mailbox: TEST_MAILBOX,
    endpoints,
    accessToken: new Secret(TEST_TOKEN),
    signal: options.signal ?? new AbortController().signal,
    stepTimeoutMs: options.stepTimeoutMs ?? 3000,
    clock: { now: () => Date.now(), monotonic: () => performance.now() },
    transcript: recordTranscript(),
    newProbeId: () => `test${++probes}`,
  };
}

/** base64 of the XOAUTH2 string for the test credentials, to assert it never leaks. */
export function testXOAuth2(): string {
  return Buffer.from(`user=${TEST_MAILBOX}\x01auth=Bearer ${TEST_TOKEN}\x01\x01`).toString('base64');
}

/** Neither the token nor the XOAUTH2 string (raw or base64) may appear in the outcome or the transcript. */
export function assertNoCredential(outcome: unknown, transcript: RecordedTranscript): void {
  const raw = `user=${TEST_MAILBOX}\x01auth=Bearer ${TEST_TOKEN}`;
  const texts = [JSON.stringify(outcome), ...transcript.lines];
  for (const text of texts) {
    for (const secret of [TEST_TOKEN, testXOAuth2(), raw]) {
      assert.ok(!text.includes(secret), `credential leaked into ${JSON.stringify(text.slice(0, 120))}`);
    }
  }
}

export interface ScriptedProbeOptions {
  /** implicit: TLS from the first byte (IMAPS, POP3S); starttls: plain until STARTTLS (submission). */
  tls: 'implicit' | 'starttls';
  stepTimeoutMs?: number;
  ca?: string[];
  signal?: AbortSignal;
}

/** Runs one probe against a scripted server, checks that no credential leaked, and closes the server. */
export async function runScripted(probe: ProbeFn, protocol: Protocol, script: ScriptStep[], options: ScriptedProbeOptions) {
  const pki = await testPki();
  const server = await startScriptedServer({ ...(options.tls === 'starttls' ? { startTls: pki.server } : { tls: pki.server }), script });
  const { tls: _mode, ...contextOptions } = options;
  const ctx = testContext({ protocol, port: server.port, ...contextOptions, ca: options.ca ?? [pki.ca.cert] });
  try {
    const outcome = await probe(ctx);
    await server.finished;
    assertNoCredential(outcome, ctx.transcript);
    return { outcome, server, transcript: ctx.transcript.lines };
  } finally {
    await server.close();
  }
}
