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

export interface ProbeOutcome {
  ok: boolean;
  steps: StepTiming[];
  failure?: ProbeFailure;
  /** Small, bounded observations: folderCount, messageCount, probeId, capabilities … */
  facts: Record<string, FactValue>;
}
