import { PLAIN_WORDS } from '../../diagnose/plain-words.js';
import { isReasonCode } from '../../core/reasons.js';
import type { CheckKind } from '../../core/check.js';
import { byCheck, CHECK } from '../../core/checks.js';
import type { CheckState } from './model.js';

export const CHECK_LABELS: Record<CheckKind, string> = byCheck((check) => CHECK[check].label);

export const STATE_LABELS: Record<CheckState, string> = { ok: 'Operational', fail: 'Failing', unknown: 'No data yet' };

/** The public words for a failure; an unknown code (an older store row) still gets a sentence, never the code. */
export function plainReason(reason: string | undefined): string {
  if (reason === undefined || !isReasonCode(reason)) return 'The check failed.';
  return PLAIN_WORDS[reason];
}

/** "3 min", "2 h 5 min", "4 d 3 h": coarse enough to read at a glance. */
export function duration(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 1) return 'under a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** "2026-12-01 15:02 UTC": one zone for everyone who reads a public page. */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "15:02 UTC" when that is today (UTC), else the full utc() form. */
export function utcSince(ms: number, now: number): string {
  const full = utc(ms);
  return full.slice(0, 10) === utc(now).slice(0, 10) ? full.slice(11) : full;
}

export function percent(value: number | null): string {
  if (value === null) return '–';
  if (value >= 1) return '100%';
  // Never round a failure up to 100%: 99.9996% shows as 99.999%.
  const digits = value >= 0.99 ? 3 : 2;
  const factor = 10 ** (digits + 2);
  return `${(Math.floor(value * factor) / 10 ** digits).toFixed(digits).replace(/\.?0+$/, '')}%`;
}
