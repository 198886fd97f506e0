import type { Redactor } from '../log/redact.js';
import type { Transcript } from '../probes/types.js';
import type { CheckResult } from '../core/result.js';
import { displayFacts } from '../core/outcome.js';
import { cutLine, terminalLine } from './terminal.js';
import { authorisedInExchange } from '../diagnose/checklist.js';

/** Transcript lines as the admin's own openssl session would show them, masked on the way out. */
export function streamingTranscript(stream: NodeJS.WritableStream, redactor: Redactor, indent = '    ', limit = MAX_STREAMED_LINES): Transcript {
  let written = 0;
  const write = (prefix: string, line: string): void => {
    written += 1;
    if (written > limit + 1) return;
    const text = written > limit ? `further lines of this check are not shown (more than ${limit})` : terminalLine(redactor.redact(line).replace(/\r?\n$/, ''));
    stream.write(`${indent}${written > limit ? '# ' : prefix}${text}\n`);
  };
  return {
    client: (line) => write('C: ', line),
    server: (line) => write('S: ', line),
    note: (line) => write('# ', line),
  };
}

/** A server that never stops talking would scroll the operator's terminal forever. */
const MAX_STREAMED_LINES = 2000;

/** Keeps the lines for JSON output; the same masking applies. */
export function collectingTranscript(redactor: Redactor, limit = 400): Transcript & { lines: string[] } {
  const lines: string[] = [];
  const push = (prefix: string, line: string): void => {
    // JSON escapes control characters itself; only the length needs a bound.
    if (lines.length < limit) lines.push(`${prefix}${cutLine(redactor.redact(line).replace(/\r?\n$/, ''))}`);
  };
  return {
    lines,
    client: (line) => push('C: ', line),
    server: (line) => push('S: ', line),
    note: (line) => push('# ', line),
  };
}

export function formatResult(result: CheckResult): string {
  const timings = result.outcome.steps.map((step) => `${step.step} ${step.seconds.toFixed(3)}s`).join(', ');
  const lines: string[] = [];
  if (result.outcome.ok) {
    const facts = Object.entries(displayFacts(result.outcome))
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ');
    lines.push(`  PASS ${result.check} in ${result.durationSeconds.toFixed(2)} s (${timings})${facts ? `  ${facts}` : ''}`);
    const granted = result.authorisation?.exchangeGranted ?? [];
    if (granted.length > 0) lines.push(`    ${authorisedInExchange(granted)}`);
    return lines.join('\n');
  }
  const failure = result.outcome.failure;
  const diagnosis = result.diagnosis;
  lines.push(`  FAIL ${result.check} at ${failure?.stage ?? '?'}: ${result.reason ?? '?'} (${result.durationSeconds.toFixed(2)} s)`);
  if (failure?.serverText) lines.push(`    server said: ${failure.serverText}`);
  const detail = failure?.message === undefined ? undefined : detailBesides(failure.message, failure.serverText);
  if (detail) lines.push(`    detail: ${detail}`);
  if (diagnosis) {
    lines.push(`    why: ${diagnosis.summary}`);
    if (diagnosis.candidates.length > 0) {
      lines.push('    possible causes, most likely first:');
      diagnosis.candidates.forEach((candidate, i) => lines.push(`      ${i + 1}. ${candidate}`));
    }
    if (diagnosis.fixes.length > 0) {
      lines.push('    fix:');
      for (const fix of diagnosis.fixes) lines.push(`      ${fix}`);
    }
  }
  if (result.retryAfterSeconds !== undefined) lines.push(`    retry after: ${result.retryAfterSeconds} s`);
  if (timings) lines.push(`    timings: ${timings}`);
  return lines.join('\n');
}

/** A failure's message without the server's words it quotes, which are printed once on their own line. */
export function detailBesides(message: string, serverText: string | undefined): string | undefined {
  const rest =
    serverText && message.includes(serverText)
      ? message
          .replace(serverText, '')
          .replace(/[\s:;,]+$/, '')
          .trim()
      : message;
  return rest === '' ? undefined : rest;
}

/**
 * A result as `check --json` prints it: instants as ISO 8601 like every other output, seconds to the millisecond,
 * and the measurements among the facts, as this output has always shown them.
 */
export function checkJson(result: CheckResult & { transcript?: string[] }): unknown {
  const { measured: _measured, ...outcome } = result.outcome;
  return {
    ...result,
    startedAt: new Date(result.startedAt).toISOString(),
    durationSeconds: milliseconds(result.durationSeconds),
    outcome: { ...outcome, steps: outcome.steps.map((step) => ({ ...step, seconds: milliseconds(step.seconds) })), facts: displayFacts(result.outcome) },
  };
}

function milliseconds(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
