import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { monitorsJsonSchema } from '../../src/config/json-schema.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';

const testdata = join(process.cwd(), 'test/config/testdata');

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('invalid monitors files give the error they document', () => {
  for (const name of readdirSync(testdata).filter((file) => file.startsWith('invalid-'))) {
    test(name, () => {
      const file = join(testdata, name);
      const expected = /^\/\/ expect: (.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
      assert.ok(expected, `${name} must state its expected error`);
      const error = configError(() => loadConfigFile(file));
      assert.ok(error.message.startsWith(`${file}: `), `error names the file: ${error.message}`);
      assert.ok(error.message.includes(expected), `expected "${expected}" in:\n${error.message}`);
    });
  }
});

describe('the shipped example', () => {
  test('is valid and points at Exchange Online', () => {
    const config = loadConfigFile(join(process.cwd(), 'monitors.json'));
    const monitor = config.monitors[0];
    assert.ok(monitor);
    assert.deepEqual(monitor.endpoints.imap.host, 'outlook.office365.com');
    assert.equal(monitor.endpoints.imap.port, 993);
    assert.equal(monitor.endpoints.smtp.host, 'smtp.office365.com');
    assert.equal(monitor.endpoints.smtp.port, 587);
    assert.equal(monitor.tenant.authorityHost, 'login.microsoftonline.com');
    assert.equal(monitor.tenant.scope, 'https://outlook.office.com/.default');
    assert.equal(monitor.intervalSeconds, 300);
    assert.equal(monitor.endpoints.imap.tls.rejectUnauthorized, true);
  });

  test('the published JSON Schema matches the loader’s schema', () => {
    const published = readFileSync(join(process.cwd(), 'schema/monitors.schema.json'), 'utf8');
    assert.equal(published, monitorsJsonSchema(), 'run `mailprobe schema > schema/monitors.schema.json`');
  });
});

describe('resolution', () => {
  const tenant = (extra: object = {}) => ({
    tenantId: '9b62d4ed-1234-1234-b00d-341a1bd0b3f5',
    clientId: '10e1f456-3921-1234-1234-105af0774c61',
    credential: { type: 'secret', secret: { env: 'S' } },
    ...extra,
  });

  test('a national cloud picks login host, scope and mail hosts together', () => {
    const config = parseConfig(
      JSON.stringify({ tenants: { gov: tenant({ cloud: 'usgov' }) }, monitors: [{ name: 'm', tenant: 'gov', mailbox: 'a@b.us' }] }),
      '/x/monitors.json',
    );
    const monitor = config.monitors[0];
    assert.equal(monitor?.tenant.authorityHost, 'login.microsoftonline.us');
    assert.equal(monitor?.tenant.scope, 'https://outlook.office365.us/.default');
    assert.equal(monitor?.endpoints.imap.host, 'outlook.office365.us');
    assert.equal(monitor?.endpoints.smtp.host, 'smtp.office365.us');
  });

  test('"authorization" on the tenant applies to its monitors; a monitor may say otherwise', () => {
    const config = parseConfig(
      JSON.stringify({
        tenants: { t: tenant({ authorization: 'rbac' }), u: tenant() },
        monitors: [
          { name: 'a', tenant: 't', mailbox: 'a@b.com' },
          { name: 'b', tenant: 't', mailbox: 'b@b.com', authorization: 'entra' },
          { name: 'c', tenant: 'u', mailbox: 'c@b.com' },
        ],
      }),
      '/x/monitors.json',
    );
    assert.deepEqual(
      config.monitors.map((monitor) => monitor.authorization ?? 'undeclared'),
      ['rbac', 'entra', 'undeclared'],
    );
  });

  test('"hve" sends over smtp-hve.office365.com with Mail.Send, to the named recipient or the mailbox itself; smtp.host still overrides', () => {
    const config = parseConfig(
      JSON.stringify({
        tenants: { t: tenant() },
        monitors: [
          { name: 'a', tenant: 't', mailbox: 'hve@b.com', checks: ['smtp'], hve: { recipient: 'ops@b.com' } },
          { name: 'b', tenant: 't', mailbox: 'hve@b.com', hve: {} },
          { name: 'c', tenant: 't', mailbox: 'hve@b.com', hve: {}, smtp: { host: '127.0.0.1', port: 2587 } },
          { name: 'd', tenant: 't', mailbox: 'plain@b.com' },
        ],
      }),
      '/x/monitors.json',
    );
    const [a, b, c, d] = config.monitors;
    assert.deepEqual(a?.endpoints.smtp, { host: 'smtp-hve.office365.com', port: 587, tls: a?.endpoints.smtp.tls, role: 'Mail.Send', recipient: 'ops@b.com' });
    assert.equal(b?.endpoints.smtp.recipient, 'hve@b.com');
    assert.equal(b?.endpoints.imap.host, 'outlook.office365.com', 'only SMTP differs');
    assert.equal(b?.endpoints.imap.role, undefined);
    assert.deepEqual([c?.endpoints.smtp.host, c?.endpoints.smtp.port, c?.endpoints.smtp.role], ['127.0.0.1', 2587, 'Mail.Send']);
    assert.deepEqual([d?.endpoints.smtp.host, d?.endpoints.smtp.role, d?.endpoints.smtp.recipient], ['smtp.office365.com', undefined, undefined]);
  });

  test('monitor settings beat defaults, defaults beat built-ins', () => {
    const config = parseConfig(
      JSON.stringify({
        defaults: { schedule: '*/2 * * * *', checks: ['imap'], imap: { port: 1993 }, timeoutSeconds: 10 },
        tenants: { t: tenant({ authorityHost: 'https://127.0.0.1:8443/' }) },
        monitors: [
          { name: 'a', tenant: 't', mailbox: 'a@b.com', imap: { host: '127.0.0.1' } },
          { name: 'b', tenant: 't', mailbox: 'b@b.com', checks: ['smtp', 'pop3'], stepTimeoutSeconds: 30 },
        ],
      }),
      '/x/monitors.json',
    );
    const [a, b] = config.monitors;
    assert.equal(a?.endpoints.imap.host, '127.0.0.1');
    assert.equal(a?.endpoints.imap.port, 1993);
    assert.deepEqual(a?.checks, ['imap']);
    assert.equal(a?.intervalSeconds, 120);
    assert.equal(a?.tenant.authorityHost, '127.0.0.1:8443');
    assert.deepEqual(b?.checks, ['smtp', 'pop3']);
    assert.equal(b?.stepTimeoutMs, 10_000, 'a step never outlives its check');
    assert.equal(b?.endpoints.pop3.port, 995);
  });

  test('a secret written in the file and disabled TLS verification are warned about', () => {
    const config = parseConfig(
      JSON.stringify({
        defaults: { tls: { rejectUnauthorized: false } },
        tenants: { t: tenant({ credential: { type: 'secret', secret: 'literal-value' } }) },
        monitors: [],
      }),
      '/x/monitors.json',
    );
    const warnings = config.warnings.map((w) => `${w.path}: ${w.message}`);
    assert.ok(warnings.some((w) => w.startsWith('tenants.t.credential.secret: the client secret is written in the file')));
    assert.ok(
      warnings.includes('defaults.tls.rejectUnauthorized: TLS certificate verification is disabled for the mail servers (the login host is still verified)'),
    );
    assert.equal(config.tenants.get('t')?.tls.rejectUnauthorized, true, 'the login host stays verified');
    assert.ok(!warnings.join('\n').includes('literal-value'), 'the warning does not repeat the secret');
  });

  test("only the tenant's own authorityTls turns off verification of the login host, with its own warning", () => {
    const config = parseConfig(JSON.stringify({ tenants: { t: tenant({ authorityTls: { rejectUnauthorized: false } }) }, monitors: [] }), '/x/monitors.json');
    assert.equal(config.tenants.get('t')?.tls.rejectUnauthorized, false);
    assert.deepEqual(
      config.warnings.map((w) => `${w.path}: ${w.message}`),
      [
        'tenants.t.authorityTls.rejectUnauthorized: TLS certificate verification of the login host and Microsoft Graph is disabled: the client secret or signed assertion is sent to whoever answers',
      ],
    );
  });
});
