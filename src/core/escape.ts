// Output escaping that more than one sink needs, each for what its reader would otherwise act on.

// C0 controls except tab, DEL, C1 controls (CSI is U+009B), and the bidirectional overrides that reorder text.
const UNSAFE_FOR_TERMINAL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapedControl(char: string): string {
  const code = char.charCodeAt(0);
  if (char === '\r') return '\\r';
  if (char === '\n') return '\\n';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text for a terminal: control characters shown as \xNN. An ANSI escape from a server could otherwise repaint
 * the screen (hide a failure, fake a PASS) in `check`, the text report or a pretty log line.
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINAL, escapedControl);
}

/**
 * A spreadsheet cell that a spreadsheet will not run: a value starting with = + - @, tab or CR is a formula to
 * Excel and LibreOffice (OWASP "CSV injection"); a leading apostrophe makes it text. Numbers are left alone.
 */
export function neutraliseFormula(text: string): string {
  return /^[=+\-@\t\r]/.test(text) && !/^[+-]?\d+(\.\d+)?$/.test(text) ? `'${text}` : text;
}

/**
 * Text for Markdown (Teams' Adaptive Cards): what makes links, emphasis, code and autolinks backslash-escaped
 * anywhere, and what makes headings, quotes and lists escaped at a line's start. A server's "[sign in](https://…)"
 * then shows as written instead of as a link.
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>~]/g, '\\$&').replace(/^(\s*)([#>+-]|\d+\.)/gm, '$1\\$2');
}

/** Text for Slack's mrkdwn, which treats &, < and > as control characters (links, mentions). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
