import net from 'node:net';
import type { ProxyDecision } from '../config/proxy.js';
import { openTunnel, ProxyError } from './tunnel.js';

export interface DialOptions {
  host: string;
  port: number;
  decision: ProxyDecision;
  /** Bound for the TCP connection (and, through a proxy, its answer to CONNECT). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A connection that failed before it was up: direct ones keep Node's code (ECONNREFUSED, ENOTFOUND …). */
class DialError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'DialError';
    this.code = code;
  }
}

/**
 * A TCP connection to host:port, direct or through an HTTP CONNECT tunnel, resolved once it carries bytes to the
 * host: the one way the mail protocols connect, so TLS, STARTTLS and the protocol on top never know which it was.
 */
export function dial(options: DialOptions): Promise<net.Socket> {
  const { decision, host, port, timeoutMs, signal } = options;
  if (decision.kind === 'invalid') return Promise.reject(new ProxyError('EPROXYCONFIG', decision.message, 'none'));
  if (decision.kind === 'proxy') return openTunnel({ route: decision.route, host, port, timeoutMs, ...(signal ? { signal } : {}) });
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', finish);
      if (!err) return resolve(socket);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => finish(new DialError('ETIMEDOUT', `no connection to ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => finish(new DialError('ABORT_ERR', `aborted while connecting to ${host}:${port}`));
    socket.once('connect', () => finish());
    socket.once('error', finish);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
