import type { Protocol } from '../core/check.js';
import type { Clock } from '../core/clock.js';
import type { Endpoint } from '../core/endpoint.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { Secret } from '../core/secret.js';
import type { MailboxGate } from './graph-client.js';
import type { ProbeMailPolicy } from './probe-mail.js';

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
  /** What the sending checks may delete; the runner sets it for them. Absent (a probe run by hand): the probe's own default. */
  probeMail?: ProbeMailPolicy;
  /**
   * Microsoft Graph for the graph checks: its endpoint (the tenant's proxy setting in it), the agent's one gate on
   * requests per mailbox, and the environment whose HTTPS_PROXY/NO_PROXY decide when no proxy is configured.
   */
  graph?: { endpoint: Endpoint; gate: MailboxGate; env?: NodeJS.ProcessEnv };
}

/** Every check has this shape; probes never throw across it. */
export type ProbeFn = (ctx: ProbeContext) => Promise<ProbeOutcome>;
