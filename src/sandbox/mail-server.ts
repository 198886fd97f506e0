import type { ExchangeContext } from './exchange.js';
import { startLineServer, type LineConnection, type LineServer, type TlsCredentials } from './line-server.js';
import type { MailProtocol } from './model.js';

/** What differs between the emulator's mail servers: the protocol, how TLS starts, the longest line, the session. */
export interface MailServer {
  protocol: MailProtocol;
  /** implicit: TLS from the first byte (IMAPS, POP3S); starttls: plain until the client asks. */
  tls: 'implicit' | 'starttls';
  maxLineBytes: number;
  session(connection: LineConnection, context: ExchangeContext): Promise<void>;
}

/**
 * One of Exchange's mail servers on a line server, with its protocol's connection faults applied before the
 * session begins: hang accepts and then says nothing (the client times out), reset drops the connection at once.
 */
export function startMailServer(context: ExchangeContext, options: { host: string; tls: TlsCredentials }, server: MailServer): Promise<LineServer> {
  return startLineServer({
    host: options.host,
    ...(server.tls === 'implicit' ? { tls: options.tls } : { starttls: options.tls }),
    idleTimeoutMs: context.idleTimeoutMs,
    maxLineBytes: server.maxLineBytes,
    handle: async (connection) => {
      if (context.model.faults.hang[server.protocol]) return connection.done;
      if (context.model.faults.reset[server.protocol]) return connection.destroy();
      return server.session(connection, context);
    },
  });
}
