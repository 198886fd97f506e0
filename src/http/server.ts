import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { constants as zlib, gzip } from 'node:zlib';
import { gzipChunks } from './gzip-stream.js';
import { isLoopbackHost } from '../config/listen.js';
import { REDACTION_MASK, Secret } from '../core/secret.js';
import type { Logger } from '../log/logger.js';
import type { MailprobeMetrics } from '../metrics/metrics.js';
import { acceptsClientCertificate } from './client-cert.js';
import { ListenError } from './listen-error.js';
import { FAILED_LOGIN_BUDGET, type ListenerSecurity } from './security.js';
import type { StatusSource } from './status/model.js';
import { statusRoute } from './status/routes.js';

export interface HealthReport {
  ready: boolean;
  detail: Record<string, unknown>;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port; the bound one is returned. */
  port: number;
  metrics: MailprobeMetrics;
  health: () => HealthReport | Promise<HealthReport>;
  status: () => unknown;
  /** Serves the status page under /status when given. */
  statusPage?: StatusSource;
  /**
   * Serves /api/report (the SLA report's JSON, as `mailprobe report --format json`) when given. The query's
   * period, from, to, monitor and tenant are passed on; a RangeError is the reader's mistake (400).
   */
  report?: (query: URLSearchParams) => Promise<Buffer>;
  logger: Logger;
  /** TLS, basic auth, bearer tokens, headers; absent: plain HTTP, every route open. */
  security?: ListenerSecurity;
  limits?: Partial<ListenerLimits>;
}

export interface ListenerLimits {
  /** Connections beyond this are dropped at accept, so a flood cannot take the sockets and memory the checks need. */
  maxConnections: number;
  /**
   * Open connections from one address; more are closed at accept. 130 slow-header connections from one client
   * once took every slot, and /healthz answered none of 25 probes: the kubelet or Prometheus, from another
   * address, keeps a way in.
   */
  maxConnectionsPerAddress: number;
  /** Heavy renders (/metrics, /api/*) at once; more get 503 with Retry-After instead of queueing CPU work. */
  maxHeavyRequests: number;
  /** A request (including sending its answer) that takes longer is cut off. */
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: ListenerLimits = { maxConnections: 128, maxConnectionsPerAddress: 32, maxHeavyRequests: 4, requestTimeoutMs: 30_000 };

export interface RunningHttpServer {
  /** The bound IP address, e.g. "127.0.0.1". */
  address: string;
  port: number;
  /** Base URL, e.g. "http://127.0.0.1:9465" or "https://…" with TLS. */
  url: string;
  close(): Promise<void>;
}

// A scraper or browser that stalls must not hold sockets for ever; a large scrape still fits easily.
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
// How often Node looks for connections past the header and request timeouts (its default is 30 s, which let a
// slow-header connection hold its slot three times the 10 s header timeout).
const TIMEOUT_SWEEP_MS = 1_000;

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>mailprobe</title></head>
<body><h1>mailprobe</h1><ul>
<li><a href="/status">/status</a> status page</li>
<li><a href="/metrics">/metrics</a> Prometheus metrics</li>
<li><a href="/api/status">/api/status</a> current state of every check</li>
<li><a href="/api/report?period=last">/api/report?period=last</a> last month's SLA report (JSON)</li>
<li><a href="/readyz">/readyz</a> readiness</li>
<li><a href="/healthz">/healthz</a> liveness</li>
</ul></body></html>
`;

// The pages carry no script and load only their own stylesheet and badges: anything injected would be refused,
// and no other site may frame them (clickjacking).
const HTML_POLICY = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

// Prometheus asks for gzip; 20,000 checks are ~80 MB of text and ~2 MB compressed. The fastest level already
// gets most of that and runs on the libuv pool, off the event loop the probes' timers run on.
const gzipAsync = promisify(gzip);
const COMPRESS_FROM_BYTES = 1024;

type Reply = { status: number; type: string; body: string | Buffer | (() => AsyncIterable<Buffer>); headers?: Record<string, string | string[]> };

/**
 * public: always answered (liveness and readiness probes carry no credential, and show no mailbox data).
 * protected: needs a credential when the listener has one configured, and counts against the rate limit.
 * heavy: rendering costs CPU in proportion to the number of checks, so only a few run at once.
 */
export interface Route {
  access: 'public' | 'protected';
  heavy?: boolean;
  reply: (options: HttpServerOptions) => Promise<Reply>;
}

const ROUTES: Record<string, Route> = {
  '/': { access: 'public', reply: async () => ({ status: 200, type: 'text/html; charset=utf-8', body: INDEX_HTML }) },
  '/healthz': { access: 'public', reply: async () => text(200, 'ok\n') },
  '/readyz': {
    access: 'public',
    reply: async ({ health }) => {
      const report = await health();
      return json(report.ready ? 200 : 503, { ready: report.ready, detail: report.detail });
    },
  },
  '/metrics': {
    access: 'protected',
    heavy: true,
    reply: async ({ metrics }) => ({ status: 200, type: metrics.contentType, body: () => metrics.exposition() }),
  },
  '/api/status': { access: 'protected', heavy: true, reply: async ({ status }) => json(200, await status()) },
};

/** The fixed routes, then the status page's (its paths carry monitor names, its replies read the query). */
function routeOf(options: HttpServerOptions, req: IncomingMessage): Route | undefined {
  const path = pathOf(req);
  const fixed = ROUTES[path];
  const { report } = options;
  if (path === '/api/report' && report) return { access: 'protected', heavy: true, reply: () => reportReply(report, queryOf(req)) };
  if (fixed || !options.statusPage || !path.startsWith('/status')) return fixed;
  const page = statusRoute(options.statusPage, path);
  return page && { access: page.access, heavy: page.heavy, reply: () => page.handle(queryOf(req)) };
}

async function reportReply(report: NonNullable<HttpServerOptions['report']>, query: URLSearchParams): Promise<Reply> {
  try {
    // Written out where it was built (a worker): 200,000 checks would hold this thread for seconds.
    return { status: 200, type: JSON_TYPE, body: await report(query) };
  } catch (error) {
    if (error instanceof RangeError) return json(400, { error: error.message });
    throw error;
  }
}

/** Paths under /api/ are protected even before a route exists for them, so a typo never reveals which do. */
function accessOf(route: Route | undefined, path: string): Route['access'] {
  return route?.access ?? (path.startsWith('/api/') ? 'protected' : 'public');
}

export function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { logger, security } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const state: RequestState = { heavy: 0, limits };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(options, state, req, res).catch((error: unknown) => {
      logger.error('http request failed', { path: pathOf(req), error });
      if (!res.headersSent) send(req, res, text(500, 'internal error\n')).catch(() => res.destroy());
      else res.destroy();
    });
  };
  const tls = security?.tls;
  const server: Server | HttpsServer = tls
    ? createHttpsServer(
        {
          ...tls.context,
          requestCert: tls.clientAuth !== 'NoClientCert',
          rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
          connectionsCheckingInterval: TIMEOUT_SWEEP_MS,
        },
        onRequest,
      )
    : createServer({ connectionsCheckingInterval: TIMEOUT_SWEEP_MS }, onRequest);
  capConnectionsPerAddress(server, limits.maxConnectionsPerAddress, logger);
  if (tls && security) secureRotation(server as HttpsServer, security, logger);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = limits.maxConnections;
  let lastDropWarning = Number.NEGATIVE_INFINITY;
  server.on('drop', () => {
    if (Date.now() - lastDropWarning < 60_000) return;
    lastDropWarning = Date.now();
    logger.warn('http connection dropped: too many open connections', { maxConnections: limits.maxConnections });
  });

  return new Promise((resolve, reject) => {
    const refuse = (error: unknown): void => reject(new ListenError(options.host, options.port, error));
    server.once('error', refuse);
    server.listen(options.port, options.host, () => {
      server.off('error', refuse);
      server.on('error', (error) => logger.error('http server error', { error }));
      const { address, port } = server.address() as AddressInfo;
      const url = `${tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${port}`;
      logger.info('http listener started', { url, tls: tls !== undefined, authentication: security?.authenticates ?? false });
      warnIfExposed(options.host, security, logger);
      resolve({
        address,
        port,
        url,
        close: async () => {
          await new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            // Keep-alive scrapers would otherwise hold close() open until their idle timeout.
            server.closeAllConnections();
          });
          await security?.close();
        },
      });
    });
  });
}

interface RequestState {
  heavy: number;
  limits: ListenerLimits;
}

async function handle(options: HttpServerOptions, state: RequestState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The whole exchange, answer included, is bounded: a client that stops reading a large scrape loses its socket.
  const deadline = setTimeout(() => res.destroy(), state.limits.requestTimeoutMs);
  res.once('close', () => clearTimeout(deadline));
  const { security } = options;
  for (const [name, value] of Object.entries(security?.headers ?? {})) res.setHeader(name, value);
  const path = pathOf(req);
  const route = routeOf(options, req);
  if (security && accessOf(route, path) === 'protected') {
    // The limiter before the credential, as exporter-toolkit: a guessing flood is refused before any bcrypt.
    if (!security.allowRequest()) return send(req, res, text(429, 'too many requests\n'));
    const verdict = await security.authorize(req.headers.authorization, req.socket.remoteAddress);
    if (verdict === 'unavailable') return send(req, res, text(500, 'internal error: the listener security configuration is invalid\n'));
    if (verdict === 'limited')
      return send(req, res, {
        ...text(429, 'too many failed logins from this address\n'),
        headers: { 'Retry-After': String(FAILED_LOGIN_BUDGET.refillMs / 1000) },
      });
    if (verdict === 'denied') return send(req, res, { ...text(401, 'unauthorized\n'), headers: { 'WWW-Authenticate': security.challenges() } });
  }
  if (route === undefined) return send(req, res, text(404, 'not found\n'));
  // HEAD is GET without a body; node drops the body itself.
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(req, res, text(405, 'method not allowed\n'));
  }
  if (!route.heavy) return send(req, res, await route.reply(options));
  if (state.heavy >= state.limits.maxHeavyRequests)
    return send(req, res, { ...text(503, 'busy: too many scrapes at once, retry shortly\n'), headers: { 'Retry-After': '1' } });
  state.heavy += 1;
  try {
    await send(req, res, await route.reply(options));
  } finally {
    state.heavy -= 1;
  }
}

// New connections pick up rotated certificates: the files are looked at (throttled) before the handshake starts.
function secureRotation(server: HttpsServer, security: ListenerSecurity, logger: Logger): void {
  security.onTlsChange = (next) => {
    server.setSecureContext(next.context);
    // node:tls reads these from the server for every new connection; they are not part of the secure context.
    const policy = server as unknown as { requestCert: boolean; rejectUnauthorized: boolean };
    policy.requestCert = next.clientAuth !== 'NoClientCert';
    policy.rejectUnauthorized = next.clientAuth === 'RequireAndVerifyClientCert';
  };
  server.prependListener('connection', () => security.refresh());
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const tls = security.tls;
    if (!tls) return;
    const refusal = acceptsClientCertificate(socket, tls);
    if (refusal === undefined) return;
    logger.warn('tls client certificate refused', { remote: socket.remoteAddress, reason: refusal });
    socket.destroy();
  });
}

function capConnectionsPerAddress(server: Server | HttpsServer, max: number, logger: Logger): void {
  const open = new Map<string, number>();
  let lastWarning = Number.NEGATIVE_INFINITY;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      if (Date.now() - lastWarning >= 60_000) {
        lastWarning = Date.now();
        logger.warn('http connection closed: too many open connections from one address', { remote: address, maxConnectionsPerAddress: max });
      }
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

function warnIfExposed(host: string, security: ListenerSecurity | undefined, logger: Logger): void {
  if (isLoopbackHost(host)) return;
  const missing = [...(security?.tls ? [] : ['TLS']), ...(security?.authenticates ? [] : ['authentication'])];
  if (missing.length === 0) return;
  logger.warn('the listener is reachable from other machines without ' + missing.join(' or '), {
    host,
    hint: '/metrics and /api/status show mailbox addresses and tenant IDs; bind 127.0.0.1 or give --web.config.file (TLS, basic_auth_users) or agent.bearerTokenFile',
  });
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?', 1)[0] ?? '/';
}

function queryOf(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const at = url.indexOf('?');
  return new URLSearchParams(at === -1 ? '' : url.slice(at + 1));
}

async function send(req: IncomingMessage, res: ServerResponse, reply: Reply): Promise<void> {
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if (typeof reply.body === 'function') return stream(req, res, reply.status, reply.type, reply.body);
  const raw = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
  const compress = raw.length >= COMPRESS_FROM_BYTES && acceptsGzip(req.headers['accept-encoding']);
  const body = compress ? await gzipAsync(raw, { level: zlib.Z_BEST_SPEED }) : raw;
  res.writeHead(reply.status, {
    'Content-Type': reply.type,
    'Content-Length': body.length,
    // A route may allow caching (the status page's stylesheet and badges); everything else is never stored.
    ...(res.hasHeader('Cache-Control') ? {} : { 'Cache-Control': 'no-store' }),
    'X-Content-Type-Options': 'nosniff',
    ...(reply.type.startsWith('text/html') ? { 'Content-Security-Policy': HTML_POLICY } : {}),
    Vary: 'Accept-Encoding',
    ...(compress ? { 'Content-Encoding': 'gzip' } : {}),
  });
  res.end(body);
}

/**
 * Unflushed bytes of a streamed body before waiting for the client. The exposition is produced in 64 KB pieces;
 * waiting for the socket to drain after each (its 16 KB high-water mark) cost an event-loop turn behind the checks,
 * ~170 turns for an 11 MB /metrics. Pieces are not joined into bigger buffers: 1 MB ones grew malloc's heap by tens
 * of megabytes at 10,000 monitors (npm run bench).
 */
const MAX_UNFLUSHED_BYTES = 1024 * 1024;

async function writeBody(res: ServerResponse, body: AsyncIterable<Buffer>): Promise<void> {
  for await (const piece of body) {
    if (res.destroyed) throw new Error('the client closed the connection during the body');
    if (!res.write(piece) && res.writableLength >= MAX_UNFLUSHED_BYTES) await drained(res);
  }
  res.end();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onClose = (): void => settle(new Error('the client closed the connection during the body'));
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

// A large body goes out as it is produced (chunked), through gzip when the client takes it.
async function stream(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: () => AsyncIterable<Buffer>): Promise<void> {
  const compress = acceptsGzip(req.headers['accept-encoding']);
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Accept-Encoding',
    ...(compress ? { 'Content-Encoding': 'gzip' } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await writeBody(res, compress ? gzipChunks(body()) : body());
}

function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((entry) => {
    const [coding = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    return (coding === 'gzip' || coding === '*') && (q === undefined || Number(q.slice(2)) > 0);
  });
}

function text(status: number, body: string): Reply {
  return { status, type: 'text/plain; charset=utf-8', body };
}

const JSON_TYPE = 'application/json; charset=utf-8';

function json(status: number, value: unknown): Reply {
  return { status, type: JSON_TYPE, body: `${JSON.stringify(value, maskSecrets, 2)}\n` };
}

// Secret.toJSON already yields the mask; checking the holder's original value as well keeps the status API
// safe even if that method changes. bigint would otherwise make stringify throw.
function maskSecrets(this: unknown, key: string, value: unknown): unknown {
  const original = typeof this === 'object' && this !== null ? (this as Record<string, unknown>)[key] : value;
  if (original instanceof Secret) return REDACTION_MASK;
  if (typeof value === 'bigint') return value.toString();
  return value;
}
