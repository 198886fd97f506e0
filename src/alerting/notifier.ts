import { readSecret, resolveFrom } from '../config/secrets.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../core/clock.js';
import type { CheckResult } from '../core/result.js';
import { checkKey, type CheckState, type ResultEvent } from '../core/state.js';
import type { Alert } from './alert.js';
import { DeliveryQueue, describeSendError, sendPrepared, type Delivery, type DeliveryEvent, type Prepared, type RetryPolicy } from './delivery.js';
import { PROVIDERS } from './providers/index.js';
import type { Provider } from './providers/types.js';
import { ALERTING_DEFAULTS, type AlertingConfigInput, type NotifierConfigInput, type NotifierType } from '../config/alerting.js';
import { loadAlertStates, StateSaver } from './state-file.js';
import { AlertStates, type AlertState } from './state.js';

export interface NotifierOptions {
  logger: Logger;
  clock: Clock;
  /** Deadline for one HTTP request, body included (default 10000). */
  fetchTimeoutMs?: number;
  /** Called once per notification with its fate, e.g. to count mailprobe_notifications_total{notifier,result}. */
  onDelivery?: (event: DeliveryEvent) => void;
  /** Folder that a relative stateFile and secret file paths are resolved from (default the working directory). */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Backoff tuning; maxAttempts comes from the config. Defaults: 1 s doubling to 60 s, Retry-After up to 300 s. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
  /** How long close() lets queued notifications go out before abandoning them (default 5000). */
  closeGraceMs?: number;
  /** Alert state changes within this window share one write of the state file (default 1000). */
  saveDelayMs?: number;
}

export interface Notifier {
  /** A ResultListener for the agent (it ignores the job); returns at once and never throws. */
  listener: (event: ResultEvent) => void;
  /** The failing streaks the state file saved, for the agent's fold when no history restored them. */
  streaks(): Map<string, CheckState>;
  /**
   * Call after a config reload with the checks still configured: alerts of removed monitors or checks are
   * resolved (no check will ever pass to resolve them) and forgotten.
   */
  retain(active: Iterable<Pick<CheckResult, 'monitor' | 'check'>>): void;
  /** Resolves when every queued notification is delivered or given up and the state file is current. */
  flush(): Promise<void>;
  /** Stops re-posting, gives queued notifications closeGraceMs, then abandons the rest and saves state. */
  close(): Promise<void>;
}

interface Target {
  settings: NotifierConfigInput;
  queue: DeliveryQueue;
}

/**
 * A notifier's request at send time: its URL and header secrets read now (so a rotated secret file is picked up),
 * checked, and the body the caller builds for that URL. Problems come back as a message that never quotes a secret.
 */
export function prepareRequest(
  settings: Pick<NotifierConfigInput, 'url' | 'headers'>,
  where: { baseDir: string; env: NodeJS.ProcessEnv },
  build: (url: URL) => { url: URL; body: string },
): Prepared {
  const url = readSecret(settings.url, where.baseDir, where.env);
  if (!url.ok) return { ok: false, message: `url: ${url.message}` };
  let parsed: URL;
  try {
    parsed = new URL(url.secret.reveal());
  } catch {
    return { ok: false, message: 'url is not an absolute URL' };
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return { ok: false, message: `url scheme ${parsed.protocol} is not http or https` };
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'mailprobe' };
  for (const [name, source] of Object.entries(settings.headers ?? {})) {
    const value = readSecret(source, where.baseDir, where.env);
    if (!value.ok) return { ok: false, message: `header ${name}: ${value.message}` };
    headers[name.toLowerCase()] = value.secret.reveal();
  }
  return { ok: true, request: { ...build(parsed), headers } };
}

function providerFor<T extends NotifierType>(type: T): Provider<T> {
  return PROVIDERS[type];
}

/** Whether a notifier wants to hear about a new alert (its filters); updates follow whoever heard the start. */
export function wants(settings: NotifierConfigInput, alert: Pick<Alert, 'monitor' | 'category'>): boolean {
  if (settings.monitors && !settings.monitors.includes(alert.monitor)) return false;
  return !settings.categories || settings.categories.includes(alert.category);
}

export function createNotifier(config: AlertingConfigInput, options: NotifierOptions): Notifier {
  const { logger, clock } = options;
  const baseDir = options.baseDir ?? process.cwd();
  const env = options.env ?? process.env;
  const statePath = config.stateFile === undefined ? undefined : resolveFrom(baseDir, config.stateFile);
  const states = new AlertStates(
    {
      failureThreshold: config.failureThreshold ?? ALERTING_DEFAULTS.failureThreshold,
      successThreshold: config.successThreshold ?? ALERTING_DEFAULTS.successThreshold,
      repeatIntervalMs: (config.repeatIntervalMinutes ?? ALERTING_DEFAULTS.repeatIntervalMinutes) * 60_000,
    },
    statePath ? loadAlertStates(statePath, logger) : [],
  );
  const saver = statePath
    ? new StateSaver({
        path: statePath,
        snapshot: () => states.snapshot(),
        logger,
        ...(options.saveDelayMs !== undefined ? { delayMs: options.saveDelayMs } : {}),
      })
    : undefined;

  const retry: RetryPolicy = {
    maxAttempts: config.maxAttempts ?? ALERTING_DEFAULTS.maxAttempts,
    initialDelayMs: options.retry?.initialDelayMs ?? 1000,
    maxDelayMs: options.retry?.maxDelayMs ?? 60_000,
    maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 300_000,
  };
  const targets: Target[] = config.notifiers.map((settings) => ({
    settings,
    queue: new DeliveryQueue({
      notifier: settings.name,
      type: settings.type,
      logger: logger.child({ notifier: settings.name, notifierType: settings.type }),
      now: () => clock.now(),
      timeoutMs: options.fetchTimeoutMs ?? 10_000,
      env,
      queueSize: config.queueSize ?? ALERTING_DEFAULTS.queueSize,
      retry,
      ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
    }),
  }));

  const prepare = (settings: NotifierConfigInput, alert: Alert): Prepared => {
    const provider = providerFor(settings.type);
    return prepareRequest(settings, { baseDir, env }, (url) => ({ url: provider.endpoint(url), body: JSON.stringify(provider.buildBody(alert, settings)) }));
  };

  const send = (target: Target, alert: Alert, resend = false): void => {
    const delivery: Delivery = {
      meta: { fingerprint: alert.fingerprint, monitor: alert.monitor, check: alert.check, event: resend ? 'resend' : alert.event },
      prepare: () => prepare(target.settings, alert),
      ...(resend ? { coalesceKey: `resend:${alert.fingerprint}`, quiet: true } : {}),
    };
    target.queue.enqueue(delivery);
  };

  const dispatch = (alert: Alert, state: AlertState): void => {
    const joined = new Set(state.firing?.notifiers ?? []);
    if (alert.event === 'resolved') {
      for (const target of targets)
        if (joined.has(target.settings.name) && (target.settings.sendResolved ?? ALERTING_DEFAULTS.sendResolved)) send(target, alert);
      return;
    }
    const recipients = targets.filter((target) => joined.has(target.settings.name) || wants(target.settings, alert));
    states.setNotifiers(
      alert,
      recipients.map((target) => target.settings.name),
    );
    for (const target of recipients) send(target, alert);
  };

  // Alertmanager forgets an alert resolve_timeout after its last post, so firing ones are re-posted; this is
  // not a reminder, so the other notifiers hear nothing of it.
  const alertmanagers = targets.filter((target) => target.settings.type === 'alertmanager');
  const resendTimer =
    alertmanagers.length === 0
      ? undefined
      : setInterval(
          () => {
            for (const { alert, notifiers } of states.firing()) {
              for (const target of alertmanagers) if (notifiers.includes(target.settings.name)) send(target, alert, true);
            }
          },
          (config.alertmanagerResendSeconds ?? ALERTING_DEFAULTS.alertmanagerResendSeconds) * 1000,
        );
  resendTimer?.unref();

  let closed = false;
  const listener = (event: ResultEvent): void => {
    if (closed) return;
    const { result } = event;
    try {
      const observation = states.observe(event, clock.now());
      if (observation.alert && observation.state) dispatch(observation.alert, observation.state);
      if (observation.changed) saver?.markDirty();
    } catch (error) {
      logger.error('alerting failed on a check result', { monitor: result.monitor, check: result.check, error });
    }
  };

  const retain = (active: Iterable<Pick<CheckResult, 'monitor' | 'check'>>): void => {
    const keys = new Set([...active].map(checkKey));
    for (const { alert, state } of states.retain(keys, clock.now())) {
      logger.info('alert resolved: check no longer configured', { monitor: alert.monitor, check: alert.check });
      dispatch(alert, state);
    }
    saver?.markDirty();
  };

  const flush = async (): Promise<void> => {
    await Promise.all(targets.map((target) => target.queue.flush()));
    await saver?.flush();
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    clearInterval(resendTimer);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.closeGraceMs ?? 5000);
    });
    await Promise.race([Promise.all(targets.map((target) => target.queue.flush())), grace]);
    clearTimeout(timer);
    for (const target of targets) target.queue.abort();
    await flush();
  };

  logger.info('alerting ready', {
    notifiers: targets.map((target) => target.settings.name),
    firing: states.firing().length,
    ...(statePath ? { stateFile: statePath } : {}),
  });
  return { listener, streaks: () => states.streaks(), retain, flush, close };
}

/** What a receiver answered one request: its status and the first bytes of its body, or why there was none. */
export type ReceiverAnswer = { ok: boolean; status: number; body: string } | { ok: false; error: string };

/**
 * One notification to one notifier, now, without queue or retries: for `mailprobe notify --test`, whose point
 * is to show the operator the receiver's own answer.
 */
export async function sendOnce(
  settings: NotifierConfigInput,
  alert: Alert,
  where: { baseDir: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<ReceiverAnswer> {
  const provider = providerFor(settings.type);
  const prepared = prepareRequest(settings, where, (url) => ({ url: provider.endpoint(url), body: JSON.stringify(provider.buildBody(alert, settings)) }));
  if (!prepared.ok) return { ok: false, error: prepared.message };
  const { request } = prepared;
  try {
    const answer = await sendPrepared(request, {
      signal: AbortSignal.timeout(where.timeoutMs),
      timeoutMs: where.timeoutMs,
      maxBytes: ANSWER_SHOWN_BYTES,
      env: where.env,
    });
    return { ok: answer.status >= 200 && answer.status < 300, status: answer.status, body: answer.head };
  } catch (error) {
    return { ok: false, error: describeSendError(error) };
  }
}

const ANSWER_SHOWN_BYTES = 500;
