import type { FactValue, ProbeOutcome } from '../core/outcome.js';
import type { Diagnosis } from '../core/result.js';

/** Masks secrets in a text: registered values and secret shapes (tokens, assertions, XOAUTH2 strings). */
export type Mask = (text: string) => string;

// Every text a result carries comes from somewhere we do not control (a server's reply, a login service's error
// echoing the request, a library's message). Masking here, before the result is handed on, means no consumer
// (status API, alert state, notifiers, history) has to remember to.
export function maskOutcome(outcome: ProbeOutcome, mask: Mask): ProbeOutcome {
  const facts: Record<string, FactValue> = {};
  for (const [key, value] of Object.entries(outcome.facts)) facts[key] = typeof value === 'string' ? mask(value) : value;
  const { failure } = outcome;
  if (!failure) return { ...outcome, facts };
  return {
    ...outcome,
    facts,
    failure: {
      ...failure,
      message: mask(failure.message),
      ...(failure.serverText !== undefined ? { serverText: mask(failure.serverText) } : {}),
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
