import type { Secret } from '../auth/secret.js';
import type { ReasonCode } from '../diagnose/reasons.js';

export const CHECK_KINDS = ['imap', 'smtp', 'pop3', 'roundtrip'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

// Stages double as step names in timings, so one label set serves results, logs and metrics.
export const STAGES = [
  'config',
  'token',
  'role',
  'connect',
  'tls',
  'greeting',
  'capability',
  'starttls',
  'auth',
  'list',
  'stat',
  'send',
  'delivery',
  'cleanup',
  'logout',
] as const;
export type Stage = (typeof STAGES)[number];

export const PROTOCOLS = ['imap', 'smtp', 'pop3'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface TlsSettings {
  /** Extra trusted CA certificates (PEM), added to Node's default store. */
  ca?: string[];
  /** false only when the operator explicitly chose it; the config loader warns. */
  rejectUnauthorized: boolean;
}

export interface Endpoint {
  host: string;
  port: number;
  tls: TlsSettings;
}

export interface StepTiming {
  step: Stage;
  seconds: number;
}

export interface ProbeFailure {
  stage: Stage;
  reason: ReasonCode;
  /** The server's own words (last reply line(s)), redacted; absent when the server said nothing. */
  serverText?: string;
  /** What went wrong in our words, for transcripts and logs. Never contains secrets. */
  message: string;
}

export type FactValue = string | number | boolean;

export interface ProbeOutcome {
  ok: boolean;
  steps: StepTiming[];
  failure?: ProbeFailure;
  /** Small, bounded observations: folderCount, messageCount, probeId, capabilities … */
  facts: Record<string, FactValue>;
}

export interface Clock {
  /** Wall time, epoch milliseconds. */
  now(): number;
  /** Monotonic milliseconds for durations. */
  monotonic(): number;
}

export interface Transcript {
  client(line: string): void;
  server(line: string): void;
  note(line: string): void;
}

export interface ProbeContext {
  monitor: string;
  mailbox: string;
  endpoints: Record<Protocol, Endpoint>;
  accessToken: Secret;
  /** Aborted by the runner when the check's deadline passes; probes stop and close sockets. */
  signal: AbortSignal;
  /** Upper bound for a single network step (connect, one command/reply). */
  stepTimeoutMs: number;
  clock: Clock;
  transcript: Transcript;
  /** A fresh probe id for a message this check sends; the runner records ids it issued. */
  newProbeId(): string;
}

/** Every check has this shape; probes never throw across it. */
export type ProbeFn = (ctx: ProbeContext) => Promise<ProbeOutcome>;
