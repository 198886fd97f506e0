// Exposition-format text (Prometheus text format 0.0.4) for the series mailprobe renders itself.

export type FamilyType = 'gauge' | 'counter' | 'histogram';

export function familyHeader(name: string, type: FamilyType, help: string): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

export function sample(name: string, labels: string, value: number): string {
  return `${name}{${labels}} ${formatValue(value)}\n`;
}

export function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

/** Exposition-format label escaping: backslash, double quote and newline. */
export function esc(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/** Sample lines in a piece of exposition text (every line that is not a comment). */
export function sampleCount(text: string): number {
  let count = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start && text.charCodeAt(start) !== 35 /* # */) count++;
    start = end + 1;
  }
  return count;
}
