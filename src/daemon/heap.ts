import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

// The agent is never idle, so V8's memory reducer never runs: its heap is what these limits let it hold.
// Measured with 10,000 monitors × 2 checks on the bench emulators (npm run bench; README, "Memory"):
//
// V8 lets the old generation grow up to 4× what survived the last full GC on a machine with memory to spare.
// The survivors are mostly per-check state (~100 MB at 10,000 monitors); the garbage between full GCs is that
// state replaced by newer runs and what of a check was still in flight when promoted, left as holes in partly
// used pages. At 1.2× the old generation stayed at ~165 MB committed, against 190-230 MB at 1.5×.
const HEAP_GROWING_PERCENT = 20;
// The young generation starts as two 1 MB semi-spaces and doubles up to two 16 MB ones under the agent's ~50 MB/s
// of allocation. Two 1 MB ones cost 30 % more CPU per check (a scavenge every 20 ms promotes most of what the 32
// checks in flight hold); two 4 MB ones cost ~24 MB less than 16 MB ones for a few percent of CPU.
const YOUNG_GENERATION_BYTES = 8 * 1024 * 1024;

const given = (flag: string): boolean => process.execArgv.some((arg) => arg.startsWith(flag)) || (process.env.NODE_OPTIONS ?? '').includes(flag);

/**
 * Bounds heap growth for the long-running process, for each flag the operator did not give node (node refuses
 * --heap-growing-percent in NODE_OPTIONS). Call first thing: loading the modules alone grows the young
 * generation. It then stays at its start size until youngGenerationToWorkingSize().
 */
export function boundHeapGrowth(): void {
  if (!given('--heap-growing-percent')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  if (!youngGenerationGiven()) setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Lets the young generation grow once, from its start size to YOUNG_GENERATION_BYTES. Node takes the size limit
 * (--max-semi-space-size) only on its command line, but V8 reads the growth factor at every growth: a factor
 * of 4 takes two 1 MB semi-spaces to two 4 MB ones in one step, and the first collection after it puts the
 * factor back to 1. Call once the agent runs, so the step comes while its checks run, not in one long task.
 */
export function youngGenerationToWorkingSize(): void {
  if (youngGenerationGiven()) return;
  setFlagsFromString('--semi-space-growth-factor=4');
  const observer = new PerformanceObserver(() => {
    if (youngGenerationBytes() < YOUNG_GENERATION_BYTES) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}

function youngGenerationGiven(): boolean {
  return given('--semi-space-growth-factor') || given('--max-semi-space-size') || given('--min-semi-space-size');
}

/** The young generation's committed size (the new space); 0 if V8 stops reporting it under that name. */
function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}
