import { setFlagsFromString } from 'node:v8';

// The agent is never idle, so V8's memory reducer never runs: its heap is what this limit lets it hold.
// V8 lets the old generation grow up to 4× what survived the last full GC on a machine with memory to spare.
// The survivors are mostly per-check state (~100 MB at 10,000 monitors × 2 checks); the garbage between full
// GCs is that state replaced by newer runs and what of a check was still in flight when promoted, left as
// holes in partly used pages. At 1.2× the old generation stayed at ~165 MB committed, against 190-230 MB at
// 1.5× (npm run bench, 10,000 monitors; README, "Memory"). The young generation is left at V8's default: two
// 4 MB semi-spaces saved 24 MB but cost 13 % more CPU per check in scavenges.
const HEAP_GROWING_PERCENT = 20;

/**
 * Bounds heap growth for the long-running agent, unless the operator gave the flag to node itself (node refuses
 * it in NODE_OPTIONS: "--heap-growing-percent= is not allowed in NODE_OPTIONS").
 */
export function boundHeapGrowth(): void {
  if (!process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
