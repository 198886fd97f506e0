import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/io.js';
import { listenerFlags } from '../../src/cli/listener-flags.js';

test('run and demo read --listen and --web.config.file, else the environment, and name where a bad address came from', () => {
  const env = { MAILPROBE_LISTEN: '127.0.0.1:9500', MAILPROBE_WEB_CONFIG_FILE: 'web.yml' };
  assert.deepEqual(listenerFlags('run', {}, {}), {});
  assert.deepEqual(listenerFlags('run', {}, env), { listen: '127.0.0.1:9500', listenFrom: 'MAILPROBE_LISTEN', webConfigFile: 'web.yml' });
  assert.deepEqual(listenerFlags('demo', { listen: '[::1]:0', 'web.config.file': 'other.yml' }, env), {
    listen: '[::1]:0',
    listenFrom: '--listen',
    webConfigFile: 'other.yml',
  });
  assert.throws(
    () => listenerFlags('run', { listen: 'nowhere' }, env),
    (error: unknown) => error instanceof UsageError && /^run: --listen "nowhere": /.test(error.message),
  );
  assert.throws(
    () => listenerFlags('demo', {}, { MAILPROBE_LISTEN: 'nowhere' }),
    (error: unknown) => error instanceof UsageError && /^demo: MAILPROBE_LISTEN "nowhere": /.test(error.message),
  );
});
