import { setFlagsFromString } from 'node:v8';

// V8 lets the old generation grow up to 4× what survived the last full GC on a machine with memory to spare.
// The agent's survivors are mostly its per-monitor state (~100 MB at 10,000 monitors), and the garbage between
// full GCs is checks that finished, so that factor alone made the heap 240 MB and the process 550+ MB resident.
// 1.5× keeps the heap near its live size for a few more full GCs: npm run bench, 10,000 monitors. 1.2× was
// measured too (README, "Memory"): with the young generation at V8's default the process still passed 300 MB
// by the end of the initial round, and the 1,000-monitor case went to 2.07× the baseline's CPU per check.
const HEAP_GROWING_PERCENT = 50;

/**
 * Bounds heap growth for the long-running agent, unless the operator gave the flag to node itself (node refuses
 * it in NODE_OPTIONS: "--heap-growing-percent= is not allowed in NODE_OPTIONS").
 */
export function boundHeapGrowth(): void {
  if (!process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
