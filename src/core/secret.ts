import { inspect } from 'node:util';

const MASK = '[redacted]';

// A value that must never be printed. Every path that could serialise it (String(), JSON, util.inspect,
// template literals) yields the mask; only an explicit reveal() hands out the value, so a leak needs intent.
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return MASK;
  }

  toJSON(): string {
    return MASK;
  }

  [inspect.custom](): string {
    return MASK;
  }
}

export const REDACTION_MASK = MASK;
