import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlib, createGzip, gzip } from 'node:zlib';
import { REDACTION_MASK, Secret } from '../auth/secret.js';
import type { Logger } from '../log/logger.js';
import type { MailprobeMetrics } from '../metrics/metrics.js';

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
  logger: Logger;
}

export interface RunningHttpServer {
  /** The bound IP address, e.g. "127.0.0.1". */
  address: string;
  port: number;
  /** Base URL, e.g. "http://127.0.0.1:9465". */
  url: string;
  close(): Promise<void>;
}

// A scraper or browser that stalls must not hold sockets for ever; a large scrape still fits easily.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>mailprobe</title></head>
<body><h1>mailprobe</h1><ul>
<li><a href="/metrics">/metrics</a> Prometheus metrics</li>
<li><a href="/api/status">/api/status</a> current state of every check</li>
<li><a href="/readyz">/readyz</a> readiness</li>
<li><a href="/healthz">/healthz</a> liveness</li>
</ul></body></html>
`;

// Prometheus asks for gzip; 20,000 checks are ~80 MB of text and ~2 MB compressed. The fastest level already
// gets most of that and runs on the libuv pool, off the event loop the probes' timers run on.
const gzipAsync = promisify(gzip);
const COMPRESS_FROM_BYTES = 1024;

type Reply = { status: number; type: string; body: string | Buffer | (() => AsyncIterable<Buffer>) };
type Route = (options: HttpServerOptions) => Promise<Reply>;

const ROUTES: Record<string, Route> = {
  '/': async () => ({ status: 200, type: 'text/html; charset=utf-8', body: INDEX_HTML }),
  '/healthz': async () => text(200, 'ok\n'),
  '/metrics': async ({ metrics }) => ({ status: 200, type: metrics.contentType, body: () => metrics.exposition() }),
  '/readyz': async ({ health }) => {
    const report = await health();
    return json(report.ready ? 200 : 503, { ready: report.ready, detail: report.detail });
  },
  '/api/status': async ({ status }) => json(200, await status()),
};

export function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { logger } = options;
  const server = createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      logger.error('http request failed', { path: pathOf(req), error });
      if (!res.headersSent) send(req, res, text(500, 'internal error\n')).catch(() => res.destroy());
      else res.destroy();
    });
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error('http server error', { error }));
      const { address, port } = server.address() as AddressInfo;
      const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
      logger.info('http listener started', { url });
      resolve({
        address,
        port,
        url,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            // Keep-alive scrapers would otherwise hold close() open until their idle timeout.
            server.closeAllConnections();
          }),
      });
    });
  });
}

async function handle(options: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const route = ROUTES[pathOf(req)];
  if (route === undefined) return send(req, res, text(404, 'not found\n'));
  // HEAD is GET without a body; node drops the body itself.
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(req, res, text(405, 'method not allowed\n'));
  }
  return send(req, res, await route(options));
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?', 1)[0] ?? '/';
}

async function send(req: IncomingMessage, res: ServerResponse, reply: Reply): Promise<void> {
  if (typeof reply.body === 'function') return stream(req, res, reply.status, reply.type, reply.body);
  const raw = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
  const compress = raw.length >= COMPRESS_FROM_BYTES && acceptsGzip(req.headers['accept-encoding']);
  const body = compress ? await gzipAsync(raw, { level: zlib.Z_BEST_SPEED }) : raw;
  res.writeHead(reply.status, {
    'Content-Type': reply.type,
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Accept-Encoding',
    ...(compress ? { 'Content-Encoding': 'gzip' } : {}),
  });
  res.end(body);
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
  const source = Readable.from(body(), { objectMode: false });
  await (compress ? pipeline(source, createGzip({ level: zlib.Z_BEST_SPEED }), res) : pipeline(source, res));
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

function json(status: number, value: unknown): Reply {
  return { status, type: 'application/json; charset=utf-8', body: `${JSON.stringify(value, maskSecrets, 2)}\n` };
}

// Secret.toJSON already yields the mask; checking the holder's original value as well keeps the status API
// safe even if that method changes. bigint would otherwise make stringify throw.
function maskSecrets(this: unknown, key: string, value: unknown): unknown {
  const original = typeof this === 'object' && this !== null ? (this as Record<string, unknown>)[key] : value;
  if (original instanceof Secret) return REDACTION_MASK;
  if (typeof value === 'bigint') return value.toString();
  return value;
}
