// monitors.json may carry // and /* */ comments (the shipped example explains itself). Comments are
// replaced by spaces, not removed, so JSON.parse positions still point at the user's line and column.
export function blankComments(text: string): string {
  // Unchanged runs are sliced and joined once: appending one character at a time made a 40 MB file cost
  // 1.5 GB of string ropes.
  const parts: string[] = [];
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) {
      i = stringEnd(text, i);
      continue;
    }
    const next = text.charCodeAt(i + 1);
    if (ch === SLASH && next === SLASH) {
      const newline = text.indexOf('\n', i);
      const stop = newline === -1 ? text.length : newline;
      parts.push(text.slice(copied, i), ' '.repeat(stop - i));
      copied = i = stop;
      continue;
    }
    if (ch === SLASH && next === STAR) {
      const close = text.indexOf('*/', i + 2);
      const stop = close === -1 ? text.length : close + 2;
      parts.push(text.slice(copied, i), text.slice(i, stop).replace(/[^\n]/g, ' '));
      copied = i = stop;
      continue;
    }
    i++;
  }
  parts.push(text.slice(copied));
  return parts.join('');
}

const QUOTE = 0x22;
const SLASH = 0x2f;
const STAR = 0x2a;
const BACKSLASH = 0x5c;

/** The offset just past the string that opens at `start` (a quote), or the end of an unterminated one. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === BACKSLASH) i++;
    else if (ch === QUOTE) return i + 1;
  }
  return text.length;
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return { line, column };
}
