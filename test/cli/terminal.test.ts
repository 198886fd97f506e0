import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { streamingTranscript } from '../../src/cli/report.js';
import { terminalLine, terminalText } from '../../src/cli/terminal.js';
import { Redactor } from '../../src/log/redact.js';

describe('what a server says, on the operator terminal', () => {
  test('escape sequences that would repaint the screen are shown, not obeyed', () => {
    assert.equal(terminalLine('* OK \x1b[2J\x1b[1;1H  PASS imap'), '* OK \\x1b[2J\\x1b[1;1H  PASS imap');
    assert.equal(terminalLine('C1 CSI \x9b31m, bell \x07, CR \r, NUL \x00, DEL \x7f'), 'C1 CSI \\x9b31m, bell \\x07, CR \\r, NUL \\x00, DEL \\x7f');
    assert.equal(terminalLine('bidi \u202eSSAP\u202c'), 'bidi \\u202eSSAP\\u202c');
    assert.equal(terminalLine('tab\tand ünïcödé stay'), 'tab\tand ünïcödé stay');
  });

  test('long lines are cut with a count of what was left out', () => {
    assert.equal(terminalLine('x'.repeat(1500)), `${'x'.repeat(1000)}… [500 more characters]`);
  });

  test('a formatted block keeps its line breaks', () => {
    assert.equal(terminalText('  FAIL imap\n    server: \x1b]0;owned\x07'), '  FAIL imap\n    server: \\x1b]0;owned\\x07');
  });

  test('a streamed transcript escapes each line and stops after its line limit', () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const transcript = streamingTranscript(out, new Redactor(), '  ', 3);
    transcript.server('* OK \x1b[31mred');
    for (let i = 0; i < 10; i++) transcript.server(`* ${i}`);
    assert.equal(
      chunks.join(''),
      ['  S: * OK \\x1b[31mred', '  S: * 0', '  S: * 1', '  # further lines of this check are not shown (more than 3)', ''].join('\n'),
    );
  });
});
