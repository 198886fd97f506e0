import { ProbeError, toFailure } from './transport-errors.js';
import type { Protocol, Stage } from '../core/check.js';
import type { Clock } from '../core/clock.js';
import type { FactValue, Measurements, ProbeOutcome, StepTiming } from '../core/outcome.js';
import type { ProbeContext, Transcript } from './types.js';
import { CredentialMask } from './xoauth2.js';

/**
 * Times the steps of one check. Exactly one step runs at a time; beginning the next ends the
 * previous, so the timings tile the check without gaps. The stage in progress is what a failure
 * is attributed to when the error itself does not say.
 */
export class StepRecorder {
  readonly #clock: Clock;
  readonly #steps: StepTiming[] = [];
  #running: { step: Stage; startedAt: number } | undefined;
  #stage: Stage;

  constructor(clock: Clock, first: Stage = 'connect') {
    this.#clock = clock;
    this.#stage = first;
  }

  /** Ends the running step (if any) and starts `step`. Beginning the running step again is a no-op. */
  begin(step: Stage): void {
    if (this.#running?.step === step) return;
    this.end();
    this.#running = { step, startedAt: this.#clock.monotonic() };
    this.#stage = step;
  }

  /** Attributes failures to `stage` without timing it, for checks that cost no network round trip. */
  attribute(stage: Stage): void {
    this.end();
    this.#stage = stage;
  }

  end(): void {
    if (!this.#running) return;
    // To the microsecond: the monotonic clock's further digits say nothing, and the status board keeps every
    // check's steps as text, where 17 digits a step were ~5 MB at 10,000 monitors.
    const seconds = Math.round(Math.max(0, this.#clock.monotonic() - this.#running.startedAt) * 1000) / 1e6;
    this.#steps.push({ step: this.#running.step, seconds });
    this.#running = undefined;
  }

  get stage(): Stage {
    return this.#stage;
  }

  get steps(): StepTiming[] {
    return [...this.#steps];
  }
}

export interface Watchdog {
  /** Traffic was seen: the current wait starts over. */
  kick(): void;
}

export interface WatchdogOptions {
  stepTimeoutMs: number;
  signal: AbortSignal;
  recorder: StepRecorder;
  /** Tears the connection down; the library's own pending promises then settle on their own. */
  onTrip: () => void;
}

/**
 * Runs a session driven by a library whose waits we cannot bound one by one (imapflow,
 * nodemailer): no traffic for stepTimeoutMs, or the runner's abort, ends it with `timeout` at the
 * step in progress. The session's own late rejection after a trip is swallowed.
 */
export async function withWatchdog<T>(options: WatchdogOptions, body: (watchdog: Watchdog) => Promise<T>): Promise<T> {
  const { stepTimeoutMs, signal, recorder, onTrip } = options;
  let timer: NodeJS.Timeout | undefined;
  let trip: (error: ProbeError) => void = () => undefined;
  const tripped = new Promise<never>((_resolve, reject) => {
    let done = false;
    trip = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      onTrip();
      reject(error);
    };
  });
  const onAbort = (): void => trip(deadlineError(recorder.stage));
  const kick = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => trip(stepTimeoutError(recorder.stage, stepTimeoutMs)), stepTimeoutMs);
  };
  if (signal.aborted) throw deadlineError(recorder.stage);
  signal.addEventListener('abort', onAbort, { once: true });
  kick();
  const session = body({ kick });
  session.catch(() => undefined);
  try {
    return await Promise.race([session, tripped]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

export function stepTimeoutError(stage: Stage, stepTimeoutMs: number): ProbeError {
  return new ProbeError('timeout', `no answer within ${stepTimeoutMs} ms during ${stage}`, { stage });
}

export function deadlineError(stage: Stage): ProbeError {
  return new ProbeError('timeout', `check deadline reached during ${stage}`, { stage });
}

/** The transcript of a scheduled check nobody reads: probes skip masking and formatting lines for it. */
export const SILENT_TRANSCRIPT: Transcript = Object.freeze({ client: () => undefined, server: () => undefined, note: () => undefined });

/** What a probe body works with; runProbe owns it and turns it into the outcome. */
export interface ProbeRun {
  recorder: StepRecorder;
  /** The protocol being spoken; a probe that speaks two (roundtrip) moves it on, and a failure carries it. */
  protocol: Protocol;
  /** Filled as the probe measures, so a failure still reports what was measured before it. */
  measured: Measurements;
  /** For people to read; filled as the probe learns things, so a failure still reports what was known before it. */
  facts: Record<string, FactValue>;
  /** ctx.transcript with the credential masked. */
  transcript: Transcript;
}

/**
 * The boundary every probe goes through: whatever the body throws becomes a failure with the
 * stage in progress, and nothing that leaves carries the credential.
 */
export async function runProbe(
  ctx: ProbeContext,
  protocol: Protocol,
  maskClientLine: (line: string) => string,
  body: (run: ProbeRun) => Promise<void>,
): Promise<ProbeOutcome> {
  const recorder = new StepRecorder(ctx.clock);
  const facts: Record<string, FactValue> = {};
  const measured: Measurements = {};
  let mask: CredentialMask | undefined;
  let run: ProbeRun | undefined;
  try {
    mask = new CredentialMask(ctx.mailbox, ctx.accessToken);
    const transcript = ctx.transcript === SILENT_TRANSCRIPT ? SILENT_TRANSCRIPT : mask.transcript(ctx.transcript, maskClientLine);
    run = { recorder, protocol, measured, facts, transcript };
    await body(run);
    recorder.end();
    return { ok: true, steps: recorder.steps, measured, facts };
  } catch (err) {
    recorder.end();
    const failure = toFailure(err, recorder.stage, run?.protocol ?? protocol);
    // No mask means the credential itself was unusable; then no text from the attempt leaves.
    failure.message = mask ? mask.text(failure.message) : 'the access token could not be used';
    if (failure.serverText !== undefined) failure.serverText = mask ? mask.text(failure.serverText) : '';
    return { ok: false, steps: recorder.steps, measured, facts, failure };
  }
}

/** Resolves after `ms`, or at once when the check is aborted (the session's watchdog then reports the deadline). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
