import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls until `done` holds; fails after `withinMs`. The bound is generous on purpose: it stops a hang, it times
 * nothing, so a loaded machine only makes a test slower, never red.
 */
export async function until(done: () => boolean, what: string, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
