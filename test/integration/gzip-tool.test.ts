import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gzipped } from '../support/gzip.js';

// The unit test checks the member with zlib; this one asks the gzip tool a client's decoder is most like.
test('the gzip tool reads a streamed member and an empty one', async () => {
  const chunks = [Buffer.from('mailprobe_check_success 1\n'.repeat(5_000)), Buffer.alloc(0), randomBytes(70_000), Buffer.from('x')];
  assert.deepEqual(execFileSync('gzip', ['-dc'], { input: await gzipped(chunks), maxBuffer: 16 << 20 }), Buffer.concat(chunks));
  assert.equal(execFileSync('gzip', ['-dc'], { input: await gzipped([]) }).length, 0);
});
