import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packChecks, unpackChecks } from '../../src/history/report-runner.js';

test('configured checks cross into the report worker as names and indexes, and come back as they were', () => {
  const checks = [
    { monitor: 'alpha', tenant: 'contoso', check: 'imap' as const },
    { monitor: 'alpha', tenant: 'contoso', check: 'smtp' as const },
    { monitor: 'contoso', tenant: 'fabrikam', check: 'pop3' as const },
    { monitor: 'Zürich – 東京', tenant: 'contoso', check: 'imap' as const },
  ];
  const packed = packChecks(checks);
  assert.deepEqual(
    packed.names,
    ['alpha', 'contoso', 'imap', 'smtp', 'fabrikam', 'pop3', 'Zürich – 東京'],
    'each name once, a tenant and a monitor of one name shared',
  );
  assert.equal(packed.indexes.length, 12);
  assert.deepEqual(unpackChecks(packed), checks);
  assert.deepEqual(unpackChecks(packChecks([])), []);
});
