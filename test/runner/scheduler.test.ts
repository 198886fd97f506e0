import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedMonitor } from '../../src/config/types.js';
import type { CheckKind } from '../../src/core/check.js';
import { systemClock } from '../../src/core/clock.js';
import type { CheckResult } from '../../src/core/result.js';
import type { SkipReason } from '../../src/core/check.js';
import { jitterFraction, jobsOf, Scheduler, type Job } from '../../src/runner/scheduler.js';
import { until } from '../support/until.js';

function monitor(name: string, checks: CheckKind[] = ['imap'], schedule = '* * * * * *'): ResolvedMonitor {
  const endpoint = { host: '127.0.0.1', port: 1, tls: { rejectUnauthorized: true } };
  return {
    name,
    tenant: {
      key: 't',
      tenantId: 'tid',
      clientId: 'cid',
      cloud: 'global',
      credential: { type: 'secret', secret: { env: 'X' } },
      authorityHost: 'login.example',
      scope: 's',
      baseDir: '.',
      tls: { rejectUnauthorized: true },
    },
    mailbox: `${name}@example.com`,
    enabled: true,
    public: true,
    checks,
    schedule,
    intervalSeconds: 1,
    timeoutMs: 5000,
    stepTimeoutMs: 5000,
    endpoints: { imap: endpoint, pop3: endpoint, smtp: endpoint, graph: endpoint },
  };
}

function result(job: Job, retryAfterSeconds?: number): CheckResult {
  return {
    monitor: job.monitor.name,
    tenant: 't',
    mailbox: job.monitor.mailbox,
    check: job.check,
    startedAt: Date.now(),
    durationSeconds: 0,
    outcome: { ok: true, steps: [], measured: {}, facts: {} },
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}

describe('scheduler', () => {
  test('a check that outlives its slot is skipped as overlap, never run twice at once', async () => {
    const skips: SkipReason[] = [];
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    // The check runs until the test lets it go, so it outlives as many one-second slots as it takes to see a skip.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const scheduler = new Scheduler({
      clock: systemClock,
      concurrency: 10,
      spread: 0,
      execute: async (job) => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await held;
        running--;
        return result(job);
      },
      onResult: () => undefined,
      onSkip: (_job, why) => skips.push(why),
    });
    scheduler.setJobs(jobsOf([monitor('slow')]));
    scheduler.start();
    await until(() => skips.includes('overlap'), 'a slot skipped as overlap');
    assert.equal(runs, 1, 'no second run while the first is going');
    release();
    await scheduler.stop(5000);
    assert.equal(maxRunning, 1);
    assert.ok(
      skips.every((why) => why === 'overlap'),
      `skips: ${skips.join(',')}`,
    );
  });

  test('the concurrency limit bounds checks in flight and queued ones wait', async () => {
    let running = 0;
    let maxRunning = 0;
    const finished: string[] = [];
    const scheduler = new Scheduler({
      clock: systemClock,
      concurrency: 3,
      spread: 0,
      execute: async (job) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(100);
        running--;
        finished.push(job.monitor.name);
        return result(job);
      },
      onResult: () => undefined,
      onSkip: () => undefined,
    });
    const monitors = Array.from({ length: 10 }, (_, i) => monitor(`m${i}`, ['imap'], '0 0 1 1 *'));
    scheduler.setJobs(jobsOf(monitors));
    scheduler.start();
    for (const job of jobsOf(monitors)) scheduler.trigger(job.key);
    await until(() => finished.length === 10, 'all ten checks');
    await scheduler.stop(2000);
    assert.equal(maxRunning, 3);
    assert.equal(finished.length, 10);
  });

  test('a throttled check is skipped until the server’s backoff has passed', async () => {
    const skips: SkipReason[] = [];
    let runs = 0;
    const scheduler = new Scheduler({
      clock: systemClock,
      concurrency: 1,
      spread: 0,
      execute: async (job) => {
        runs++;
        return result(job, 60);
      },
      onResult: () => undefined,
      onSkip: (_job, why) => skips.push(why),
    });
    scheduler.setJobs(jobsOf([monitor('throttled')]));
    scheduler.start();
    await until(() => skips.length >= 1, 'a slot after the throttled run');
    await scheduler.stop(1000);
    assert.equal(runs, 1);
    assert.ok(skips.length >= 1 && skips.every((why) => why === 'backoff'), `skips: ${skips.join(',')}`);
  });

  test('jobs of one schedule are spread over the interval by a stable hash of their name', () => {
    const fractions = Array.from({ length: 1000 }, (_, i) => jitterFraction(`monitor-${i}\u0000imap`));
    assert.equal(jitterFraction('a\u0000imap'), jitterFraction('a\u0000imap'));
    const buckets = new Array<number>(10).fill(0);
    for (const fraction of fractions) {
      assert.ok(fraction >= 0 && fraction < 1);
      buckets[Math.floor(fraction * 10)]! += 1;
    }
    for (const count of buckets) assert.ok(count > 60 && count < 140, `uneven spread: ${buckets.join(',')}`);
  });

  test('stop waits for a check in flight up to the grace period', async () => {
    let done = false;
    const scheduler = new Scheduler({
      clock: systemClock,
      concurrency: 1,
      spread: 0,
      execute: async (job) => {
        await sleep(300);
        done = true;
        return result(job);
      },
      onResult: () => undefined,
      onSkip: () => undefined,
    });
    const jobs = jobsOf([monitor('inflight', ['imap'], '0 0 1 1 *')]);
    scheduler.setJobs(jobs);
    scheduler.start();
    scheduler.trigger(jobs[0]!.key);
    const { unfinished } = await scheduler.stop(5000);
    assert.equal(unfinished, 0);
    assert.equal(done, true);
  });
});
