import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeliveryQueue, type DeliveryEvent } from '../../src/alerting/delivery.js';
import { fetchAppCredentials } from '../../src/auth/graph-credentials.js';
import { AuthorityHttpClient, MAX_BODY_BYTES } from '../../src/auth/http-client.js';
import type { ResolvedTenant } from '../../src/config/types.js';
import { Secret } from '../../src/core/secret.js';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { MemoryLogger } from '../alerting/support.js';
import { startEndlessPeer } from './http-peers.js';

// Issue 25 row 4: bodies from the login service, Graph and notifier receivers were read whole; a 300 MB answer
// took `check` to 1.05 GB RSS. Each peer here answers a body that never ends: the client must stop reading at
// its bound and go away, whatever the peer keeps sending.

// What loopback socket buffers can hold beyond what the client read before it closed.
const SOCKET_SLACK = 16 * 1024 * 1024;

describe('peers answering without end', () => {
  let pki: TestPki;
  before(async () => {
    pki = await createPki({ hostnames: ['127.0.0.1'] });
  });

  test('the login service: the answer is read to 1 MB, then the request fails as too large', async () => {
    const peer = await startEndlessPeer({ status: 400, tls: pki.server });
    after(() => peer.close());
    const errors: Array<Error & { code?: string }> = [];
    const client = new AuthorityHttpClient({
      ca: [pki.ca.cert],
      rejectUnauthorized: true,
      timeoutMs: 20_000,
      onExchange: () => undefined,
      onNetworkError: (_url, error) => errors.push(error),
    });
    await assert.rejects(client.sendPostRequestAsync(`${peer.url}/t/oauth2/v2.0/token`, { body: 'grant_type=client_credentials' }), /answered more than 1 MB/);
    await peer.abandoned;
    assert.equal(errors[0]?.code, 'ERESPONSETOOLARGE', 'the token provider sees a network error with its own code');
    assert.ok(peer.written() < MAX_BODY_BYTES + SOCKET_SLACK, `the peer wrote ${peer.written()} bytes before the client left`);
  });

  test('Microsoft Graph: an endless credential listing is a failure, not a read to the end', async () => {
    const peer = await startEndlessPeer({ status: 200, tls: pki.server });
    after(() => peer.close());
    const tenant = { key: 't', clientId: 'c', tls: { ca: [pki.ca.cert], rejectUnauthorized: true } } as unknown as ResolvedTenant;
    const tokens = {
      getToken: async () => ({ ok: true as const, token: new Secret('token'), claims: { roles: ['Application.Read.All'] }, expiresAt: Date.now() + 3_600_000 }),
    };
    const result = await fetchAppCredentials(tokens, tenant, { graphResource: peer.url });
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.failure.message, /ERESPONSETOOLARGE/);
    await peer.abandoned;
    assert.ok(peer.written() < MAX_BODY_BYTES + SOCKET_SLACK, `the peer wrote ${peer.written()} bytes before the client left`);
  });

  test('a notifier receiver: its refusal is read for the log line only, and the delivery ends at once', async () => {
    const peer = await startEndlessPeer({ status: 400 });
    after(() => peer.close());
    const logger = new MemoryLogger();
    const events: DeliveryEvent[] = [];
    const queue = new DeliveryQueue({
      notifier: 'hook',
      type: 'webhook',
      logger,
      now: () => Date.now(),
      timeoutMs: 20_000,
      queueSize: 10,
      retry: { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 },
      onDelivery: (event) => events.push(event),
    });
    queue.enqueue({ meta: {}, prepare: () => ({ ok: true, request: { url: new URL(peer.url), headers: {}, body: '{}' } }) });
    await queue.flush();
    await peer.abandoned;
    assert.deepEqual(
      events.map((event) => event.result),
      ['failure'],
    );
    assert.ok(peer.written() < SOCKET_SLACK, `the receiver wrote ${peer.written()} bytes before the client left`);
  });
});
