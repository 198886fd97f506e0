import { ALERTING_DEFAULTS, type NotifierConfigInput } from '../config/alerting.js';
import type { Logger, LogMeta } from '../log/logger.js';
import { DeliveryQueue, type DeliveryEvent, type DeliveryResult } from './delivery.js';
import { prepareRequest } from './notifier.js';

export type { DeliveryEvent, DeliveryResult };

/**
 * Alerting's public entry for messages that are not alerts (the monthly summary): the caller builds the body, the
 * outbox does what alerts get — the URL and header secrets read at send time, one request at a time with a
 * deadline, retries with backoff and Retry-After, and one DeliveryEvent per message for the notifications metric.
 * Other folders use this instead of the providers, the queue or the request preparation.
 */
export interface Outbox {
  /** Queues one message; its fate reaches onDone once known. Returns at once and never throws. */
  send(message: OutboxMessage): void;
  /** Resolves when what was queued has been delivered or given up. */
  flush(): Promise<void>;
  /** Stops now: the request in flight and any backoff wait are aborted, what is queued is dropped. */
  abort(): void;
}

export interface OutboxMessage {
  /** What to log about it (e.g. event, period); never the URL or headers. */
  meta: LogMeta;
  /** The receiver's JSON body. */
  body: unknown;
  onDone(result: DeliveryResult): void;
}

export interface OutboxOptions {
  logger: Logger;
  now(): number;
  /** Folder that secret file paths are resolved from, and the environment secrets are read from. */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** Deadline for one HTTP request, body included (default 10000). */
  timeoutMs?: number;
  /** alerting.maxAttempts (the alerts' default when unset). */
  maxAttempts?: number;
  /** Quick retries inside one delivery (default 1 s doubling to 60 s, as for alerts). */
  retry?: { initialDelayMs: number; maxDelayMs: number };
  onDelivery?: (event: DeliveryEvent) => void;
}

/** An outbox to one notifier, posting to its configured URL as is. */
export function openOutbox(target: NotifierConfigInput, options: OutboxOptions): Outbox {
  const queue = new DeliveryQueue({
    notifier: target.name,
    type: target.type,
    logger: options.logger.child({ notifier: target.name, notifierType: target.type }),
    now: options.now,
    timeoutMs: options.timeoutMs ?? 10_000,
    // Its callers open one outbox per message (the summary: one per month and notifier).
    queueSize: 1,
    retry: {
      maxAttempts: options.maxAttempts ?? ALERTING_DEFAULTS.maxAttempts,
      initialDelayMs: options.retry?.initialDelayMs ?? 1000,
      maxDelayMs: options.retry?.maxDelayMs ?? 60_000,
      maxRetryAfterMs: 300_000,
    },
    ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
  });
  const where = { baseDir: options.baseDir, env: options.env };
  return {
    send: (message) =>
      queue.enqueue({
        meta: message.meta,
        prepare: () => prepareRequest(target, where, (url) => ({ url, body: JSON.stringify(message.body) })),
        onDone: message.onDone,
      }),
    flush: () => queue.flush(),
    abort: () => queue.abort(),
  };
}
