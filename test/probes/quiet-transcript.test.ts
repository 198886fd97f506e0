import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quietTranscript } from '../../src/probes/quiet-transcript.js';

function recorded(): { lines: string[]; transcript: ReturnType<typeof quietTranscript> } {
  const lines: string[] = [];
  const transcript = quietTranscript({ client: (l) => lines.push(`C: ${l}`), server: (l) => lines.push(`S: ${l}`), note: (l) => lines.push(`# ${l}`) });
  return { lines, transcript };
}

test('session set-up that succeeds is counted, the work is shown', () => {
  const { lines, transcript: t } = recorded();
  t.client('5 NAMESPACE');
  t.server('* NAMESPACE (("" "/")) NIL NIL');
  t.server('5 OK NAMESPACE completed.');
  t.client('6 SELECT INBOX');
  t.server('* 2 EXISTS');
  t.server('6 OK [READ-WRITE] SELECT completed.');
  t.client('7 UID SEARCH HEADER X-MAILPROBE-ID abc');
  t.server('* SEARCH 71');
  t.server('7 OK SEARCH completed.');
  assert.deepEqual(lines, [
    '# 3 line(s) of session set-up and folder listing not shown (NAMESPACE)',
    'C: 6 SELECT INBOX',
    'S: 6 OK [READ-WRITE] SELECT completed.',
    '# 1 line(s) of session set-up and folder listing not shown (SELECT)',
    'C: 7 UID SEARCH HEADER X-MAILPROBE-ID abc',
    'S: * SEARCH 71',
    'S: 7 OK SEARCH completed.',
  ]);
});

test('a set-up command that fails is shown with its answer', () => {
  const { lines, transcript: t } = recorded();
  t.client('8 LIST "" "*"');
  t.server('* LIST (\\HasNoChildren) "/" INBOX');
  t.server('8 BAD User is authenticated but not connected.');
  assert.deepEqual(lines, [
    '# 1 line(s) of session set-up and folder listing not shown (LIST)',
    'C: 8 LIST "" "*"',
    'S: 8 BAD User is authenticated but not connected.',
  ]);
});
