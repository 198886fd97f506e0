import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

// V8 lets the old generation grow up to 4× what survived the last full GC on a machine with memory to spare.
// The agent's survivors are mostly its per-monitor state (~95 MB at 10,000 monitors), and the garbage between
// full GCs is checks that finished, so that factor alone made the heap 240 MB and the process 550+ MB resident.
// At 1.3× the old generation stayed within 144 MB committed for up to 122 MB used in the 10,000-monitor case of
// npm run bench, for a few more full GCs (their marking runs on the other core); README, "Benchmarks".
const HEAP_GROWING_PERCENT = 30;

/**
 * V8 doubles each semi-space of the young generation up to 16 MB while much of it survives scavenges, which a busy
 * agent always shows. The young generation is then 32 MB resident for objects that live milliseconds.
 */
export const MAX_SEMI_SPACE_BYTES = 8 * 1024 * 1024;

const GROWTH_FLAG = '--semi-space-growth-factor';

/**
 * Whether the command line runs the agent (`run`, the default, or `demo`), which lives long and needs the bounds
 * below. A one-shot command keeps V8's defaults: under the agent's bounds, `mailprobe report` of 200,000 checks
 * took 6.7–8.5 s against 4.9–6.0 s (npm run bench:fleet's data, node --max-semi-space-size=8
 * --heap-growing-percent=30 beside the defaults, interleaved).
 */
export function runsTheAgent(argv: readonly string[]): boolean {
  const [first] = argv;
  return first === undefined || first.startsWith('-') || first === 'run' || first === 'demo';
}

/**
 * Bounds heap growth for the long-running agent, unless the operator gave the flag to node itself (node refuses
 * it in NODE_OPTIONS: "--heap-growing-percent= is not allowed in NODE_OPTIONS").
 */
export function boundHeapGrowth(): void {
  if (!givenToNode('--heap-growing-percent')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  if (!givenToNode('--max-semi-space-size') && !givenToNode(GROWTH_FLAG)) capYoungGeneration();
}

/**
 * Node reads --max-semi-space-size only from its own command line, before the heap exists, but V8 reads the growth
 * factor at every growth: after each GC the factor is 1 (no growth) once a semi-space has reached the cap, and
 * V8's default 2 while it is below (it starts at 1 MB, and may shrink it when idle).
 */
function capYoungGeneration(): void {
  let growing = true;
  const observer = new PerformanceObserver(() => {
    const semiSpace = (getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0) / 2;
    const grow = semiSpace < MAX_SEMI_SPACE_BYTES;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`${GROWTH_FLAG}=${grow ? 2 : 1}`);
  });
  // A GC observer does not keep the process alive.
  observer.observe({ entryTypes: ['gc'] });
}

function givenToNode(flag: string): boolean {
  return process.execArgv.some((arg) => arg.startsWith(flag)) || (process.env.NODE_OPTIONS ?? '').includes(flag);
}
