import net from 'node:net';
import { once } from 'node:events';

/**
 * An in-process forward proxy for byte-exact faults. It reads one request head per connection, records it, and
 * either answers with `reply` (raw bytes: a 407, a 403, garbage, a flood) or, for `forward`, answers 200 and pipes
 * the connection to the CONNECT target (or, for an absolute-form request, to the URL's host) like a real proxy.
 * The real proxy (tinyproxy) is in test/integration/proxy-tinyproxy.test.ts.
 */
export type ProxyBehaviour =
  | { forward: true; /** Bytes sent right after the 200, before the target's own (tests a coalesced greeting). */ established?: string }
  | { reply: string }
  /** Writes `chunk` until the client goes away: a reply head that never ends. */
  | { flood: string }
  /** Accepts and reads, never answers. */
  | { hang: true };

export interface ScriptedProxy {
  url: string;
  host: string;
  port: number;
  /** Every request head received, as text. */
  heads: string[];
  close(): Promise<void>;
}

export async function startScriptedProxy(behaviour: ProxyBehaviour): Promise<ScriptedProxy> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.removeListener('data', onData);
      const head = buffer.subarray(0, end).toString('latin1');
      const rest = buffer.subarray(end + 4);
      heads.push(head);
      answer(client, head, rest);
    };
    client.on('data', onData);
  });
  const answer = (client: net.Socket, head: string, rest: Buffer): void => {
    if ('reply' in behaviour) {
      client.end(behaviour.reply);
      return;
    }
    if ('hang' in behaviour) return;
    if ('flood' in behaviour) {
      const pump = (): void => {
        while (!client.destroyed && client.write(behaviour.flood));
      };
      client.on('drain', pump);
      pump();
      return;
    }
    const [method = '', target = ''] = head.split('\r\n')[0]?.split(' ') ?? [];
    const connectTo = method === 'CONNECT' ? target : new URL(target).host;
    const colon = connectTo.lastIndexOf(':');
    const host = connectTo.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(connectTo.slice(colon + 1) || 80);
    const upstream = net.connect({ host, port });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.once('connect', () => {
      if (method === 'CONNECT') client.write(`HTTP/1.1 200 Connection established\r\n\r\n${behaviour.established ?? ''}`);
      // Absolute form: the request goes on as the host would get it (origin form), the rest of the body behind it.
      else upstream.write(`${head.replace(/^(\S+) \S+/, (_m, verb: string) => `${verb} ${new URL(target).pathname}${new URL(target).search}`)}\r\n\r\n`);
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  };
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    heads,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
