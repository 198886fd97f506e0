import net from 'node:net';
import tls from 'node:tls';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { startExchange, type ExchangeEmulator, type ExchangeModel } from '../../src/sandbox/exchange.js';
import { defaultFaults, SandboxModel, type MailLoginDecision } from '../../src/sandbox/model.js';

/** A raw line client for scripting byte-exact dialogues with the emulator. */
export class WireClient {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private ended = false;
  private socket: net.Socket;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer += chunk.toString('latin1');
    this.waiter?.();
  };
  private readonly onClose = (): void => {
    this.ended = true;
    this.waiter?.();
  };

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  static async connect(port: number, ca?: string): Promise<WireClient> {
    const socket = ca ? tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }) : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(ca ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new WireClient(socket);
  }

  /** The next line without CRLF; rejects when none comes within the timeout or the server hangs up. */
  async line(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return line;
      }
      if (this.ended) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Lines up to and including the first that starts with `last` (a tag, "250 ") or matches it. */
  async until(last: string | RegExp, timeoutMs = 30_000): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line(timeoutMs);
      lines.push(line);
      if (typeof last === 'string' ? line.startsWith(last) : last.test(line)) return lines;
    }
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`, 'latin1');
  }

  /** Sends a command and returns every reply line through the one starting with `last`. */
  async exchange(line: string, last: string | RegExp): Promise<string[]> {
    this.send(line);
    return this.until(last);
  }

  async startTls(ca: string): Promise<void> {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    const secure = tls.connect({ socket: this.socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** Resolves true once the server has closed the connection, false if it is still open after `withinMs` (generous: it bounds a hang, it times nothing). */
  async closes(withinMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + withinMs;
    while (!this.ended && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.ended;
  }

  /** True when the server sent nothing for `ms` (and did not close). */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.buffer === '' && !this.ended;
  }

  close(): void {
    this.socket.destroy();
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', () => undefined);
  }
}

export function xoauth2(user: string, token: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
}

export const BRACKET = /\[AM0PR06CA0126\.eurprd06\.prod\.outlook\.com \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9A-F]{16}\]$/;

export interface Sandbox {
  pki: TestPki;
  model: SandboxModel;
  emulator: ExchangeEmulator;
  tenantId: string;
  clientId: string;
  mailbox: string;
  /** A valid Exchange token from the model. */
  token(): string;
  close(): Promise<void>;
}

let pkiOnce: Promise<TestPki> | undefined;

/** One CA and server certificate per test process: key generation is the slow part. */
export function testPki(): Promise<TestPki> {
  pkiOnce ??= createPki();
  return pkiOnce;
}

export async function startSandbox(options: { idleTimeoutMs?: number } = {}): Promise<Sandbox> {
  const pki = await testPki();
  const model = SandboxModel.fromSpec([{}]);
  const tenant = model.tenants()[0]!;
  const clientId = [...tenant.apps.keys()][0]!;
  const emulator = await startExchange({ model, tls: pki.server, ...options });
  return {
    pki,
    model,
    emulator,
    tenantId: tenant.tenantId,
    clientId,
    mailbox: [...tenant.mailboxes.values()][0]!.address,
    token: () =>
      model.issueAccessToken({
        tenantId: tenant.tenantId,
        clientId,
        audience: 'https://outlook.office365.com',
        resource: 'exchange',
        credential: 'secret',
      }),
    close: () => emulator.close(),
  };
}

/** A model stand-in whose verdict the test sets, to walk every denial through the wire. */
export function scriptedModel(): ExchangeModel & { decision: MailLoginDecision } {
  return {
    decision: { ok: true, tenantId: 't', appId: 'a' },
    faults: defaultFaults(),
    authorizeMailLogin(): MailLoginDecision {
      return this.decision;
    },
    authorizeSendAs: (_login, user, from) => user.toLowerCase() === from.toLowerCase(),
    authorizeGraphMail: () => ({ ok: false, why: 'token_malformed' }),
    now: Date.now,
  };
}
