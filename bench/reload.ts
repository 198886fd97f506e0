import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import cron from 'node-cron';
import { parseConfig } from '../src/config/load.js';
import { scheduleIntervalSeconds } from '../src/config/schedule.js';
import type { Logger } from '../src/log/logger.js';
import { Redactor } from '../src/log/redact.js';
import { MailprobeMetrics } from '../src/metrics/metrics.js';
import { Agent } from '../src/runner/agent.js';
import { systemClock } from '../src/core/clock.js';
import { createRuntime } from '../src/runner/runtime.js';
import { bigMonitorsFile } from './monitors-file.js';

// `npm run bench:reload`: how long loading and applying N monitors holds the event loop (all of it is synchronous,
// so wall time is event-loop time). The baseline is the old per-monitor cost (cron validation and next-run maths
// for every monitor), measured on a sample in the same run and scaled to N.

const { values } = parseArgs({ options: { monitors: { type: 'string', default: '20000' }, schedules: { type: 'string', default: '4' } } });
const monitors = Number(values.monitors);
const schedules = Number(values.schedules);

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

function timed<T>(run: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = run();
  return { value, ms: performance.now() - started };
}

const text = bigMonitorsFile({ monitors, schedules });
const parse = timed(() => parseConfig(text, '/bench/monitors.json'));
const again = timed(() => parseConfig(text, '/bench/monitors.json'));

const metrics = new MailprobeMetrics({ version: 'bench', collectDefault: false });
const { deps } = createRuntime({ clock: systemClock, redactor: new Redactor() });
const agent = new Agent({ deps, metrics, logger: quiet, clock: systemClock });
const first = timed(() => agent.start(parse.value));
const reload = timed(() => agent.reload(again.value));
await agent.stop(0);

const sample = Math.min(1000, monitors);
const perMonitor = timed(() => {
  for (let i = 0; i < sample; i++) {
    const schedule = `${i % 60} */5 * * * *`;
    cron.validate(schedule);
    scheduleIntervalSeconds(schedule);
  }
});
const baselineMs = (perMonitor.ms / sample) * monitors;

const row = (name: string, ms: number): string => `  ${name.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms`;
console.log(`reload bench: ${monitors} monitors, ${schedules} distinct schedules, ${(text.length / 1e6).toFixed(1)} MB of JSON`);
console.log(row('parse + validate + resolve (first)', parse.ms));
console.log(row('parse + validate + resolve (again)', again.ms));
console.log(row('agent start (jobs, metrics, status, timers)', first.ms));
console.log(row('agent reload (same monitors)', reload.ms));
console.log(row('event loop held by a reload (parse + apply)', again.ms + reload.ms));
console.log(row(`baseline: per-monitor schedule maths x ${monitors}`, baselineMs));
console.log(`  ratio baseline / schedule work now: ${(baselineMs / Math.max(1, again.ms)).toFixed(1)}x of the whole parse`);
