import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HEAP_MODULE = fileURLToPath(new URL('../../src/daemon/heap.js', import.meta.url));

// A child allocates with a survivor rate that makes V8 grow its young generation, in short tasks as the agent
// does, and reports how large the young generation got (MB).
function youngGenerationMb(options: { bound: boolean; working?: boolean; nodeFlags?: string[] }): number {
  const script = `
    const { getHeapSpaceStatistics } = await import('node:v8');
    const heap = await import(${JSON.stringify(HEAP_MODULE)});
    if (${options.bound}) heap.boundHeapGrowth();
    if (${options.working === true}) heap.youngGenerationToWorkingSize();
    const keep = [];
    for (let task = 0; task < 300; task++) {
      for (let i = 0; i < 10000; i++) { const o = { i, s: 'x' + i }; if (i % 3 === 0) keep.push(o); if (keep.length > 200000) keep.splice(0, 100000); }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(space.space_size / 1048576));`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return Number(execFileSync(process.execPath, [...(options.nodeFlags ?? []), '--input-type=module', '-e', script], { encoding: 'utf8', env }));
}

test('left alone, V8 grows the young generation past the agent\'s working size', () => {
  const size = youngGenerationMb({ bound: false });
  assert.ok(size > 8, `${size} MB`);
});

test('bounded, the young generation stays at its start size until the agent runs', () => {
  const size = youngGenerationMb({ bound: true });
  assert.ok(size <= 2, `two 1 MB semi-spaces (${size} MB)`);
});

test('once the agent runs, the young generation grows to its working size and no further', () => {
  const size = youngGenerationMb({ bound: true, working: true });
  assert.ok(size > 2 && size <= 8, `two 4 MB semi-spaces (${size} MB)`);
});

test('a young generation size given to node itself is left to grow to it', () => {
  const size = youngGenerationMb({ bound: true, working: true, nodeFlags: ['--max-semi-space-size=2'] });
  assert.ok(size > 2 && size <= 4, `two semi-spaces of up to 2 MB (${size} MB)`);
});
