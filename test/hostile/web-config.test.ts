import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseWebConfig } from '../../src/http/web-config.js';
import { createPki } from '../../src/sandbox/certs.js';

// Issue 25 row 10: a web-config header value with a newline was accepted, and then every route (health too)
// answered 500; client_allowed_sans was matched on certificates nobody verified.

describe('a hostile web configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-webconfig-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a header value with a line break is refused at load, naming the header', () => {
    const text = 'http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \'none\'\\r\\nX-Injected: 1"\n';
    assert.throws(() => parseWebConfig(text, join(dir, 'web.yml')), /http_server_config\.headers\.Content-Security-Policy.*line break/s);
  });

  test('client_allowed_sans without a verified client certificate is refused at load', async () => {
    const pki = await createPki();
    writeFileSync(join(dir, 'server.crt'), pki.server.cert);
    writeFileSync(join(dir, 'server.key'), pki.server.key);
    writeFileSync(join(dir, 'ca.crt'), pki.ca.cert);
    const tls = (clientAuth: string): string =>
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n  client_auth_type: ${clientAuth}\n  client_allowed_sans: [prometheus.test]\n`;
    for (const clientAuth of ['RequestClientCert', 'RequireAnyClientCert']) {
      assert.throws(() => parseWebConfig(tls(clientAuth), join(dir, 'web.yml')), /client_allowed_sans.*needs a verified client certificate/s, clientAuth);
    }
    assert.equal(parseWebConfig(tls('RequireAndVerifyClientCert'), join(dir, 'web.yml')).tls?.allowedSans?.[0], 'prometheus.test');
  });
});
