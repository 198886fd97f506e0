import net from 'node:net';
import type { ProxyErrorCode } from '../core/proxy.js';
import type { ProxyRoute } from '../config/proxy.js';

// An HTTP CONNECT tunnel (RFC 9110 §9.3.6) through an outbound proxy: the mail protocols' TCP connection, and the
// HTTPS clients' under their TLS. The proxy is a peer from outside like any other: its reply head is bounded, every
// wait is bounded by the caller's timeout and abort signal, and its words are kept (clipped) for the failure.

/** Longest reply head (status line and headers) read from a proxy; squid and tinyproxy send a few hundred bytes. */
export const MAX_PROXY_REPLY_BYTES = 8 * 1024;
const MAX_STATUS_TEXT = 200;

export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  /** The proxy as shown (no user info). */
  readonly proxy: string;
  /** The proxy's status line, clipped and stripped of control characters, when it answered one. */
  readonly statusLine: string | undefined;

  constructor(code: ProxyErrorCode, message: string, proxy: string, statusLine?: string) {
    super(message);
    this.name = 'ProxyError';
    this.code = code;
    this.proxy = proxy;
    this.statusLine = statusLine;
  }
}

export interface TunnelOptions {
  route: ProxyRoute;
  /** Where the tunnel goes: the mail server or the HTTPS host. */
  host: string;
  port: number;
  /** Bound for the TCP connection to the proxy and its answer to CONNECT together. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** The TCP connection to the proxy is up; CONNECT goes out. */
  onProxyConnected?: () => void;
}

/** A socket to `host:port` through the proxy, ready for TLS or a plain protocol. Throws ProxyError. */
export function openTunnel(options: TunnelOptions): Promise<net.Socket> {
  const { route, host, port, timeoutMs, signal } = options;
  const authority = `${isIpv6(host) ? `[${host}]` : host}:${port}`;
  const to = `CONNECT to ${authority}`;
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: route.host, port: route.port });
    let head = Buffer.alloc(0);
    let connected = false;
    let done = false;
    const finish = (err: ProxyError | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('readable', onReadable);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(socket);
    };
    const fail = (code: ProxyErrorCode, message: string, statusLine?: string): void => finish(new ProxyError(code, message, route.display, statusLine));
    const timer = setTimeout(
      () =>
        fail(
          'EPROXYTIMEOUT',
          connected
            ? `the proxy ${route.display} did not answer ${to} within ${timeoutMs} ms`
            : `no connection to the proxy ${route.display} within ${timeoutMs} ms`,
        ),
      timeoutMs,
    );
    const onAbort = (): void =>
      fail('EPROXYTIMEOUT', `aborted while ${connected ? `waiting for the proxy's answer to ${to}` : `connecting to the proxy ${route.display}`}`);
    const onError = (err: NodeJS.ErrnoException): void =>
      connected
        ? fail('EPROXYPROTOCOL', `the proxy ${route.display} broke the connection during ${to} (${err.code ?? err.name})`)
        : fail('EPROXYUNREACHABLE', `cannot connect to the proxy ${route.display} (${err.code ?? err.name})`);
    const onClose = (): void => fail('EPROXYPROTOCOL', `the proxy ${route.display} closed the connection without answering ${to}`);
    // 'readable' and read(), not 'data': once its listener is gone the socket is neither flowing nor paused, so
    // whoever takes it next (TLS, nodemailer) starts reading where the proxy's head ended.
    const onReadable = (): void => {
      while (!done) {
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) return;
        onChunk(chunk);
      }
    };
    const onChunk = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_PROXY_REPLY_BYTES)
          fail('EPROXYPROTOCOL', `the proxy ${route.display} answered ${to} with more than ${MAX_PROXY_REPLY_BYTES} bytes of head`);
        return;
      }
      if (end > MAX_PROXY_REPLY_BYTES)
        return fail('EPROXYPROTOCOL', `the proxy ${route.display} answered ${to} with more than ${MAX_PROXY_REPLY_BYTES} bytes of head`);
      const statusLine = clean(head.subarray(0, head.indexOf('\r\n')).toString('latin1'));
      const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
      if (!match) return fail('EPROXYPROTOCOL', `the proxy ${route.display} answered ${to} with no HTTP status line: ${statusLine}`, statusLine);
      const status = Number(match[1]);
      // 407 is the standard answer; tinyproxy 1.11 answers a CONNECT without valid credentials with 401 instead
      // (test/integration/proxy-tinyproxy.test.ts). Either is the proxy asking for its credentials, not a refusal.
      if (status === 407 || status === 401) {
        const why = route.authorization ? 'refused the credentials in the proxy URL' : 'requires credentials (none in the proxy URL)';
        return fail('EPROXYAUTH', `the proxy ${route.display} ${why} for ${to}: ${statusLine}`, statusLine);
      }
      if (status < 200 || status > 299) return fail('EPROXYREFUSED', `the proxy ${route.display} refused ${to}: ${statusLine}`, statusLine);
      // What follows the head is the far end's first bytes (an SMTP greeting can share the proxy's packet).
      const rest = head.subarray(end + 4);
      finish(undefined);
      if (rest.length > 0) socket.unshift(rest);
    };
    socket.once('connect', () => {
      connected = true;
      options.onProxyConnected?.();
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      if (route.authorization) lines.push(`Proxy-Authorization: ${route.authorization}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('close', onClose);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isIpv6(host: string): boolean {
  return net.isIP(host) === 6;
}

// The status line is the proxy's own words and goes into results, logs and pages: no control characters, bounded.
function clean(text: string): string {
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return printable.length > MAX_STATUS_TEXT ? `${printable.slice(0, MAX_STATUS_TEXT)}…` : printable;
}
