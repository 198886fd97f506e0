import { localTime, pad, previousMonth, zonedTime } from '../history/calendar.js';

export interface SummarySchedule {
  /** Day of the month, 1–28. */
  day: number;
  /** Local "HH:MM". */
  at: string;
  timeZone: string;
}

/**
 * The latest summary due at or before `now`: the month it reports on and the instant it was due (the day and
 * time in the zone, of the month it is sent in). Only the latest counts: an agent down for two whole months sends
 * the last month, not a backlog.
 */
export function latestDue(now: number, schedule: SummarySchedule): { period: string; dueAt: number } {
  const [hour, minute] = schedule.at.split(':').map(Number) as [number, number];
  const t = localTime(now, schedule.timeZone);
  const thisMonth = zonedTime(t.year, t.month, schedule.day, hour, minute, schedule.timeZone);
  if (now >= thisMonth) return { period: previousMonth(now, schedule.timeZone), dueAt: thisMonth };
  const [year, month] = t.month === 1 ? [t.year - 1, 12] : [t.year, t.month - 1];
  const dueAt = zonedTime(year, month, schedule.day, hour, minute, schedule.timeZone);
  return { period: month === 1 ? `${year - 1}-12` : `${year}-${pad(month - 1)}`, dueAt };
}
