import { escapeControls } from '../core/escape.js';

// What a server says reaches the operator's terminal through `check` and `doctor`. A greeting with ANSI escapes
// could repaint the screen (hide a failure, fake a PASS), and an endless reply would scroll forever, so every
// line is shown with its control characters escaped and cut to a readable length.

/** Longest line shown; the rest is counted, not printed. */
export const MAX_TERMINAL_LINE = 1000;

/** At most `max` characters of a line, with a count of what was left out. */
export function cutLine(line: string, max = MAX_TERMINAL_LINE, show: (text: string) => string = (text) => text): string {
  return line.length > max ? `${show(line.slice(0, max))}… [${line.length - max} more characters]` : show(line);
}

/** One line, safe to print: control characters visible as \xNN, and at most `max` characters of it. */
export function terminalLine(line: string, max = MAX_TERMINAL_LINE): string {
  return cutLine(line, max, escapeControls);
}

/** A block of lines (a formatted result): each line made safe, the line breaks kept. */
export function terminalText(text: string, max = MAX_TERMINAL_LINE): string {
  return text
    .split('\n')
    .map((line) => terminalLine(line, max))
    .join('\n');
}
