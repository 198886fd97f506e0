import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { Secret } from '../../src/core/secret.js';
import { buildXOAuth2, CredentialMask } from '../../src/probes/xoauth2.js';

test('XOAUTH2 initial response is base64 of user, ^A, auth=Bearer token, ^A^A, and stays a Secret', () => {
  const built = buildXOAuth2('zh1@blah.org.uk', new Secret('tok.en'));
  assert.equal(Buffer.from(built.reveal(), 'base64').toString('utf8'), 'user=zh1@blah.org.uk\x01auth=Bearer tok.en\x01\x01');
  assert.equal(built.reveal(), 'dXNlcj16aDFAYmxhaC5vcmcudWsBYXV0aD1CZWFyZXIgdG9rLmVuAQE=');
  assert.ok(!JSON.stringify({ built }).includes(built.reveal()));
  assert.ok(!inspect(built).includes(built.reveal()));
});

test('CredentialMask hides the token and both XOAUTH2 forms in transcript lines and text', () => {
  const token = new Secret('eyJhbGciOi.payload.sig');
  const mask = new CredentialMask('a@b.example', token);
  const encoded = buildXOAuth2('a@b.example', token).reveal();
  const lines: string[] = [];
  const transcript = mask.transcript({ client: (l) => lines.push(l), server: (l) => lines.push(l), note: (l) => lines.push(l) });
  transcript.client(`AUTH XOAUTH2 ${encoded}`);
  transcript.server(`+ token was ${token.reveal()}`);
  assert.deepEqual(lines, ['AUTH XOAUTH2 [redacted]', '+ token was [redacted]']);
  assert.equal(mask.text(`user=a@b.example\x01auth=Bearer ${token.reveal()}\x01\x01`), '[redacted]');
});
