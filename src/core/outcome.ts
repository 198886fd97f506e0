import type { Protocol, Stage } from './check.js';
import type { ReasonCode } from './reasons.js';

export interface StepTiming {
  step: Stage;
  seconds: number;
}

export interface ProbeFailure {
  stage: Stage;
  /** The protocol the probe was speaking when it failed; absent before any mail server was contacted (config, token, role). */
  protocol?: Protocol;
  reason: ReasonCode;
  /** The server's own words (last reply line(s)), redacted; absent when the server said nothing. */
  serverText?: string;
  /** What went wrong in our words, for transcripts and logs. Never contains secrets. */
  message: string;
}

export type FactValue = string | number | boolean;

/** What the cleanup of probe mail came to: some deleted, none found, or it failed. */
export type CleanupOutcome = 'deleted' | 'not_found' | 'failed';

/**
 * What a probe measured that other folders read (metrics, history, the runner, doctor's checklist): typed fields,
 * so no consumer looks a value up by name in the free-form facts. Each is absent when the probe did not get there.
 */
export interface Measurements {
  /** From the start of the send to the server's acceptance of the message. */
  sendSeconds?: number;
  /** From the server's acceptance to the message being seen in the INBOX, to within one poll. */
  deliverySeconds?: number;
  /** The folders an IMAP LIST returned. */
  folderCount?: number;
  /** The messages the mailbox listing counted (POP3 STAT, a Graph list). */
  messageCount?: number;
  /** This monitor's probe messages the cleanup found and left (too young to sweep, or not deletable). */
  probeMailLeft?: number;
  /** What the cleanup of probe mail came to; absent when none ran. */
  cleanup?: CleanupOutcome;
}

export interface ProbeOutcome {
  ok: boolean;
  steps: StepTiming[];
  failure?: ProbeFailure;
  measured: Measurements;
  /** Small, bounded observations for people to read (probeId, messageId, cleanedUp …); no code reads them by name. */
  facts: Record<string, FactValue>;
}

/** The facts and the measurements as one record, for display only (the CLI's PASS line, the status entry). */
export function displayFacts(outcome: Pick<ProbeOutcome, 'facts' | 'measured'>): Record<string, FactValue> {
  const shown: Record<string, FactValue> = { ...outcome.facts };
  for (const [key, value] of Object.entries(outcome.measured)) if (value !== undefined) shown[key] = value as FactValue;
  return shown;
}
