// Calendar arithmetic in an IANA time zone with Intl alone: reports are read by people who think in local
// months and days, while everything stored is UTC epoch milliseconds.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface LocalTime {
  year: number;
  /** 1–12. */
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function formatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (!found) {
    found = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, found);
  }
  return found;
}

/** Whether Intl knows the zone (config validation). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

// Intl's formatToParts takes ~8 µs an instant: the text of a report with 70,000 incidents formatted 140,000 of
// them in ~1.2 s of its 3 s (npm run bench:fleet's data). A zone's offset is read once an hour, and kept for the
// instants of that hour when it is the same at the hour's start and end; an hour with a change in it, and an
// instant before 1900, are read from Intl one by one.
const FAST_FROM = Date.UTC(1900, 0, 1);
const HOURS_KEPT = 100_000;
const hourOffsets = new Map<string, Map<number, number | null>>();

export function localTime(ms: number, timeZone: string): LocalTime {
  const offset = ms >= FAST_FROM ? hourOffset(Math.floor(ms / HOUR_MS), timeZone) : null;
  if (offset === null) {
    const parts = partsAt(ms, timeZone);
    return {
      year: Number(parts.year),
      month: Number(parts.month),
      day: Number(parts.day),
      hour: Number(parts.hour),
      minute: Number(parts.minute),
      weekday: WEEKDAYS.indexOf(parts.weekday ?? 'Sun'),
    };
  }
  const wall = new Date(ms + offset);
  return {
    year: wall.getUTCFullYear(),
    month: wall.getUTCMonth() + 1,
    day: wall.getUTCDate(),
    hour: wall.getUTCHours(),
    minute: wall.getUTCMinutes(),
    weekday: wall.getUTCDay(),
  };
}

function partsAt(ms: number, timeZone: string): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) parts[part.type] = part.value;
  return parts;
}

/** The zone's offset through the whole UTC hour, or null when it changes in it. */
function hourOffset(hour: number, timeZone: string): number | null {
  let zone = hourOffsets.get(timeZone);
  if (!zone) hourOffsets.set(timeZone, (zone = new Map<number, number | null>()));
  let offset = zone.get(hour);
  if (offset === undefined) {
    const start = hour * HOUR_MS;
    const first = wallOffset(start, timeZone);
    offset = first === wallOffset(start + HOUR_MS, timeZone) ? first : null;
    // Bounded for an agent that lives for years: ~11 years of hours a zone, then read anew.
    if (zone.size >= HOURS_KEPT) zone.clear();
    zone.set(hour, offset);
  }
  return offset;
}

/** Wall-clock time minus UTC at a whole second, to the second (old zones' offsets have seconds). */
function wallOffset(ms: number, timeZone: string): number {
  const p = partsAt(ms, timeZone);
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) - ms;
}

/** Offset of the zone from UTC at an instant, in milliseconds (Berlin in winter: +3,600,000). */
function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / 60_000) * 60_000;
  const t = localTime(whole, timeZone);
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute) - whole;
}

/**
 * The instant a local wall-clock time happens. A time skipped by a DST change maps to the instant after the
 * gap; a repeated one to its first occurrence.
 */
export function zonedTime(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let guess = wall - offsetAt(wall, timeZone);
  // Two rounds settle every real zone: the offset at the first guess may differ from the one at the answer.
  guess = wall - offsetAt(guess, timeZone);
  const again = wall - offsetAt(guess, timeZone);
  return Math.min(guess, again);
}

export function startOfLocalDay(ms: number, timeZone: string): number {
  const t = localTime(ms, timeZone);
  return zonedTime(t.year, t.month, t.day, 0, 0, timeZone);
}

/** Start of the local day `days` after the one containing `dayStart` (negative goes back). */
export function addLocalDays(dayStart: number, days: number, timeZone: string): number {
  const t = localTime(dayStart, timeZone);
  const next = new Date(Date.UTC(t.year, t.month - 1, t.day + days));
  return zonedTime(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0, timeZone);
}

export function localDayKey(ms: number, timeZone: string): string {
  const t = localTime(ms, timeZone);
  return `${t.year}-${pad(t.month)}-${pad(t.day)}`;
}

/** [from, to) of a calendar month ("2026-11") in the zone. */
export function monthRange(period: string, timeZone: string): { from: number; to: number } {
  const match = /^(\d{4})-(\d{2})$/.exec(period);
  const month = Number(match?.[2]);
  if (!match || month < 1 || month > 12) throw new RangeError(`"${period}" is not a month such as 2026-11`);
  const year = Number(match[1]);
  return { from: zonedTime(year, month, 1, 0, 0, timeZone), to: zonedTime(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1, 0, 0, timeZone) };
}

/** The month before the one containing `ms`, as "YYYY-MM", in the zone. */
export function previousMonth(ms: number, timeZone: string): string {
  const t = localTime(ms, timeZone);
  return t.month === 1 ? `${t.year - 1}-12` : `${t.year}-${pad(t.month - 1)}`;
}

/** Parses "2026-11-03" (local midnight) or "2026-11-03T22:30" (local) or an ISO instant with offset/Z. */
export function parseLocal(text: string, timeZone: string): number {
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?$/.exec(text);
  if (local) return zonedTime(Number(local[1]), Number(local[2]), Number(local[3]), Number(local[4] ?? 0), Number(local[5] ?? 0), timeZone);
  if (/(Z|[+-]\d{2}:?\d{2})$/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new RangeError(`"${text}" is not a date (2026-11-03), a local time (2026-11-03T22:30) or an instant with a zone (…Z)`);
}

export function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** "2026-11-03 22:30" in the zone, for people. */
export function formatLocal(ms: number, timeZone: string): string {
  const t = localTime(ms, timeZone);
  return `${t.year}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:${pad(t.minute)}`;
}
