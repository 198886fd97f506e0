import type { Endpoint } from '../core/endpoint.js';
import { proxyFailureReason } from '../core/proxy.js';
import { decideHttpProxy, httpRoute } from '../net/http.js';
import { ProxyError } from '../net/tunnel.js';
import { retryAfterMs } from '../core/retry-after.js';
import type { ReasonCode } from '../core/reasons.js';
import { truncate } from '../core/text.js';
import { field, isRecord } from '../core/unknown.js';
import type { Secret } from '../core/secret.js';
import { pause } from './timing.js';
import { ProbeError, tlsOptionsFor } from './transport-errors.js';

// The few Microsoft Graph calls the graph check makes, with every input bounded where it enters: answer bodies,
// Graph's error text, how long one request may take, how long a Retry-After is honoured, how many requests one
// mailbox sees at once. Graph's refusals become ProbeErrors with Graph's own code and message as the server's words.

/** A Graph answer we read whole: message lists of a few dozen entries with their headers are tens of kilobytes. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Graph's own words kept for a failure: its code and message, bounded like any server's reply. */
const MAX_SERVER_TEXT = 300;
/** Graph's MailboxConcurrency: four requests of one app to one mailbox at a time (docs/exchange-online-errors.md §10). */
export const GRAPH_MAILBOX_CONCURRENCY = 4;
/** A Retry-After is honoured within the check for at most this long; a longer one fails the check as throttled. */
export const MAX_GRAPH_RETRY_WAIT_MS = 10_000;

/**
 * At most GRAPH_MAILBOX_CONCURRENCY requests per mailbox across every check of this process (the graph checks of one
 * mailbox, a `mailprobe check` beside the agent is another process and Graph counts it too). One per agent.
 */
export class MailboxGate {
  readonly #running = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();

  constructor(readonly limit = GRAPH_MAILBOX_CONCURRENCY) {}

  async run<T>(mailbox: string, work: () => Promise<T>): Promise<T> {
    const key = mailbox.toLowerCase();
    if ((this.#running.get(key) ?? 0) >= this.limit) {
      await new Promise<void>((resolve) => this.#waiting.set(key, [...(this.#waiting.get(key) ?? []), resolve]));
    }
    this.#running.set(key, (this.#running.get(key) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.#running.get(key) ?? 1) - 1;
      if (left === 0) this.#running.delete(key);
      else this.#running.set(key, left);
      const [next, ...rest] = this.#waiting.get(key) ?? [];
      if (rest.length === 0) this.#waiting.delete(key);
      else this.#waiting.set(key, rest);
      next?.();
    }
  }
}

export interface GraphResponse {
  status: number;
  retryAfter: string | undefined;
  /** The parsed JSON body; undefined for an empty or non-JSON one. */
  body: unknown;
}

export interface GraphRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Absolute URL on the endpoint's origin. */
  url: URL;
  body?: unknown;
}

export interface GraphCallOptions {
  /** Its proxy is the tenant's setting (a URL or "direct"); absent: HTTPS_PROXY, ALL_PROXY and NO_PROXY of `env` decide. */
  endpoint: Endpoint;
  token: Secret;
  signal: AbortSignal;
  timeoutMs: number;
  /** The environment the proxy variables are read from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A proxy's refusal as the probe's failure: its own reason, at connect (or config for a setting that cannot work). */
function proxyFailure(err: ProxyError): ProbeError {
  return new ProbeError(proxyFailureReason(err.code) ?? 'connect_refused', err.message, {
    stage: err.code === 'EPROXYCONFIG' ? 'config' : 'connect',
    ...(err.statusLine !== undefined ? { serverText: err.statusLine } : {}),
  });
}

/**
 * One request, direct or through the outbound proxy (src/net: a CONNECT tunnel with TLS to Graph itself on top);
 * rejects with a transport error (classified by the probe boundary) or on the timeout.
 */
export function graphRequest(options: GraphCallOptions, call: GraphRequest): Promise<GraphResponse> {
  const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body), 'utf8');
  return new Promise((resolve, reject) => {
    const tls = tlsOptionsFor(options.endpoint);
    let route: ReturnType<typeof httpRoute>;
    try {
      route = httpRoute(call.url, decideHttpProxy(call.url, options.endpoint.proxy, options.env ?? process.env), {
        tls,
        timeoutMs: options.timeoutMs,
        signal: options.signal,
      });
    } catch (err) {
      reject(err instanceof ProxyError ? proxyFailure(err) : err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const req = route.request(route.target, {
      ...tls,
      ...route.options,
      method: call.method,
      signal: options.signal,
      timeout: options.timeoutMs,
      headers: {
        ...(route.options.headers as Record<string, string> | undefined),
        authorization: `Bearer ${options.token.reveal()}`,
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
      },
    });
    req.on('timeout', () => req.destroy(new ProbeError('timeout', `Microsoft Graph did not answer ${call.method} within ${options.timeoutMs} ms`)));
    req.on('error', (err) => reject(err instanceof ProxyError ? proxyFailure(err) : err));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new ProbeError('protocol_error', `Microsoft Graph's answer is larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = undefined;
        }
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body });
      });
    });
    req.end(payload);
  });
}

/** Graph's error code and message from its error body, bounded; empty strings when the body has none. */
export function graphErrorOf(body: unknown): { code: string; message: string } {
  const error = field(body, 'error');
  const code = field(error, 'code');
  const message = field(error, 'message');
  return {
    code: typeof code === 'string' ? truncate(code.replace(/[^\x20-\x7e]/g, ''), 80) : '',
    message: typeof message === 'string' ? truncate(message.replace(/[\r\n\t]+/g, ' '), MAX_SERVER_TEXT) : '',
  };
}

/**
 * Graph's refusal as a reason: Exchange's (the mailbox, its access policy, its throttling) kept apart from Entra's
 * (the token, its permissions). "Access is denied" is the token lacking the mail permission or an RBAC scope that
 * leaves the mailbox out; the runner's diagnosis tells those apart with the token in hand.
 */
export function reasonForGraph(status: number, code: string, message: string): ReasonCode {
  if (status === 429) return 'throttled';
  if (status === 401) {
    if (/audience/i.test(message)) return 'token_wrong_audience';
    if (/expired|lifetime/i.test(message)) return 'token_expired';
    return 'auth_failed';
  }
  if (code === 'NoPermissionsInAccessToken' || code === 'Authorization_RequestDenied') return 'role_missing';
  if (code === 'ErrorAccessDenied' && /OData is disabled/i.test(message)) return 'graph_access_blocked';
  if (code === 'ErrorAccessDenied' || status === 403) return 'auth_failed';
  if (code === 'MailboxNotEnabledForRESTAPI' || /REST API is not yet supported/i.test(message)) return 'mailbox_not_enabled_for_rest';
  if (code === 'ErrorInvalidUser' || code === 'ResourceNotFound' || code === 'Request_ResourceNotFound') return 'invalid_user';
  if (status >= 500) return 'server_unavailable';
  return 'protocol_error';
}

export interface RetryingCallOptions extends GraphCallOptions {
  mailbox: string;
  gate: MailboxGate;
  now: () => number;
  /** Monotonic milliseconds when the check's deadline passes; a Retry-After reaching past it is not waited for. */
  deadlineAt: number;
  monotonic: () => number;
  /** Told of each wait, for the transcript. */
  onWait(ms: number, text: string): void;
}

/**
 * One Graph call through the mailbox gate, honouring a 429's Retry-After within the check (capped, and never past
 * the deadline); a refusal becomes a ProbeError with Graph's code and message as the server's words.
 */
export async function graphCall(options: RetryingCallOptions, call: GraphRequest, ok: (status: number) => boolean): Promise<GraphResponse> {
  for (;;) {
    const response = await options.gate.run(options.mailbox, () => graphRequest(options, call));
    if (ok(response.status)) return response;
    const { code, message } = graphErrorOf(response.body);
    // A Retry-After is part of Graph's answer: kept with its words, so the runner's back-off and the fix read it.
    const wait = response.retryAfter?.replace(/[^\x20-\x7e]/g, '').slice(0, 40);
    const serverText = `${response.status} ${code || 'error'}: ${message || '(no message)'}${wait ? ` (Retry-After: ${wait})` : ''}`;
    if (response.status === 429) {
      const waitMs = retryAfterMs(response.retryAfter, options.now()) ?? 1000;
      const left = options.deadlineAt - options.monotonic();
      if (waitMs <= MAX_GRAPH_RETRY_WAIT_MS && waitMs < left) {
        options.onWait(waitMs, serverText);
        await pause(waitMs, options.signal);
        if (!options.signal.aborted) continue;
      }
    }
    throw new ProbeError(reasonForGraph(response.status, code, message), `Microsoft Graph refused ${call.method} ${call.url.pathname}`, { serverText });
  }
}

/** The value of a JSON list answer, entries that are objects only. */
export function listValue(body: unknown): Array<Record<string, unknown>> {
  const value = field(body, 'value');
  return Array.isArray(value) ? value.filter(isRecord) : [];
}
