import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { sampleMetrics } from '../support/metrics-sample.js';

test('the exposition passes promtool check metrics', async () => {
  const metrics = sampleMetrics();
  await metrics.metrics();
  const run = spawnSync('promtool', ['check', 'metrics'], { input: await metrics.metrics(), encoding: 'utf8', timeout: 20_000 });
  if (run.error) {
    assert.fail(`promtool could not be run (${run.error.message}); install the Debian package "prometheus" (CI does)`);
  }
  assert.equal(`${run.stdout}${run.stderr}`, '', 'promtool complained');
  assert.equal(run.status, 0);
});
