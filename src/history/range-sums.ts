import { DAY_MS, HOUR_MS } from './calendar.js';
import { union, type Interval } from './maintenance.js';

// OK and FAIL time of many ranges of one check (90 daily bars and four availability windows) from the rollups:
// a range is read as the UTC days nearest its ends from their daily rows, corrected by the hours between those
// days and the range's ends from hourly rows (added before and after, taken away inside). A status page of 100
// checks in UTC then reads ~9,000 daily rows and a few thousand hourly ones instead of 216,000 hourly rows; in
// Europe/Berlin a local day is its UTC day less one hour and plus another, not 24 hourly rows (a page in a zone
// off UTC read every hour of 90 days: ~700 ms for 100 checks).

export interface TimeSums {
  okMs: number;
  failMs: number;
}

/** A range [from, to) as UTC days, the hour buckets to add (starting in [from, to), outside the days) and those to take away. */
interface RangeParts {
  days?: Interval;
  hours: Interval[];
  less: Interval[];
}

function partsOf(range: Interval): RangeParts {
  const first = Math.ceil(range.from / HOUR_MS) * HOUR_MS;
  if (first >= range.to) return { hours: [], less: [] };
  // The last bucket in the range is the one `to` falls in (a range ends at now, inside an hour).
  const end = Math.ceil(range.to / HOUR_MS) * HOUR_MS;
  const firstDay = Math.round(first / DAY_MS) * DAY_MS;
  const lastDay = Math.round(end / DAY_MS) * DAY_MS;
  if (lastDay <= firstDay) return { hours: [{ from: first, to: range.to }], less: [] };
  const some = (parts: Interval[]): Interval[] => parts.filter((part) => part.to > part.from);
  return {
    days: { from: firstDay, to: lastDay },
    hours: some([
      { from: first, to: firstDay },
      { from: lastDay, to: end },
    ]),
    less: some([
      { from: firstDay, to: first },
      { from: end, to: lastDay },
    ]),
  };
}

/** What to read for a set of ranges: one span of daily buckets, and the merged hour spans. */
export function readPlan(ranges: readonly Interval[]): { days?: Interval; hours: Interval[] } {
  const parts = ranges.map(partsOf);
  const days = parts.flatMap((part) => (part.days ? [part.days] : []));
  const hours = union(parts.flatMap((part) => [...part.hours, ...part.less]));
  if (days.length === 0) return { hours };
  return { days: { from: Math.min(...days.map((day) => day.from)), to: Math.max(...days.map((day) => day.to)) }, hours };
}

/** The rollup rows of one check, by bucket start; a bucket without a row had no time. */
export class CheckRangeSums {
  readonly #days = new Map<number, TimeSums>();
  readonly #hours = new Map<number, TimeSums>();

  addDay(bucket: number, sums: TimeSums): void {
    this.#days.set(bucket, sums);
  }

  addHour(bucket: number, sums: TimeSums): void {
    this.#hours.set(bucket, sums);
  }

  /** OK and FAIL time of the hour buckets starting in [from, to); the ranges read must be in the plan. */
  sum(range: Interval): TimeSums {
    const total = { okMs: 0, failMs: 0 };
    const add = (found: TimeSums | undefined, sign = 1): void => {
      if (!found) return;
      total.okMs += sign * found.okMs;
      total.failMs += sign * found.failMs;
    };
    const parts = partsOf(range);
    if (parts.days) for (let day = parts.days.from; day < parts.days.to; day += DAY_MS) add(this.#days.get(day));
    for (const hours of parts.hours) for (let hour = hours.from; hour < hours.to; hour += HOUR_MS) add(this.#hours.get(hour));
    for (const hours of parts.less) for (let hour = hours.from; hour < hours.to; hour += HOUR_MS) add(this.#hours.get(hour), -1);
    return total;
  }

  /**
   * OK and FAIL time of the hour buckets inside the ranges (on the hour), each bucket once; undefined when none of
   * them has a row: what HistoryStore.hourTime answers, for hours read into these sums beforehand.
   */
  hoursIn(ranges: readonly Interval[]): TimeSums | undefined {
    let total: TimeSums | undefined;
    for (const hours of union(ranges)) {
      for (let hour = hours.from; hour < hours.to; hour += HOUR_MS) {
        const found = this.#hours.get(hour);
        if (!found) continue;
        total ??= { okMs: 0, failMs: 0 };
        total.okMs += found.okMs;
        total.failMs += found.failMs;
      }
    }
    return total;
  }
}
