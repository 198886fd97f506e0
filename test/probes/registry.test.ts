import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROBES } from '../../src/probes/registry.js';
import { CHECK_KINDS } from '../../src/core/check.js';
import { requiredRoles } from '../../src/core/checks.js';

test('every check kind has a probe and names its roles', () => {
  assert.deepEqual(Object.keys(PROBES).sort(), [...CHECK_KINDS].sort());
  for (const probe of Object.values(PROBES)) assert.equal(typeof probe, 'function');
  assert.deepEqual(requiredRoles('roundtrip'), ['SMTP.SendAsApp', 'IMAP.AccessAsApp']);
  assert.deepEqual(requiredRoles('pop3'), ['POP.AccessAsApp']);
});

test('a role an endpoint names replaces its own protocol’s role only, whatever the order of the check’s protocols', () => {
  assert.deepEqual(requiredRoles('roundtrip', { smtp: 'Mail.Send' }), ['Mail.Send', 'IMAP.AccessAsApp']);
  assert.deepEqual(requiredRoles('roundtrip', { imap: undefined, smtp: 'Mail.Send' }), ['Mail.Send', 'IMAP.AccessAsApp']);
  assert.deepEqual(requiredRoles('imap', { smtp: 'Mail.Send' }), ['IMAP.AccessAsApp']);
});
