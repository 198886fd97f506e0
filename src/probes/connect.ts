import type net from 'node:net';
import { decideProxy, describeDecision } from '../config/proxy.js';
import type { Endpoint } from '../core/endpoint.js';
import { dial } from '../net/dial.js';
import { ProxyError } from '../net/tunnel.js';
import { proxyFailureReason } from '../core/proxy.js';
import { ProbeError } from './transport-errors.js';

export interface ConnectOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** Told the route once, for the transcript (never the proxy's user info). */
  note?: (text: string) => void;
  /** Where ALL_PROXY and NO_PROXY are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

// A few milliseconds under the step watchdog's bound, so a stalled proxy is reported as the proxy's timeout (naming
// the proxy) rather than the watchdog's generic one, which was armed a moment earlier for the same duration.
const PROXY_TIMEOUT_HEADROOM_MS = 20;

/**
 * The probes' TCP connection to a mail endpoint: direct, or through the outbound proxy its settings or ALL_PROXY
 * name (HTTP CONNECT). A proxy's failure becomes its own reason at the connect stage, with the proxy's status line
 * as the server text; a direct connection's errors keep their codes for the transport table.
 */
export async function connectEndpoint(endpoint: Endpoint, options: ConnectOptions): Promise<net.Socket> {
  const decision = decideProxy({ scheme: 'mail', host: endpoint.host, port: endpoint.port }, endpoint.proxy, options.env ?? process.env);
  if (decision.kind === 'proxy') options.note?.(`connecting to ${endpoint.host}:${endpoint.port} ${describeDecision(decision)}`);
  const timeoutMs = decision.kind === 'proxy' ? Math.max(1, options.timeoutMs - PROXY_TIMEOUT_HEADROOM_MS) : options.timeoutMs;
  try {
    return await dial({ host: endpoint.host, port: endpoint.port, decision, timeoutMs, signal: options.signal });
  } catch (err) {
    if (!(err instanceof ProxyError)) throw err;
    throw new ProbeError(proxyFailureReason(err.code) ?? 'connect_refused', err.message, {
      stage: err.code === 'EPROXYCONFIG' ? 'config' : 'connect',
      ...(err.statusLine !== undefined ? { serverText: err.statusLine } : {}),
    });
  }
}
