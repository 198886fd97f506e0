import type { FactValue, ProbeOutcome } from '../core/outcome.js';
import type { Diagnosis } from '../core/result.js';
import { truncate } from '../core/text.js';

/** Masks secrets in a text: registered values and secret shapes (tokens, assertions, XOAUTH2 strings). */
export type Mask = (text: string) => string;

/**
 * The server's own words kept in a result: enough for every Exchange and Entra text in the catalogue (the
 * longest is under 600 characters). A tagged IMAP NO once reached 320,039 characters, and each failure wrote
 * it to the history, the log, the alert state and every webhook.
 */
export const SERVER_TEXT_MAX = 2048;
/** Our own words about a failure: one line of a log or a chat message. */
export const MESSAGE_MAX = 300;

// Every text a result carries comes from somewhere we do not control (a server's reply, a login service's error
// echoing the request, a library's message). Masking and bounding here, before the result is handed on, means no
// consumer (status API, alert state, notifiers, history) has to remember to. Masked first, then cut, so a cut
// never leaves part of a secret the mask would have recognised whole.
export function maskOutcome(outcome: ProbeOutcome, mask: Mask): ProbeOutcome {
  const facts: Record<string, FactValue> = {};
  for (const [key, value] of Object.entries(outcome.facts)) facts[key] = typeof value === 'string' ? truncate(mask(value), SERVER_TEXT_MAX) : value;
  const { failure } = outcome;
  if (!failure) return { ...outcome, facts };
  return {
    ...outcome,
    facts,
    failure: {
      ...failure,
      message: truncate(mask(failure.message), MESSAGE_MAX),
      ...(failure.serverText !== undefined ? { serverText: truncate(mask(failure.serverText), SERVER_TEXT_MAX) } : {}),
    },
  };
}

export function maskDiagnosis(diagnosis: Diagnosis, mask: Mask): Diagnosis {
  return {
    ...diagnosis,
    summary: mask(diagnosis.summary),
    candidates: diagnosis.candidates.map(mask),
    fixes: diagnosis.fixes.map(mask),
  };
}
