import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { decideProxy, type ProxyDecision, type ProxyRoute } from '../config/proxy.js';
import { openTunnel, ProxyError } from './tunnel.js';

// The one way mailprobe's HTTP clients (login service, Microsoft Graph, notifiers) reach a host: direct, or through
// the outbound proxy the configuration or the environment names. https:// goes through a CONNECT tunnel with TLS to
// the host itself on top (the proxy sees no plaintext); http:// is sent to the proxy in absolute form, as curl does.

export interface HttpRouteOptions {
  /** TLS towards the host itself (its CA, verification); servername is always the URL's host. */
  tls?: Pick<tls.ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'minVersion' | 'secureContext'>;
  /** Bounds the connection to the proxy and its answer to CONNECT. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** How to send a request to `url`: which request function, and the options to give it. Throws ProxyError (EPROXYCONFIG). */
export function httpRoute(
  url: URL,
  decision: ProxyDecision,
  options: HttpRouteOptions,
): { request: typeof https.request; target: URL; options: https.RequestOptions } {
  const secure = url.protocol === 'https:';
  const request = secure ? https.request : http.request;
  if (decision.kind === 'invalid') throw new ProxyError('EPROXYCONFIG', decision.message, 'none');
  if (decision.kind === 'direct') return { request, target: url, options: { ...options.tls } };
  const { route } = decision;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (secure ? 443 : 80));
  if (secure) {
    const createConnection = (_opts: unknown, done: (err: Error | null, socket?: net.Socket) => void): undefined => {
      openTunnel({ route, host, port, timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) }).then(
        (socket) =>
          done(null, tls.connect({ ...options.tls, socket, host, port, ...(net.isIP(host) ? {} : { servername: host }), ALPNProtocols: ['http/1.1'] })),
        (err: Error) => done(err),
      );
      return undefined;
    };
    return { request, target: url, options: { createConnection } as https.RequestOptions };
  }
  const createConnection = (_opts: unknown, done: (err: Error | null, socket?: net.Socket) => void): undefined => {
    connectToProxy(route, options.timeoutMs).then(
      (socket) => done(null, socket),
      (err: Error) => done(err),
    );
    return undefined;
  };
  return {
    request: http.request,
    target: url,
    options: {
      createConnection,
      // The whole URL as the request target (absolute form); the Host header still names the host itself.
      path: url.href,
      headers: { host: url.host, ...(route.authorization ? { 'proxy-authorization': route.authorization } : {}) },
    } as http.RequestOptions,
  };
}

/** The decision for an HTTP(S) URL under a configured setting (a URL, "direct" or none) and the environment. */
export function decideHttpProxy(url: URL, setting: string | undefined, env: NodeJS.ProcessEnv = process.env): ProxyDecision {
  const secure = url.protocol === 'https:';
  return decideProxy({ scheme: secure ? 'https' : 'http', host: url.hostname, port: Number(url.port || (secure ? 443 : 80)) }, setting, env);
}

function connectToProxy(route: ProxyRoute, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: route.host, port: route.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProxyError('EPROXYTIMEOUT', `no connection to the proxy ${route.display} within ${timeoutMs} ms`, route.display));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ProxyError('EPROXYUNREACHABLE', `cannot connect to the proxy ${route.display} (${err.code ?? err.name})`, route.display));
    });
  });
}

export interface BoundedAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The first `maxBytes` of the body; the rest is not read. */
  head: string;
}

/**
 * One POST with a deadline for the whole exchange and a bounded read of the answer (the notifiers: only a log line
 * or `notify --test` shows the body). Redirects are not followed: a 3xx comes back as it is.
 */
export function postBounded(
  url: URL,
  call: { headers: Record<string, string>; body: string; signal: AbortSignal; maxBytes: number; proxy: ProxyDecision; timeoutMs: number },
): Promise<BoundedAnswer> {
  return new Promise((resolve, reject) => {
    let route: ReturnType<typeof httpRoute>;
    try {
      route = httpRoute(url, call.proxy, { timeoutMs: call.timeoutMs, signal: call.signal });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const headers = {
      ...call.headers,
      ...(route.options.headers as Record<string, string> | undefined),
      'content-length': String(Buffer.byteLength(call.body)),
    };
    const req = route.request(route.target, { ...route.options, method: 'POST', headers, signal: call.signal }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      const done = (): void => {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, head: Buffer.concat(chunks).subarray(0, call.maxBytes).toString('utf8') });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= call.maxBytes) done();
      });
      res.on('end', done);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(call.body);
  });
}
