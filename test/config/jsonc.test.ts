import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { blankComments } from '../../src/config/jsonc.js';

describe('comments in monitors.json', () => {
  const cases: Array<[string, string, string]> = [
    ['line comment', '{ "a": 1 } // note\n', '{ "a": 1 }        \n'],
    ['line comment at the end of the file', '{} // end', '{}       '],
    ['CRLF line comment keeps the line break', '// x\r\n{}', '     \n{}'],
    ['block comment keeps its line breaks', '{ /* one\ntwo */ "a": 1 }', '{       \n       "a": 1 }'],
    ['unterminated block comment runs to the end', '{} /* open', '{}        '],
    ['comment markers inside strings stay', '{ "url": "https://x/y", "c": "/* not */" }', '{ "url": "https://x/y", "c": "/* not */" }'],
    ['escaped quotes do not end a string', '{ "a": "say \\"//hi\\"" } // c', '{ "a": "say \\"//hi\\"" }     '],
    ['escaped backslash before the closing quote', '{ "a": "\\\\" } /* c */', '{ "a": "\\\\" }        '],
    ['unterminated string is copied as is', '{ "a": "// x', '{ "a": "// x'],
    ['a lone slash is not a comment', '{ "a": 1 / 2 }', '{ "a": 1 / 2 }'],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => {
      const out = blankComments(input);
      assert.equal(out, expected);
      assert.equal(out.length, input.length, 'positions stay where they were');
    });
  }
});
