import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addLocalDays, DAY_MS, HOUR_MS, startOfLocalDay } from '../../src/history/calendar.js';
import { CheckRangeSums, readPlan } from '../../src/history/range-sums.js';

// Hourly rows with distinct times, daily rows their sums (as the recorder writes both from the same spans).
function rollups(from: number, to: number): { sums: CheckRangeSums; hourly: Map<number, { okMs: number; failMs: number }> } {
  const sums = new CheckRangeSums();
  const hourly = new Map<number, { okMs: number; failMs: number }>();
  const daily = new Map<number, { okMs: number; failMs: number }>();
  for (let hour = Math.floor(from / HOUR_MS) * HOUR_MS, i = 0; hour < to; hour += HOUR_MS, i++) {
    const row = { okMs: 3_000_000 + ((i * 7919) % 600_000), failMs: (i * 104_729) % 5_000 };
    hourly.set(hour, row);
    sums.addHour(hour, row);
    const day = Math.floor(hour / DAY_MS) * DAY_MS;
    const into = daily.get(day) ?? { okMs: 0, failMs: 0 };
    into.okMs += row.okMs;
    into.failMs += row.failMs;
    daily.set(day, into);
  }
  for (const [day, row] of daily) sums.addDay(day, row);
  return { sums, hourly };
}

function byTheHour(hourly: ReadonlyMap<number, { okMs: number; failMs: number }>, from: number, to: number): { okMs: number; failMs: number } {
  const total = { okMs: 0, failMs: 0 };
  for (let hour = Math.ceil(from / HOUR_MS) * HOUR_MS; hour < to; hour += HOUR_MS) {
    total.okMs += hourly.get(hour)?.okMs ?? 0;
    total.failMs += hourly.get(hour)?.failMs ?? 0;
  }
  return total;
}

// Berlin and New York change their clocks among these days; Kolkata is off UTC by half an hour.
for (const timeZone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
  test(`range sums: 90 local days in ${timeZone} and three availability windows equal their hours summed one by one`, () => {
    const now = Date.UTC(2030, 3, 20, 15, 20);
    const today = startOfLocalDay(now, timeZone);
    const first = addLocalDays(today, -89, timeZone);
    const { sums, hourly } = rollups(first - 2 * DAY_MS, now + HOUR_MS);
    const days = Array.from({ length: 90 }, (_, i) => addLocalDays(first, i, timeZone));
    const ranges = days.map((from, i) => ({ from, to: Math.min(days[i + 1] ?? addLocalDays(from, 1, timeZone), now + 1) }));
    const windows = [DAY_MS, 7 * DAY_MS, 30 * DAY_MS].map((length) => ({ from: Math.ceil((now - length) / HOUR_MS) * HOUR_MS, to: now + 1 }));
    for (const range of [...ranges, ...windows]) assert.deepEqual(sums.sum(range), byTheHour(hourly, range.from, range.to), new Date(range.from).toISOString());
    // Off UTC, a local day is its nearest UTC day and the hours between (at most 12 at each end), not 24 hourly rows.
    const plan = readPlan(ranges);
    const hoursRead = plan.hours.reduce((total, part) => total + (part.to - part.from) / HOUR_MS, 0);
    assert.ok(hoursRead < (90 * 24) / 4, `${hoursRead} hours read for 90 local days`);
  });
}
