import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROBES, REQUIRED_ROLE } from '../../src/probes/registry.js';
import { CHECK_KINDS } from '../../src/core/check.js';

test('every check kind has a probe and names its roles', () => {
  assert.deepEqual(Object.keys(PROBES).sort(), [...CHECK_KINDS].sort());
  for (const probe of Object.values(PROBES)) assert.equal(typeof probe, 'function');
  assert.deepEqual(Object.keys(REQUIRED_ROLE).sort(), [...CHECK_KINDS].sort());
  assert.deepEqual(REQUIRED_ROLE.roundtrip, ['SMTP.SendAsApp', 'IMAP.AccessAsApp']);
  assert.deepEqual(REQUIRED_ROLE.pop3, ['POP.AccessAsApp']);
});
