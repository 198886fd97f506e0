import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32, gunzipSync, inflateRawSync } from 'node:zlib';
import { gzipped } from '../support/gzip.js';

test('chunks compressed one by one make one gzip member that gunzip and zlib accept', async () => {
  const text = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `mailprobe_check_success{monitor="mailbox-${i}",check="imap"} 1\n`).join(''));
  // Text larger than deflate's 32 KB window, an empty chunk, binary that does not compress, a one-byte tail.
  const chunks = [text(20_000), Buffer.alloc(0), randomBytes(70_000), text(3), Buffer.from('x')];
  const whole = Buffer.concat(chunks);
  const body = await gzipped(chunks);

  assert.deepEqual(gunzipSync(body), whole);
  // One member: the bytes between the 10-byte header and the 8-byte trailer are a single deflate stream.
  assert.deepEqual(inflateRawSync(body.subarray(10, body.length - 8)), whole);
  assert.equal(body.readUInt32LE(body.length - 8), crc32(whole) >>> 0);
  assert.equal(body.readUInt32LE(body.length - 4), whole.length);
  assert.ok(body.length < whole.length / 2, 'the text compresses');
});

test('nothing at all is a valid empty gzip file', async () => {
  const body = await gzipped([]);
  assert.equal(gunzipSync(body).length, 0);
});
