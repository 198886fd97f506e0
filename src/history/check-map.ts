import type { CheckRef } from './types.js';

/**
 * Values by check, looked up by its check kind and then its monitor's name. A report looks up 200,000 checks
 * three times and more; a key text made per lookup (checkKey) was ~0.3 s of it, in building the texts and hashing
 * them anew (npm run bench:fleet's data, CPU profile).
 */
export class CheckMap<T> {
  readonly #byKind = new Map<string, Map<string, T>>();

  get(ref: CheckRef): T | undefined {
    return this.#byKind.get(ref.check)?.get(ref.monitor);
  }

  set(ref: CheckRef, value: T): void {
    let monitors = this.#byKind.get(ref.check);
    if (!monitors) this.#byKind.set(ref.check, (monitors = new Map<string, T>()));
    monitors.set(ref.monitor, value);
  }
}
