import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { MAX_SEMI_SPACE_BYTES, runsTheAgent } from '../../src/daemon/heap.js';

const run = promisify(execFile);
const HEAP_MODULE = fileURLToPath(new URL('../../src/daemon/heap.js', import.meta.url));

// A load that makes V8 grow the young generation to its default 2 × 16 MB: many short-lived objects, a good share
// of them surviving a scavenge or two (a sliding window), as a busy agent's checks in flight do.
const LOAD = `
  const { getHeapSpaceStatistics } = await import('node:v8');
  if (process.argv[1] === 'bound') (await import(${JSON.stringify(HEAP_MODULE)})).boundHeapGrowth();
  const window = [];
  let largest = 0;
  for (let round = 0; round < 400; round++) {
    for (let i = 0; i < 20000; i++) window.push({ i, text: 'x' + i });
    if (window.length > 200000) window.splice(0, 20000);
    largest = Math.max(largest, getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size);
    await new Promise((resolve) => setImmediate(resolve));
  }
  console.log(largest);
`;

async function largestYoungGeneration(mode: 'bound' | 'default'): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', LOAD, mode], { timeout: 60_000 });
  return Number(stdout.trim());
}

describe('agent heap bounds', () => {
  test('the young generation stops growing at two semi-spaces of MAX_SEMI_SPACE_BYTES', async () => {
    const [bounded, unbounded] = await Promise.all([largestYoungGeneration('bound'), largestYoungGeneration('default')]);
    assert.ok(unbounded > 2 * MAX_SEMI_SPACE_BYTES, `the load must grow V8's default young generation past the cap (it reached ${unbounded} bytes)`);
    assert.ok(bounded <= 2 * MAX_SEMI_SPACE_BYTES, `bounded young generation reached ${bounded} bytes`);
    assert.ok(bounded >= MAX_SEMI_SPACE_BYTES, `bounded young generation stayed at ${bounded} bytes: it may grow up to the cap`);
  });

  test("only the agent is bounded: a one-shot command such as a report keeps V8's defaults", () => {
    for (const argv of [[], ['run'], ['--config', 'monitors.json'], ['demo'], ['run', '--check-config']])
      assert.equal(runsTheAgent(argv), true, argv.join(' '));
    for (const argv of [['report', '--period', 'last'], ['check'], ['doctor'], ['shards', 'plan'], ['notify', 'test'], ['report', 'run']])
      assert.equal(runsTheAgent(argv), false, argv.join(' '));
  });
});
