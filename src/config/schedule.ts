import cron from 'node-cron';

/**
 * The period of a cron schedule: the shortest gap between its next firings, which keeps freshness alerts
 * on the safe side for irregular schedules such as "0 9,17 * * *".
 */
export function scheduleIntervalSeconds(schedule: string): number {
  const task = cron.createTask(schedule, () => undefined);
  try {
    const runs = task.getNextRuns(12).map((date) => date.getTime());
    const gaps = runs
      .slice(1)
      .map((time, i) => time - (runs[i] ?? time))
      .filter((gap) => gap > 0);
    return gaps.length > 0 ? Math.min(...gaps) / 1000 : 3600;
  } finally {
    void task.destroy();
  }
}
