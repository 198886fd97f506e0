import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { ProbeError, tlsOptionsFor, toFailure, transportReason } from '../../src/probes/transport-errors.js';

const coded = (code: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(code), { code }, extra);

test('Node, TLS, imapflow and nodemailer errors map to transport reasons', () => {
  const cases: Array<[Error, string]> = [
    [coded('ECONNREFUSED'), 'connect_refused'],
    [coded('ENOTFOUND'), 'connect_dns'],
    [coded('EAI_AGAIN'), 'connect_dns'],
    [coded('ECONNRESET'), 'connection_reset'],
    [coded('EPIPE'), 'connection_reset'],
    [coded('ETIMEDOUT'), 'timeout'],
    [coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'tls_untrusted'],
    [coded('SELF_SIGNED_CERT_IN_CHAIN'), 'tls_untrusted'],
    [coded('DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls_untrusted'],
    [coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), 'tls_untrusted'],
    [coded('CERT_HAS_EXPIRED'), 'tls_untrusted'],
    [coded('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls_hostname_mismatch'],
    [coded('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'), 'tls_version_rejected'],
    [coded('ERR_SSL_WRONG_VERSION_NUMBER'), 'tls_handshake_failed'],
    // nodemailer renames the socket error and keeps Node's code in originalCode
    [coded('ESOCKET', { originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'tls_untrusted'],
    [coded('EDNS', { originalCode: 'ENOTFOUND' }), 'connect_dns'],
    [coded('ECONNECTION'), 'connection_reset'],
    [coded('ETLS'), 'tls_handshake_failed'],
    // imapflow: its own codes, and the dependency's error kept in _err
    [coded('NoConnection'), 'connection_reset'],
    [coded('ETIMEOUT'), 'timeout'],
    [coded('GREETING_TIMEOUT'), 'timeout'],
    [coded('CONNECT_TIMEOUT', { _err: coded('ETIMEDOUT') }), 'timeout'],
    [coded('ParserError11'), 'protocol_error'],
  ];
  for (const [err, reason] of cases) assert.equal(transportReason(err), reason, String(err.message));
  assert.equal(transportReason(new DOMException('aborted', 'AbortError')), 'timeout');
  assert.equal(transportReason(new Error('no code')), undefined);
});

test('toFailure keeps a ProbeError as decided and falls back to internal_error for the unknown', () => {
  const decided = toFailure(new ProbeError('auth_failed', 'refused', { stage: 'auth', serverText: 'NO AUTHENTICATE failed.' }), 'list');
  assert.deepEqual(decided, { stage: 'auth', reason: 'auth_failed', message: 'refused', serverText: 'NO AUTHENTICATE failed.' });
  assert.deepEqual(toFailure(coded('ECONNREFUSED'), 'connect'), { stage: 'connect', reason: 'connect_refused', message: 'ECONNREFUSED' });
  assert.equal(toFailure(new TypeError('bug'), 'send').reason, 'internal_error');
});

test('toFailure carries the protocol being spoken, unless the error names its own', () => {
  assert.equal(toFailure(coded('ECONNREFUSED'), 'connect', 'smtp').protocol, 'smtp');
  assert.equal(toFailure(new ProbeError('cleanup_failed', 'refused', { stage: 'cleanup', protocol: 'imap' }), 'send', 'smtp').protocol, 'imap');
});

test('TLS options: TLS 1.2 floor, extra CAs added to the default store, SNI only for names', () => {
  const named = tlsOptionsFor({ host: 'outlook.office365.com', port: 993, tls: { ca: ['PEM'], rejectUnauthorized: true } });
  assert.equal(named.minVersion, 'TLSv1.2');
  assert.equal(named.servername, 'outlook.office365.com');
  assert.deepEqual(named.ca, [...rootCertificates, 'PEM']);
  const literal = tlsOptionsFor({ host: '127.0.0.1', port: 993, tls: { rejectUnauthorized: false } });
  assert.equal(literal.servername, undefined);
  assert.equal(literal.ca, undefined);
  assert.equal(literal.rejectUnauthorized, false);
});
