import { isIP } from 'node:net';
import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext } from 'node:tls';
import { reasonForReply } from '../diagnose/reply.js';
import type { ReasonCode } from '../core/reasons.js';
import { proxyFailureReason } from '../core/proxy.js';
import { HOSTNAME_MISMATCH_CODE, isUntrustedCertificateCode } from '../diagnose/tls-codes.js';
import type { Protocol, Stage } from '../core/check.js';
import type { Endpoint } from '../core/endpoint.js';
import type { ProbeFailure } from '../core/outcome.js';
import { field } from '../core/unknown.js';

/** A failure a probe already understood: reason decided, server words kept. Converted at the boundary. */
export class ProbeError extends Error {
  readonly reason: ReasonCode;
  /** Absent: the step in progress when it was thrown. */
  readonly stage: Stage | undefined;
  readonly serverText: string | undefined;
  /** Absent: the protocol the probe was speaking when it was thrown. */
  readonly protocol: Protocol | undefined;

  constructor(reason: ReasonCode, message: string, options: { stage?: Stage; serverText?: string; protocol?: Protocol } = {}) {
    super(message);
    this.name = 'ProbeError';
    this.reason = reason;
    this.stage = options.stage;
    this.serverText = options.serverText;
    this.protocol = options.protocol;
  }
}

/** The server said no: the reason comes from its words, through the one reply classifier. */
export function rejection(protocol: Protocol, stage: Stage, serverText: string, message: string): ProbeError {
  return new ProbeError(reasonForReply(protocol, stage, serverText), message, { stage, serverText });
}

/**
 * TLS settings every probe connects with. Node's `ca` replaces the default store, while an
 * endpoint's extra CAs are meant to be added to it, so the bundled roots go in alongside.
 */
export function tlsOptionsFor(endpoint: Endpoint): ConnectionOptions {
  const options: ConnectionOptions = {
    host: endpoint.host,
    port: endpoint.port,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: endpoint.tls.rejectUnauthorized,
  };
  if (endpoint.tls.ca?.length) {
    options.ca = [...rootCertificates, ...endpoint.tls.ca];
    const context = sharedContext(endpoint.tls.ca);
    if (context) options.secureContext = context;
  }
  // SNI carries names only; for an IP literal the certificate is checked against its IP SANs.
  if (!isIP(endpoint.host)) options.servername = endpoint.host;
  return options;
}

// Node builds a secure context per connection from `ca` when given none: parsing the ~140 bundled roots
// costs ~35 ms of CPU each time, most of a check's cost (npm run bench). One context per CA set is shared;
// a set Node cannot parse gets none, so the connection fails on `ca` with Node's own error as before.
const contexts = new Map<string, SecureContext | null>();
const MAX_CONTEXTS = 16;

function sharedContext(ca: readonly string[]): SecureContext | undefined {
  const key = ca.join('\n');
  let context = contexts.get(key);
  if (context === undefined) {
    try {
      context = createSecureContext({ ca: [...rootCertificates, ...ca], minVersion: 'TLSv1.2' });
    } catch {
      context = null;
    }
    // Reloads with changed CA files add sets; a small bound keeps stale ones from piling up.
    if (contexts.size >= MAX_CONTEXTS) contexts.clear();
    contexts.set(key, context);
  }
  return context ?? undefined;
}

const VERSION_REJECTED = new Set(['ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION']);

// Node's codes, imapflow's own (NoConnection, ETIMEOUT, CONNECT_TIMEOUT …) and nodemailer's
// (ECONNECTION, ETIMEDOUT, ETLS, EDNS, EPROTOCOL) side by side: each library passes some through
// and renames others, so one table serves all three.
const BY_CODE: ReadonlyMap<string, ReasonCode> = new Map<string, ReasonCode>([
  ['ECONNREFUSED', 'connect_refused'],
  ['EHOSTUNREACH', 'connect_refused'],
  ['ENETUNREACH', 'connect_refused'],
  ['ENOTFOUND', 'connect_dns'],
  ['EAI_AGAIN', 'connect_dns'],
  ['EAI_FAIL', 'connect_dns'],
  ['EDNS', 'connect_dns'],
  ['ECONNRESET', 'connection_reset'],
  ['EPIPE', 'connection_reset'],
  ['ECONNABORTED', 'connection_reset'],
  ['ERR_STREAM_PREMATURE_CLOSE', 'connection_reset'],
  ['NoConnection', 'connection_reset'],
  ['EConnectionClosed', 'connection_reset'],
  ['ClosedAfterConnectText', 'connection_reset'],
  ['ClosedAfterConnectTLS', 'connection_reset'],
  ['ECONNECTION', 'connection_reset'],
  ['ETIMEDOUT', 'timeout'],
  ['ETIMEOUT', 'timeout'],
  ['CONNECT_TIMEOUT', 'timeout'],
  ['GREETING_TIMEOUT', 'timeout'],
  ['UPGRADE_TIMEOUT', 'timeout'],
  ['ABORT_ERR', 'timeout'],
  [HOSTNAME_MISMATCH_CODE, 'tls_hostname_mismatch'],
  ['ETLS', 'tls_handshake_failed'],
  ['EPROTOCOL', 'protocol_error'],
  ['InvalidResponse', 'protocol_error'],
  ['UnexpectedTag', 'protocol_error'],
  ['LineTooLarge', 'protocol_error'],
  ['ResponseTooLarge', 'protocol_error'],
  ['LiteralTooLarge', 'protocol_error'],
  ['TooManyTokens', 'protocol_error'],
]);

function codeReason(code: string): ReasonCode | undefined {
  const proxy = proxyFailureReason(code);
  if (proxy) return proxy;
  if (isUntrustedCertificateCode(code)) return 'tls_untrusted';
  if (VERSION_REJECTED.has(code)) return 'tls_version_rejected';
  const known = BY_CODE.get(code);
  if (known) return known;
  if (code.startsWith('ParserError')) return 'protocol_error';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'tls_handshake_failed';
  return undefined;
}

/**
 * Codes of an error and of the errors it wraps, innermost first: nodemailer renames a socket error
 * (ESOCKET, keeping `originalCode`), imapflow keeps the dependency's error in `_err`, Node in `cause`.
 */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    for (const key of ['code', 'originalCode']) {
      const code = field(current, key);
      if (typeof code === 'string') codes.unshift(code);
    }
    if (field(current, 'name') === 'AbortError') codes.unshift('ABORT_ERR');
    current = field(current, '_err') ?? field(current, 'cause');
  }
  return codes;
}

/** The transport reason for a Node, TLS, imapflow or nodemailer error, or undefined if it is none of those. */
export function transportReason(err: unknown): ReasonCode | undefined {
  for (const code of errorCodes(err)) {
    const reason = codeReason(code);
    if (reason) return reason;
  }
  return undefined;
}

const MAX_MESSAGE = 300;

export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = errorCodes(err)[0];
  const text = code && !message.includes(code) ? `${code}: ${message}` : message;
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

/** Anything a probe caught, as the failure record. Library rejections are ProbeErrors by now. */
export function toFailure(err: unknown, stage: Stage, protocol?: Protocol): ProbeFailure {
  if (err instanceof ProbeError) {
    const failure: ProbeFailure = { stage: err.stage ?? stage, reason: err.reason, message: err.message };
    const spoken = err.protocol ?? protocol;
    if (spoken !== undefined) failure.protocol = spoken;
    if (err.serverText !== undefined) failure.serverText = err.serverText;
    return failure;
  }
  return { stage, ...(protocol ? { protocol } : {}), reason: transportReason(err) ?? 'internal_error', message: describeError(err) };
}
