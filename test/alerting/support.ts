import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import type { Logger, LogMeta } from '../../src/log/logger.js';
import type { ReasonCode } from '../../src/core/reasons.js';
import type { CheckKind, Stage } from '../../src/core/check.js';
import type { Clock } from '../../src/core/clock.js';
import type { CheckResult } from '../../src/core/result.js';

export const T0 = Date.parse('2025-03-01T10:00:00.000Z');

export interface FailureSpec {
  reason?: ReasonCode;
  stage?: Stage;
  serverText?: string;
}

export interface ResultSpec {
  monitor?: string;
  check?: CheckKind;
  at?: number;
  /** Absent: the check passed. */
  failure?: FailureSpec;
}

export function checkResult(spec: ResultSpec = {}): CheckResult {
  const identity = { monitor: spec.monitor ?? 'probe-contoso', tenant: 'contoso', mailbox: 'probe@contoso.com', check: spec.check ?? 'imap' } as const;
  const startedAt = spec.at ?? T0;
  if (!spec.failure) return { ...identity, startedAt, durationSeconds: 0.5, outcome: { ok: true, steps: [], measured: {}, facts: {} } };
  const reason = spec.failure.reason ?? 'auth_failed';
  return {
    ...identity,
    startedAt,
    durationSeconds: 0.5,
    outcome: {
      ok: false,
      steps: [],
      measured: {},
      facts: {},
      failure: {
        stage: spec.failure.stage ?? 'auth',
        reason,
        ...(spec.failure.serverText !== undefined ? { serverText: spec.failure.serverText } : {}),
        message: `failed: ${reason}`,
      },
    },
    reason,
    diagnosis: { reason, summary: `summary of ${reason}`, candidates: [], fixes: [`fix for ${reason}`] },
  };
}

export const failed = (spec: Omit<ResultSpec, 'failure'> & FailureSpec = {}): CheckResult => {
  const { monitor, check, at, ...failure } = spec;
  return checkResult({ ...(monitor ? { monitor } : {}), ...(check ? { check } : {}), ...(at !== undefined ? { at } : {}), failure });
};

export const passed = (spec: Omit<ResultSpec, 'failure'> = {}): CheckResult => checkResult(spec);

export class FakeClock implements Clock {
  time = T0;
  now(): number {
    return this.time;
  }
  monotonic(): number {
    return this.time;
  }
}

export interface LogEntry {
  level: string;
  message: string;
  meta: LogMeta;
}

export class MemoryLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    readonly bound: LogMeta = {},
  ) {}
  debug(message: string, meta?: LogMeta): void {
    this.#push('debug', message, meta);
  }
  info(message: string, meta?: LogMeta): void {
    this.#push('info', message, meta);
  }
  warn(message: string, meta?: LogMeta): void {
    this.#push('warn', message, meta);
  }
  error(message: string, meta?: LogMeta): void {
    this.#push('error', message, meta);
  }
  child(meta: LogMeta): Logger {
    return new MemoryLogger(this.entries, { ...this.bound, ...meta });
  }
  messages(): string[] {
    return this.entries.map((entry) => entry.message);
  }
  #push(level: string, message: string, meta?: LogMeta): void {
    this.entries.push({ level, message, meta: { ...this.bound, ...meta } });
  }
}

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  at: number;
}

/** How the receiver answers its n-th request (0-based): a status with headers, or never. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface Receiver {
  url: string;
  host: string;
  received: Received[];
  /** Resolves once `count` requests have arrived; fails the test after `withinMs` (generous: it bounds a hang, it times nothing). */
  waitFor(count: number, withinMs?: number): Promise<Received[]>;
}

export async function startReceiver(t: TestContext, reply: (n: number) => Reply): Promise<Receiver> {
  const received: Received[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const answer = reply(received.length);
      received.push({ path: request.url ?? '', headers: request.headers, body: text ? (JSON.parse(text) as unknown) : undefined, at: Date.now() });
      if (answer === 'hang') return;
      response.writeHead(answer.status, answer.headers).end(answer.body ?? '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    received,
    async waitFor(count, withinMs = 30_000) {
      const deadline = Date.now() + withinMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`receiver ${host} got ${received.length} requests, expected ${count}`);
        await sleep(5);
      }
      return received;
    },
  };
}
