import type { ReasonCode } from './reasons.js';

export interface Diagnosis {
  reason: ReasonCode;
  /** One line an on-call person reads first. */
  summary: string;
  /** Remaining possible causes, most likely first, when the server's answer is generic. */
  candidates: string[];
  /** Commands or portal steps with the monitor's real values filled in. */
  fixes: string[];
}
