import type { ReasonCode } from './reasons.js';

// The proxy's own failures, apart from the mail server's and the login service's: the operator fixes them at the
// proxy (its address, its ACL, its credentials), not at Exchange or Entra. The transport (src/net/tunnel.ts) throws
// errors with these codes; the probes' and the token path's classifiers map them through this one table.
export const PROXY_FAILURE_REASON = {
  /** No TCP connection to the proxy (refused, unreachable, unknown name). */
  EPROXYUNREACHABLE: 'proxy_unreachable',
  /** The proxy answered CONNECT with a status other than 2xx, 401 and 407, e.g. 403 from its rules. */
  EPROXYREFUSED: 'proxy_refused',
  /** 407 (401 from tinyproxy): the proxy wants credentials, or refused the ones in the proxy URL. */
  EPROXYAUTH: 'proxy_auth_required',
  /** The proxy took longer than the step timeout to connect or to answer CONNECT. */
  EPROXYTIMEOUT: 'proxy_timeout',
  /** The proxy's answer was no HTTP reply, or longer than a reply's bounded head. */
  EPROXYPROTOCOL: 'proxy_protocol_error',
  /** The proxy setting (config or environment) is no usable http:// URL. */
  EPROXYCONFIG: 'config_invalid',
} as const satisfies Record<string, ReasonCode>;

export type ProxyErrorCode = keyof typeof PROXY_FAILURE_REASON;

export function proxyFailureReason(code: string): ReasonCode | undefined {
  return Object.hasOwn(PROXY_FAILURE_REASON, code) ? PROXY_FAILURE_REASON[code as ProxyErrorCode] : undefined;
}
