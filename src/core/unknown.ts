// Reading values whose shape is not known (parsed JSON, errors thrown by dependencies) without casts at each use.

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** value[key] when value is an object, else undefined. */
export function field(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}
