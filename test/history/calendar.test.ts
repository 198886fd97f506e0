import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLocal, localTime, type LocalTime } from '../../src/history/calendar.js';

// What Intl itself says, instant by instant: the reference the hour-by-hour offsets must agree with.
const formats = new Map<string, Intl.DateTimeFormat>();
function intlTime(ms: number, timeZone: string): LocalTime {
  const parts: Record<string, string> = {};
  const format =
    formats.get(timeZone) ??
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
  formats.set(timeZone, format);
  for (const part of format.formatToParts(ms)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday ?? ''),
  };
}

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Asia/Kolkata', // +5:30
  'Asia/Kathmandu', // +5:45
  'America/St_Johns', // -3:30, changes at 02:00 local
  'Australia/Lord_Howe', // a change of 30 minutes, at 02:00 local
  'Pacific/Chatham', // +12:45 / +13:45
  'Europe/Amsterdam', // +0:19:32 before 1937
];

test('local times read through an offset an hour equal Intl’s, across clock changes in odd zones', () => {
  // Every 7 min 13 s over two windows of 40 days around 2030's changes (both hemispheres), plus 1930's Amsterdam
  // (an offset with seconds) and instants before 1900 (Intl alone).
  const starts = [Date.UTC(2030, 2, 1), Date.UTC(2030, 8, 10), Date.UTC(1930, 4, 1), Date.UTC(1890, 0, 1)];
  let compared = 0;
  for (const timeZone of ZONES)
    for (const start of starts)
      for (let ms = start; ms < start + 40 * 86_400_000; ms += 617_000) {
        assert.deepEqual(localTime(ms, timeZone), intlTime(ms, timeZone), `${timeZone} at ${new Date(ms).toISOString()}`);
        compared += 1;
      }
  assert.ok(compared > 180_000);
  // The instants on each side of Berlin's change of 2030-03-31 (01:00 UTC), to the millisecond.
  assert.equal(formatLocal(Date.UTC(2030, 2, 31, 0, 59, 59, 999), 'Europe/Berlin'), '2030-03-31 01:59');
  assert.equal(formatLocal(Date.UTC(2030, 2, 31, 1), 'Europe/Berlin'), '2030-03-31 03:00');
});
