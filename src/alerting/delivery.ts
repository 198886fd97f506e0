import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { Logger, LogMeta } from '../log/logger.js';
import type { NotifierType } from '../config/alerting.js';
import { retryAfterMs } from '../core/retry-after.js';
import { decideHttpProxy, postBounded, type BoundedAnswer } from '../net/http.js';
import { ProxyError } from '../net/tunnel.js';

export type DeliveryResult = 'success' | 'failure' | 'dropped';

/** One notification's fate, for `mailprobe_notifications_total{notifier,result}`. */
export interface DeliveryEvent {
  notifier: string;
  type: NotifierType;
  result: DeliveryResult;
  attempts: number;
}

export interface PreparedRequest {
  url: URL;
  headers: Record<string, string>;
  body: string;
}

export type Prepared = { ok: true; request: PreparedRequest } | { ok: false; message: string };

export interface Delivery {
  /** What to log about it (fingerprint, monitor, check, event); never the URL or headers. */
  meta: LogMeta;
  /** Builds the request at send time, so a rotated URL secret file is picked up. */
  prepare(): Prepared;
  /** A queued delivery with the same key is replaced instead of queued twice (periodic re-posts). */
  coalesceKey?: string;
  /** Routine re-posts: success is logged at debug, not info. */
  quiet?: boolean;
  /** Told this delivery's fate once it is known, e.g. to remember durably that it went out. */
  onDone?: (result: DeliveryResult) => void;
}

export interface RetryPolicy {
  maxAttempts: number;
  /** Wait after the first failed attempt; doubled after each further one, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Ceiling on a receiver's Retry-After, so one bad header cannot park the queue for a day. */
  maxRetryAfterMs: number;
}

export interface DeliveryQueueOptions {
  notifier: string;
  type: NotifierType;
  logger: Logger;
  now(): number;
  timeoutMs: number;
  /** Where the outbound proxy variables are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  queueSize: number;
  retry: RetryPolicy;
  onDelivery?: (event: DeliveryEvent) => void;
}

type Attempt =
  | { kind: 'sent'; status: number }
  | { kind: 'retry'; status?: number; error?: string; retryAfterMs?: number }
  | { kind: 'rejected'; status: number; response: string };

const RESPONSE_LOG_MAX = 200;

// 408 and 429 are the receiver asking for patience; 5xx is the receiver's fault. Any other 4xx means this
// request will never be accepted, so retrying only adds load.
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export function backoffDelayMs(failedAttempts: number, retry: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, retry.maxRetryAfterMs);
  return Math.min(retry.initialDelayMs * 2 ** (failedAttempts - 1), retry.maxDelayMs);
}

// Request errors can quote the URL, which is a secret; only names and socket codes are logged. A proxy's failure
// names the proxy (never its user info) and the receiver's host:port, which the log line shows anyway.
export function describeSendError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  if (error instanceof ProxyError) return `${error.code}: ${error.message}`;
  const cause: unknown = error.cause;
  if (error.name === 'TimeoutError' || (cause instanceof Error && cause.name === 'TimeoutError')) return 'timeout';
  if (error.name === 'AbortError') return 'aborted';
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  return code ?? 'request failed';
}

/**
 * Sends one prepared notification, through the outbound proxy the environment names for its URL (https_proxy,
 * http_proxy, no_proxy). Throws on no answer; `describeSendError` says why without the URL.
 */
export function sendPrepared(
  request: PreparedRequest,
  call: { signal: AbortSignal; timeoutMs: number; maxBytes: number; env: NodeJS.ProcessEnv },
): Promise<BoundedAnswer> {
  return postBounded(request.url, {
    headers: request.headers,
    body: request.body,
    signal: call.signal,
    maxBytes: call.maxBytes,
    timeoutMs: call.timeoutMs,
    proxy: decideHttpProxy(request.url, undefined, call.env),
  });
}

/**
 * One notifier's outbox: deliveries go out one at a time, in order (so a resolution never overtakes its
 * firing), with timeouts and retries. Each notifier has its own queue, so a slow receiver delays only itself.
 */
export class DeliveryQueue {
  readonly #options: DeliveryQueueOptions;
  readonly #queue: Delivery[] = [];
  readonly #closing = new AbortController();
  #draining?: Promise<void>;

  constructor(options: DeliveryQueueOptions) {
    this.#options = options;
  }

  enqueue(delivery: Delivery): void {
    if (this.#closing.signal.aborted) return this.#drop(delivery, 'notification dropped: notifier closed');
    const same = delivery.coalesceKey === undefined ? -1 : this.#queue.findIndex((queued) => queued.coalesceKey === delivery.coalesceKey);
    if (same >= 0) {
      this.#queue[same] = delivery;
      return;
    }
    if (this.#queue.length >= this.#options.queueSize) {
      const oldest = this.#queue.shift();
      if (oldest) this.#drop(oldest, 'notification queue full, oldest dropped');
    }
    this.#queue.push(delivery);
    this.#draining ??= this.#drain();
  }

  /** Resolves when everything queued so far (and since) has been delivered or given up. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Stops now: aborts the request in flight and any backoff wait, and drops what is still queued. */
  abort(): void {
    this.#closing.abort();
    for (const delivery of this.#queue.splice(0)) this.#drop(delivery, 'notification dropped: notifier closed');
  }

  async #drain(): Promise<void> {
    // Starts on a later turn, so the caller (the agent's result listener) never pays for socket set-up.
    await nextTurn();
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) await this.#deliver(next);
    } finally {
      this.#draining = undefined;
    }
  }

  async #deliver(delivery: Delivery): Promise<void> {
    const { logger, retry } = this.#options;
    const prepared = delivery.prepare();
    if (!prepared.ok) {
      logger.error('notification not sent: notifier URL or header unavailable', { ...delivery.meta, problem: prepared.message });
      return this.#report(delivery, 'failure', 0);
    }
    const { request } = prepared;
    const meta = { ...delivery.meta, host: request.url.host };
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#attempt(request);
      if (outcome.kind === 'sent') {
        logger[delivery.quiet ? 'debug' : 'info']('notification delivered', { ...meta, status: outcome.status, attempts: attempt });
        return this.#report(delivery, 'success', attempt);
      }
      if (outcome.kind === 'rejected') {
        logger.error('notification rejected, not retried', { ...meta, status: outcome.status, response: outcome.response, attempts: attempt });
        return this.#report(delivery, 'failure', attempt);
      }
      const why = outcome.status !== undefined ? { status: outcome.status } : { error: outcome.error };
      if (this.#closing.signal.aborted) {
        logger.warn('notification abandoned: notifier closed', { ...meta, ...why, attempts: attempt });
        return this.#report(delivery, 'failure', attempt);
      }
      if (attempt >= retry.maxAttempts) {
        logger.error('notification failed after retries', { ...meta, ...why, attempts: attempt });
        return this.#report(delivery, 'failure', attempt);
      }
      const delayMs = backoffDelayMs(attempt, retry, outcome.retryAfterMs);
      logger.warn('notification attempt failed, retrying', { ...meta, ...why, attempt, delayMs });
      try {
        await sleep(delayMs, undefined, { signal: this.#closing.signal });
      } catch {
        logger.warn('notification abandoned: notifier closed', { ...meta, ...why, attempts: attempt });
        return this.#report(delivery, 'failure', attempt);
      }
    }
  }

  async #attempt(request: PreparedRequest): Promise<Attempt> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.#options.timeoutMs), this.#closing.signal]);
    try {
      // A redirect would turn the POST into a GET elsewhere; it is not followed and comes back as a rejection.
      const { timeoutMs, env = process.env } = this.#options;
      const answer = await sendPrepared(request, { signal, timeoutMs, maxBytes: RESPONSE_LOG_MAX, env });
      if (answer.status >= 200 && answer.status < 300) return { kind: 'sent', status: answer.status };
      if (!isRetryableStatus(answer.status)) return { kind: 'rejected', status: answer.status, response: answer.head };
      const header = answer.headers['retry-after'];
      const retryAfter = retryAfterMs(typeof header === 'string' ? header : null, this.#options.now());
      return { kind: 'retry', status: answer.status, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
    } catch (error) {
      return { kind: 'retry', error: describeSendError(error) };
    }
  }

  #drop(delivery: Delivery, message: string): void {
    this.#options.logger.warn(message, delivery.meta);
    this.#report(delivery, 'dropped', 0);
  }

  #report(delivery: Delivery, result: DeliveryResult, attempts: number): void {
    const { onDelivery, notifier, type, logger } = this.#options;
    try {
      onDelivery?.({ notifier, type, result, attempts });
      delivery.onDone?.(result);
    } catch (error) {
      logger.error('notification delivery callback failed', { error });
    }
  }
}
