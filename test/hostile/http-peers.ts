import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Pem } from '../../src/sandbox/certs.js';

/** An HTTP(S) peer that answers every request with `status` and a body that never ends, counting what it wrote. */
export interface EndlessPeer {
  url: string;
  /** Bytes of body written to the client so far. */
  written(): number;
  /** Settles when the client has gone away (it stopped reading and closed). */
  abandoned: Promise<void>;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, '{"error":"x"');

export async function startEndlessPeer(options: { status: number; tls?: Pem; headers?: Record<string, string> }): Promise<EndlessPeer> {
  let written = 0;
  let abandon: () => void = () => undefined;
  const abandoned = new Promise<void>((resolve) => (abandon = resolve));
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    res.writeHead(options.status, { 'content-type': 'application/json', ...options.headers });
    const pump = (): void => {
      while (!res.destroyed && res.write(CHUNK)) written += CHUNK.length;
    };
    res.on('drain', () => {
      written += CHUNK.length;
      pump();
    });
    res.on('close', abandon);
    pump();
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    written: () => written,
    abandoned,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
