import { request } from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { defaultSecretValue } from '../src/sandbox/model.js';
import { benchTenants, type BenchLayout, type ServersInfo } from './layout.js';

// The yardstick: the same IMAP and SMTP XOAUTH2 dialogues the agent's checks hold, written straight on
// node:tls/net with no library, no transcript, no timings per step. Run as a child process
// (node baseline.js '<json BaselineRequest>'), so its process CPU is its own; prints one JSON BaselineResult.

export interface BaselineRequest {
  servers: ServersInfo;
  layout: BenchLayout;
  checks: number;
  concurrency: number;
}

export interface BaselineResult {
  checks: number;
  failures: number;
  firstError?: string;
  cpuSeconds: number;
  wallSeconds: number;
  /** Mean of each check's own duration (connect to close). */
  meanCheckSeconds: number;
}

const STEP_TIMEOUT_MS = 10_000;

/** Hands out CRLF-terminated lines as they arrive; null once the socket is gone. */
class Lines {
  readonly #queue: string[] = [];
  readonly #waiting: ((line: string | null) => void)[] = [];
  #partial = '';
  #closed = false;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      const parts = (this.#partial + chunk.toString('latin1')).split('\r\n');
      this.#partial = parts.pop() ?? '';
      for (const line of parts) this.#push(line);
    });
    socket.once('close', () => {
      this.#closed = true;
      for (const waiter of this.#waiting.splice(0)) waiter(null);
    });
  }

  #push(line: string): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(line);
    else this.#queue.push(line);
  }

  next(): Promise<string> {
    const line = this.#queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => this.#waiting.push((got) => (got === null ? reject(new Error('connection closed')) : resolve(got))));
  }
}

function guard(socket: net.Socket): void {
  socket.setTimeout(STEP_TIMEOUT_MS, () => socket.destroy(new Error('step timeout')));
  socket.on('error', () => undefined);
}

function xoauth2(mailbox: string, token: string): string {
  return Buffer.from(`user=${mailbox}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
}

async function imapTagged(lines: Lines, tag: string): Promise<string> {
  for (;;) {
    const line = await lines.next();
    if (line.startsWith(`${tag} `)) return line.slice(tag.length + 1);
  }
}

/** IMAPS: greeting, AUTHENTICATE XOAUTH2 (SASL-IR), LIST, LOGOUT. */
export async function imapCheck(servers: ServersInfo, ca: string, mailbox: string, token: string): Promise<void> {
  const socket = tls.connect({ host: servers.imap.host, port: servers.imap.port, ca });
  guard(socket);
  try {
    const lines = new Lines(socket);
    const greeting = await lines.next();
    if (!greeting.startsWith('* OK')) throw new Error(`IMAP greeting: ${greeting}`);
    socket.write(`a1 AUTHENTICATE XOAUTH2 ${xoauth2(mailbox, token)}\r\n`);
    const auth = await imapTagged(lines, 'a1');
    if (!auth.startsWith('OK')) throw new Error(`IMAP AUTHENTICATE: ${auth}`);
    socket.write('a2 LIST "" "*"\r\n');
    const list = await imapTagged(lines, 'a2');
    if (!list.startsWith('OK')) throw new Error(`IMAP LIST: ${list}`);
    socket.write('a3 LOGOUT\r\n');
    await imapTagged(lines, 'a3');
  } finally {
    socket.destroy();
  }
}

/** One SMTP reply, multi-line or not: its code and last line. */
async function smtpReply(lines: Lines): Promise<{ code: number; text: string }> {
  for (;;) {
    const line = await lines.next();
    if (line[3] !== '-') return { code: Number(line.slice(0, 3)), text: line };
  }
}

async function smtpStep(socket: net.Socket, lines: Lines, command: string | undefined, expect: number): Promise<void> {
  if (command !== undefined) socket.write(`${command}\r\n`);
  const reply = await smtpReply(lines);
  if (reply.code !== expect) throw new Error(`SMTP ${command?.split(' ')[0] ?? 'greeting'}: ${reply.text}`);
}

/** Submission: EHLO, STARTTLS, EHLO, AUTH XOAUTH2 in two steps, MAIL/RCPT/DATA, QUIT. */
export async function smtpCheck(servers: ServersInfo, ca: string, mailbox: string, token: string, n: number): Promise<void> {
  const plain = net.connect({ host: servers.smtp.host, port: servers.smtp.port });
  guard(plain);
  let secure: tls.TLSSocket | undefined;
  try {
    const plainLines = new Lines(plain);
    await smtpStep(plain, plainLines, undefined, 220);
    await smtpStep(plain, plainLines, 'EHLO baseline.invalid', 250);
    await smtpStep(plain, plainLines, 'STARTTLS', 220);
    plain.removeAllListeners('data');
    secure = tls.connect({ socket: plain, ca, servername: 'localhost' });
    guard(secure);
    const lines = new Lines(secure);
    await smtpStep(secure, lines, 'EHLO baseline.invalid', 250);
    await smtpStep(secure, lines, 'AUTH XOAUTH2', 334);
    await smtpStep(secure, lines, xoauth2(mailbox, token), 235);
    await smtpStep(secure, lines, `MAIL FROM:<${mailbox}>`, 250);
    await smtpStep(secure, lines, `RCPT TO:<${mailbox}>`, 250);
    await smtpStep(secure, lines, 'DATA', 354);
    const message = [`From: <${mailbox}>`, `To: <${mailbox}>`, `Subject: baseline ${n}`, `Message-ID: <baseline.${n}@bench.invalid>`, '', 'baseline', '.'];
    await smtpStep(secure, lines, message.join('\r\n'), 250);
    await smtpStep(secure, lines, 'QUIT', 221);
  } finally {
    secure?.destroy();
    plain.destroy();
  }
}

function fetchToken(servers: ServersInfo, ca: string, tenantId: string, clientId: string): Promise<string> {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: defaultSecretValue(clientId),
    scope: 'https://outlook.office365.com/.default',
  }).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      `${servers.entraUrl}/${tenantId}/oauth2/v2.0/token`,
      { method: 'POST', ca, timeout: STEP_TIMEOUT_MS, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const parsed: unknown = JSON.parse(text);
          const token = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).access_token : undefined;
          if (typeof token === 'string') resolve(token);
          else reject(new Error(`token endpoint answered ${res.statusCode ?? '?'}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('token request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs request.checks checks (imap and smtp alternating, mailboxes round-robin) with request.concurrency in flight. */
export async function runBaseline(input: BaselineRequest): Promise<BaselineResult> {
  const { servers } = input;
  const ca = readFileSync(servers.caFile, 'utf8');
  const tenants = benchTenants(input.layout);
  // Tokens are fetched once, before measuring: the agent caches its token too.
  const tokens = new Map<string, string>();
  for (const [index, tenant] of tenants.entries()) {
    const record = servers.tenants[index];
    if (!record) throw new Error(`servers know no tenant ${tenant.key}`);
    tokens.set(tenant.key, await fetchToken(servers, ca, record.tenantId, record.clientId));
  }
  const jobs = tenants.flatMap((tenant) => tenant.mailboxes.map((mailbox) => ({ mailbox, token: tokens.get(tenant.key) ?? '' })));

  let failures = 0;
  let firstError: string | undefined;
  let durations = 0;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const worker = async (): Promise<void> => {
    while (next < input.checks) {
      const n = next++;
      const job = jobs[Math.floor(n / 2) % jobs.length]!;
      const started = performance.now();
      try {
        if (n % 2 === 0) await imapCheck(servers, ca, job.mailbox, job.token);
        else await smtpCheck(servers, ca, job.mailbox, job.token, n);
      } catch (error) {
        failures++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      durations += performance.now() - started;
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, worker));
  const wallSeconds = (performance.now() - wallBefore) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    checks: input.checks,
    failures,
    ...(firstError !== undefined ? { firstError } : {}),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds,
    meanCheckSeconds: durations / input.checks / 1000,
  };
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('baseline.js') || entry.endsWith('baseline.ts')) {
  const input = JSON.parse(process.argv[2] ?? '{}') as BaselineRequest;
  runBaseline(input).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`baseline: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
