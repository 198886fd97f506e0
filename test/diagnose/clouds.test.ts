import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { PROTOCOLS, STAGES } from '../../src/core/check.js';
import { PROTOCOL } from '../../src/core/protocols.js';
import { CLOUD_ENDPOINTS, CLOUDS, resourceScope, type Cloud } from '../../src/core/clouds.js';
import { REASONS } from '../../src/core/reasons.js';
import { monitorRef } from '../../src/diagnose/commands.js';
import { diagnose } from '../../src/diagnose/diagnose.js';

const TENANT = '9b62d4ed-1234-1234-b00d-341a1bd0b3f5';
const CLIENT = '10e1f456-1234-1234-971b-105af0774c61';
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

function monitorIn(cloud: Cloud) {
  const text = JSON.stringify({
    tenants: { t: { tenantId: TENANT, clientId: CLIENT, cloud, credential: { type: 'secret', secret: { env: 'SECRET' } } } },
    monitors: [{ name: 'm', tenant: 't', mailbox: 'probe@example.org', checks: ['imap', 'smtp', 'pop3'] }],
  });
  const monitor = parseConfig(text, '/nonexistent/monitors.json').monitors[0];
  assert.ok(monitor);
  return monitor;
}

function namesOf(cloud: Cloud): string[] {
  const endpoints = CLOUD_ENDPOINTS[cloud];
  return [endpoints.authorityHost, resourceScope(cloud, 'exchange'), endpoints.mailHost, endpoints.smtpHost, endpoints.resources.graph.uri];
}

/** Every host and scope of the clouds whose values differ from `cloud`'s. */
function foreignNames(cloud: Cloud): string[] {
  const ownNames = new Set(namesOf(cloud));
  return CLOUDS.filter((other) => other !== cloud)
    .flatMap(namesOf)
    .filter((name) => !ownNames.has(name));
}

// Fixes that list every cloud's login host on purpose: the cloud itself is what they ask the admin to check.
const LISTS_ALL_CLOUDS = new Set(['token_unknown_tenant', 'token_wrong_cloud']);

describe('fix texts name the monitor’s own cloud', () => {
  for (const cloud of ['usgovdod', 'china'] as const) {
    test(`${cloud}: scope, consent URL and mail hosts are the ones the monitor uses`, () => {
      const monitor = monitorIn(cloud);
      const own = CLOUD_ENDPOINTS[cloud];
      assert.equal(monitor.tenant.scope, resourceScope(cloud, 'exchange'));
      assert.equal(monitor.endpoints.imap.host, own.mailHost);
      assert.equal(monitor.endpoints.smtp.host, own.smtpHost);
      const ref = monitorRef(monitor);

      const scope = diagnose({ reason: 'token_invalid_scope', stage: 'token', monitor: ref, now: NOW });
      assert.deepEqual(scope.fixes, [`Request exactly one scope: ${resourceScope(cloud, 'exchange')}`]);

      const consent = diagnose({ reason: 'role_missing', stage: 'role', protocol: 'smtp', monitor: ref, now: NOW });
      assert.equal(
        consent.fixes[1],
        `Or open as a tenant admin: https://${monitor.tenant.authorityHost}/${TENANT}/v2.0/adminconsent?client_id=${CLIENT}&scope=${monitor.tenant.scope}`,
      );

      for (const protocol of PROTOCOLS) {
        const mismatch = diagnose({ reason: 'tls_hostname_mismatch', stage: 'tls', protocol, monitor: ref, now: NOW });
        assert.deepEqual(mismatch.fixes, [`Use the canonical host name, e.g. ${monitor.endpoints[protocol].host}`]);
        const refused = diagnose({ reason: 'connect_refused', stage: 'connect', protocol, monitor: ref, now: NOW });
        const { host, port } = monitor.endpoints[protocol];
        assert.equal(refused.summary, `${PROTOCOL[protocol].label} connection to ${host}:${port} was refused`);
      }
    });

    test(`${cloud}: no fix for any reason at any stage names another cloud’s host or scope`, () => {
      const ref = monitorRef(monitorIn(cloud));
      const foreign = foreignNames(cloud);
      assert.ok(foreign.length > 0);
      for (const reason of REASONS) {
        if (LISTS_ALL_CLOUDS.has(reason)) continue;
        for (const stage of STAGES) {
          for (const protocol of PROTOCOLS) {
            const fixes = diagnose({ reason, stage, protocol, monitor: ref, now: NOW }).fixes.join('\n');
            for (const name of foreign) assert.ok(!fixes.includes(name), `${reason}/${stage}/${protocol} names ${name}:\n${fixes}`);
          }
        }
      }
    });
  }
});
