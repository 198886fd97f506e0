import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Secret } from '../../src/core/secret.js';
import { createLogger } from '../../src/log/logger.js';
import { Redactor } from '../../src/log/redact.js';

class Capture extends Writable {
  chunks: string[] = [];
  isTTY = false;
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    done();
  }
  async lines(count: number): Promise<string[]> {
    for (let i = 0; i < 100; i++) {
      const lines = this.chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '');
      if (lines.length >= count) return lines;
      await tick();
    }
    assert.fail(`expected ${count} log lines, got: ${this.chunks.join('')}`);
  }
}

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJJTUFQLkFjY2Vzc0FzQXBwIl19.c2lnbmF0dXJl';
const XOAUTH2 = Buffer.from(`user=probe@contoso.com\x01auth=Bearer ${JWT}\x01\x01`).toString('base64');
const CLIENT_SECRET = 'Zx9~registered.client-secret_value';

describe('createLogger', () => {
  test('JSON mode: one JSON line per entry, level filtering, child meta', async () => {
    const stream = new Capture();
    const logger = createLogger({ redactor: new Redactor(), stream, format: 'json', level: 'info' });
    logger.debug('hidden at info level');
    logger.info('check finished', { monitor: 'm1', check: 'imap', result: 'failure', reason: 'auth_failed', durationSeconds: 1.5 });
    logger.child({ monitor: 'm2' }).warn('check skipped', { why: 'overlap', message: 'kept, not dropped' });
    const lines = await stream.lines(2);
    assert.equal(lines.length, 2);
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      { ...first, timestamp: undefined },
      {
        timestamp: undefined,
        level: 'info',
        message: 'check finished',
        monitor: 'm1',
        check: 'imap',
        result: 'failure',
        reason: 'auth_failed',
        durationSeconds: 1.5,
      },
    );
    assert.match(String(first?.['timestamp']), /^\d{4}-\d\d-\d\dT/);
    assert.equal(second?.['level'], 'warn');
    assert.equal(second?.['monitor'], 'm2');
    assert.equal(second?.['message'], 'check skipped');
    assert.equal(second?.['meta_message'], 'kept, not dropped');
  });

  test('masks secrets in message, nested meta, child meta and Errors', async () => {
    const redactor = new Redactor();
    redactor.addSecret(CLIENT_SECRET);
    const stream = new Capture();
    const logger = createLogger({ redactor, stream, format: 'json' });
    const raws = [CLIENT_SECRET, JWT, XOAUTH2, 'auth=Bearer x'];
    const all = raws.join(' | ');
    logger.info(`token request: ${all}`);
    logger.warn('imap transcript', { lines: [{ c: `A1 AUTHENTICATE XOAUTH2 ${all}` }], token: new Secret('raw-token-1') });
    logger.child({ context: { note: all } }).error('probe failed', { error: new Error(`server said no: ${all}`) });
    const lines = await stream.lines(3);
    assert.equal(lines.length, 3);
    const output = lines.join('\n');
    for (const raw of [...raws, 'raw-token-1']) {
      assert.ok(!output.includes(raw), `raw value leaked into log: ${raw.slice(0, 10)}…`);
    }
    const masked = '[redacted] | [redacted] | [redacted] | auth=Bearer [redacted]';
    const [first, second, third] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(first?.['message'], `token request: ${masked}`);
    assert.deepEqual(second?.['lines'], [{ c: `A1 AUTHENTICATE XOAUTH2 ${masked}` }]);
    assert.equal(second?.['token'], '[redacted]');
    assert.deepEqual(third?.['context'], { note: masked });
    const error = third?.['error'] as { message: string; stack: string };
    assert.equal(error.message, `server said no: ${masked}`);
    assert.ok(error.stack.startsWith(`Error: server said no: ${masked}\n`));
  });

  test('auto mode writes readable lines on a TTY', async () => {
    const stream = new Capture();
    stream.isTTY = true;
    const logger = createLogger({ redactor: new Redactor(), stream });
    logger.info('check finished', { monitor: 'm1', detail: 'two words' });
    const [line] = await stream.lines(1);
    assert.match(line ?? '', /^\S+Z \x1b\[32mINFO \x1b\[0m check finished monitor=m1 detail="two words"$/);
  });

  test('rejects an unknown level', () => {
    assert.throws(() => createLogger({ redactor: new Redactor(), level: 'verbose' }), /unknown log level "verbose"/);
  });
});
