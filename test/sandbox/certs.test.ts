import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { certificateThumbprint, createCertificateCredential, createPki, createSelfSigned, type Pem, type TestPki } from '../../src/sandbox/certs.js';

interface HandshakeResult {
  authorized: boolean;
  error?: string;
}

/** Starts a TLS server with `serverPem`, connects once with `ca` trusted, and reports how verification went. */
async function handshake(serverPem: Pem, host: string, ca: string[] | undefined): Promise<HandshakeResult> {
  const server = tls.createServer({ cert: serverPem.cert, key: serverPem.key }, (socket) => socket.end('hello'));
  // A rejected handshake makes the server side see a reset; that is the expected outcome here.
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const socket = tls.connect({ host, port, ca, servername: host === '127.0.0.1' ? undefined : host, timeout: 5000 });
      socket.once('secureConnect', () => {
        resolve({ authorized: socket.authorized });
        socket.end();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve({ authorized: false, error: err.code ?? err.message }));
      socket.once('timeout', () => {
        resolve({ authorized: false, error: 'timeout' });
        socket.destroy();
      });
    });
  } finally {
    server.close();
  }
}

describe('createPki', () => {
  let pki: TestPki;
  before(async () => {
    pki = await createPki({ hostnames: ['mail.sandbox.test'] });
  });

  test('server certificate is signed by the CA and names localhost, 127.0.0.1 and extra hostnames', () => {
    const ca = new X509Certificate(pki.ca.cert);
    const server = new X509Certificate(pki.server.cert);
    assert.equal(ca.ca, true);
    assert.equal(server.ca, false);
    assert.equal(server.checkIssued(ca), true);
    assert.equal(server.verify(ca.publicKey), true);
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkHost('mail.sandbox.test'), 'mail.sandbox.test');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
  });

  test('a client trusting the CA verifies the server at 127.0.0.1 and at localhost', async () => {
    assert.deepEqual(await handshake(pki.server, '127.0.0.1', [pki.ca.cert]), { authorized: true });
    assert.deepEqual(await handshake(pki.server, 'localhost', [pki.ca.cert]), { authorized: true });
  });

  test('a client without the CA rejects the server', async () => {
    const result = await handshake(pki.server, '127.0.0.1', undefined);
    assert.equal(result.authorized, false);
    assert.equal(result.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

describe('createSelfSigned', () => {
  test('a client that trusts only the test CA rejects a self-signed leaf', async () => {
    const [pki, leaf] = await Promise.all([createPki(), createSelfSigned('localhost')]);
    const result = await handshake(leaf, '127.0.0.1', [pki.ca.cert]);
    assert.equal(result.authorized, false);
    assert.equal(result.error, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  test('honours notBefore and validDays', async () => {
    const notBefore = new Date('2020-01-01T00:00:00Z');
    const pem = await createSelfSigned('expired.test', { notBefore, validDays: 10 });
    const x509 = new X509Certificate(pem.cert);
    assert.equal(new Date(x509.validFrom).toISOString(), notBefore.toISOString());
    assert.equal(new Date(x509.validTo).toISOString(), '2020-01-11T00:00:00.000Z');
  });
});

describe('certificate credentials', () => {
  test('thumbprints are uppercase hex SHA-1 / SHA-256 of the DER', async () => {
    const credential = await createCertificateCredential('mailprobe app', { validDays: 90 });
    const der = new X509Certificate(credential.cert).raw;
    const sha1 = createHash('sha1').update(der).digest('hex').toUpperCase();
    assert.equal(certificateThumbprint(credential.cert), sha1);
    assert.equal(credential.thumbprint, sha1);
    assert.equal(credential.thumbprintSha256, createHash('sha256').update(der).digest('hex').toUpperCase());
    assert.match(credential.thumbprint, /^[0-9A-F]{40}$/);
    const days = (credential.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 89 && days <= 90, `notAfter ${credential.notAfter.toISOString()}`);
  });
});
