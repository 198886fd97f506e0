import type { CheckKind } from '../core/check.js';
import { addLocalDays, localTime, parseLocal, startOfLocalDay, zonedTime } from './calendar.js';

export const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAY_NAMES)[number];

/** A maintenance window as configured (see src/config/history.ts for the documented fields). */
export interface MaintenanceWindow {
  name: string;
  /** Whom it applies to; all absent = every check. */
  monitors?: readonly string[];
  tenants?: readonly string[];
  checks?: readonly CheckKind[];
  timeZone: string;
  /** One-off: local times or instants. */
  start?: string;
  end?: string;
  /** Recurring: local start time on the given weekdays (every day when absent). */
  recurring?: { at: string; durationMinutes: number; days?: readonly Weekday[] };
}

export interface Interval {
  from: number;
  to: number;
}

export function appliesTo(window: MaintenanceWindow, check: { monitor: string; tenant: string; check: CheckKind }): boolean {
  if (window.monitors && !window.monitors.includes(check.monitor)) return false;
  if (window.tenants && !window.tenants.includes(check.tenant)) return false;
  return !window.checks || window.checks.includes(check.check);
}

// Expanding a recurring window costs several Intl calls a day, and a report asks the same window over the same
// range for each of its checks: 2,000 checks x a month of a weekly window spent 25 s in Intl (npm run
// bench:fleet). The expansion is kept per window object (the policy's, alive as long as it is) and range.
const expanded = new WeakMap<MaintenanceWindow, Map<string, readonly Interval[]>>();
const RANGES_PER_WINDOW = 1000;

/** The window's occurrences overlapping [from, to), clipped to it. */
export function occurrences(window: MaintenanceWindow, from: number, to: number): readonly Interval[] {
  let byRange = expanded.get(window);
  if (!byRange) expanded.set(window, (byRange = new Map<string, readonly Interval[]>()));
  const key = `${from}:${to}`;
  let found = byRange.get(key);
  if (!found) {
    if (byRange.size >= RANGES_PER_WINDOW) byRange.clear();
    found = expand(window, from, to);
    byRange.set(key, found);
  }
  return found;
}

function expand(window: MaintenanceWindow, from: number, to: number): Interval[] {
  if (window.start !== undefined && window.end !== undefined) {
    return clipIntervals([{ from: parseLocal(window.start, window.timeZone), to: parseLocal(window.end, window.timeZone) }], from, to);
  }
  const recurring = window.recurring;
  if (!recurring) return [];
  const [hour = 0, minute = 0] = recurring.at.split(':').map(Number);
  const durationMs = recurring.durationMinutes * 60_000;
  const found: Interval[] = [];
  // Start a day early: yesterday's window may reach into the range.
  for (let day = addLocalDays(startOfLocalDay(from, window.timeZone), -1, window.timeZone); day < to; day = addLocalDays(day, 1, window.timeZone)) {
    const local = localTime(day, window.timeZone);
    if (recurring.days && !recurring.days.includes(WEEKDAY_NAMES[local.weekday] ?? 'sun')) continue;
    const start = zonedTime(local.year, local.month, local.day, hour, minute, window.timeZone);
    found.push({ from: start, to: start + durationMs });
  }
  return clipIntervals(found, from, to);
}

/** The parts of the intervals inside [from, to); those wholly outside are left out. */
export function clipIntervals(intervals: readonly Interval[], from: number, to: number): Interval[] {
  return intervals.flatMap((interval) => {
    const start = Math.max(interval.from, from);
    const end = Math.min(interval.to, to);
    return end > start ? [{ from: start, to: end }] : [];
  });
}

/** Sorted, overlapping or touching intervals joined. */
export function union(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.from - b.from);
  const merged: Interval[] = [];
  for (const interval of sorted) {
    const last = merged[merged.length - 1];
    if (last && interval.from <= last.to) last.to = Math.max(last.to, interval.to);
    else merged.push({ ...interval });
  }
  return merged;
}

export function totalLength(intervals: readonly Interval[]): number {
  return intervals.reduce((sum, interval) => sum + (interval.to - interval.from), 0);
}

/** [from, to) minus the given (sorted, disjoint) intervals. */
export function complement(intervals: readonly Interval[], from: number, to: number): Interval[] {
  const gaps: Interval[] = [];
  let cursor = from;
  for (const interval of intervals) {
    if (interval.to <= cursor) continue;
    if (interval.from >= to) break;
    if (interval.from > cursor) gaps.push({ from: cursor, to: interval.from });
    cursor = Math.max(cursor, interval.to);
  }
  if (cursor < to) gaps.push({ from: cursor, to });
  return gaps;
}
