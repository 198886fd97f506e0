import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Alert } from '../../src/alerting/alert.js';
import { alertsEndpoint, buildAlertmanagerBody } from '../../src/alerting/providers/alertmanager.js';
import { PROVIDERS } from '../../src/alerting/providers/index.js';
import { buildSlackBody } from '../../src/alerting/providers/slack.js';
import { buildTeamsBody } from '../../src/alerting/providers/teams.js';
import { buildWebhookBody } from '../../src/alerting/providers/webhook.js';
import { NOTIFIER_TYPES } from '../../src/config/alerting.js';

const firing: Alert = {
  event: 'firing',
  status: 'firing',
  fingerprint: '0123456789abcdef',
  monitor: 'probe-contoso',
  tenant: 'contoso',
  mailbox: 'probe@contoso.com',
  check: 'imap',
  stage: 'auth',
  reason: 'auth_failed',
  category: 'auth',
  summary: 'Exchange refused the token',
  serverText: 'A1 NO AUTHENTICATE failed.',
  fixes: ['Add-MailboxPermission -Identity probe@contoso.com -User <sp> -AccessRights FullAccess', 'Wait 30 minutes'],
  startedAt: Date.parse('2025-03-01T10:00:00.000Z'),
};

const { serverText: _said, ...silent } = firing;
const resolved: Alert = { ...silent, event: 'resolved', status: 'resolved', endedAt: Date.parse('2025-03-01T10:30:00.000Z') };

const changed: Alert = {
  ...firing,
  event: 'reason_changed',
  stage: 'token',
  reason: 'token_secret_expired',
  category: 'token',
  summary: 'The client secret expired',
  previous: { reason: 'auth_failed', category: 'auth', endedAt: Date.parse('2025-03-01T10:20:00.000Z') },
};

describe('the failure detail (what check prints as the reason in our words)', () => {
  const detailed: Alert = { ...firing, detail: 'client secret of tenant "contoso": environment variable CONTOSO_SECRET is not set' };

  test('reaches the webhook body, the chat cards and Alertmanager', () => {
    assert.equal((buildWebhookBody(detailed) as { detail: unknown }).detail, detailed.detail);
    assert.ok(JSON.stringify(buildTeamsBody(detailed)).includes(String.raw`CONTOSO\\_SECRET is not set`), 'escaped for Markdown');
    assert.ok(JSON.stringify(buildSlackBody(detailed)).includes('CONTOSO_SECRET is not set'));
    const [alert] = buildAlertmanagerBody(detailed, {}) as Array<{ annotations: Record<string, string> }>;
    assert.equal(alert?.annotations['detail'], detailed.detail);
  });
});

describe("the monitor's cause", () => {
  const caused: Alert = { ...firing, cause: 'protocol:imap' };
  const recaused: Alert = {
    ...caused,
    event: 'reason_changed',
    cause: 'mailbox',
    previous: { reason: 'auth_failed', category: 'auth', cause: 'protocol:imap', endedAt: Date.parse('2025-03-01T10:20:00.000Z') },
  };

  test('is a webhook field, with the one told before', () => {
    assert.deepEqual(buildWebhookBody(caused), { ...buildWebhookBody(firing), cause: 'protocol:imap' });
    const body = buildWebhookBody(recaused) as { cause: unknown; previousCause: unknown; previousReason: unknown };
    assert.deepEqual([body.cause, body.previousCause, body.previousReason], ['mailbox', 'protocol:imap', 'auth_failed']);
  });

  test('is an Alertmanager label and in the description; a new cause ends the old label set', () => {
    const [current] = buildAlertmanagerBody(caused, {}) as Array<{ labels: Record<string, string>; annotations: Record<string, string> }>;
    assert.equal(current?.labels['cause'], 'protocol:imap');
    assert.match(current?.annotations['description'] ?? '', /\nCause: protocol:imap\. IMAP is refused while other ways into the same mailbox work/);
    const [ended, next] = buildAlertmanagerBody(recaused, {}) as Array<{ labels: Record<string, string>; endsAt?: string }>;
    assert.deepEqual([ended?.labels['cause'], ended?.labels['reason'], ended?.endsAt], ['protocol:imap', 'auth_failed', '2025-03-01T10:20:00.000Z']);
    assert.deepEqual([next?.labels['cause'], next?.endsAt], ['mailbox', undefined]);
  });

  test('is a line of the Teams and Slack cards, and the headline says a new cause', () => {
    const teams = JSON.stringify(buildTeamsBody(recaused));
    assert.ok(teams.includes('FIRING (new cause): probe-contoso imap (auth\\\\_failed)'), teams.slice(0, 400));
    assert.ok(teams.includes('Cause: mailbox (was protocol:imap). The problem is the mailbox itself'));
    assert.ok(JSON.stringify(buildSlackBody(caused)).includes('Cause: protocol:imap. IMAP is refused'));
    assert.ok(!JSON.stringify(buildSlackBody(firing)).includes('Cause:'), 'no cause line without a cause');
  });
});

describe('provider registry', () => {
  test('every notifier type has exactly one provider file, and every provider file is registered', () => {
    assert.deepEqual(Object.keys(PROVIDERS).sort(), [...NOTIFIER_TYPES].sort());
    const files = readdirSync(join(process.cwd(), 'src/alerting/providers'))
      .filter((file) => /\.ts$/.test(file))
      .map((file) => file.replace(/\.ts$/, ''))
      .filter((name) => !['index', 'types', 'text'].includes(name));
    assert.deepEqual(files.sort(), [...NOTIFIER_TYPES].sort());
  });
});

describe('webhook body', () => {
  test('firing', () => {
    assert.deepEqual(buildWebhookBody(firing), {
      version: 1,
      status: 'firing',
      event: 'firing',
      fingerprint: '0123456789abcdef',
      monitor: 'probe-contoso',
      tenant: 'contoso',
      mailbox: 'probe@contoso.com',
      check: 'imap',
      scope: 'check',
      mailboxes: null,
      stage: 'auth',
      reason: 'auth_failed',
      category: 'auth',
      previousReason: null,
      cause: null,
      previousCause: null,
      summary: 'Exchange refused the token',
      serverText: 'A1 NO AUTHENTICATE failed.',
      detail: null,
      fixes: ['Add-MailboxPermission -Identity probe@contoso.com -User <sp> -AccessRights FullAccess', 'Wait 30 minutes'],
      startedAt: '2025-03-01T10:00:00.000Z',
      endedAt: null,
    });
  });

  test('resolved and reason change keep one shape', () => {
    assert.deepEqual(buildWebhookBody(resolved), {
      ...buildWebhookBody(firing),
      status: 'resolved',
      event: 'resolved',
      serverText: null,
      detail: null,
      endedAt: '2025-03-01T10:30:00.000Z',
    });
    assert.deepEqual(buildWebhookBody(changed), {
      ...buildWebhookBody(firing),
      event: 'reason_changed',
      stage: 'token',
      reason: 'token_secret_expired',
      category: 'token',
      previousReason: 'auth_failed',
      summary: 'The client secret expired',
    });
  });
});

describe('Teams body', () => {
  test('firing: an Adaptive Card 1.4 with a FactSet, the server text and the fixes', () => {
    assert.deepEqual(buildTeamsBody(firing), {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            msteams: { width: 'Full' },
            body: [
              { type: 'TextBlock', text: 'FIRING: probe-contoso imap (auth\\_failed)', weight: 'Bolder', size: 'Medium', color: 'Attention', wrap: true },
              { type: 'TextBlock', text: 'Exchange refused the token', wrap: true },
              {
                type: 'FactSet',
                facts: [
                  { title: 'Monitor', value: 'probe-contoso' },
                  { title: 'Tenant', value: 'contoso' },
                  { title: 'Mailbox', value: 'probe@contoso.com' },
                  { title: 'Check', value: 'imap' },
                  { title: 'Stage', value: 'auth' },
                  { title: 'Reason', value: 'auth\\_failed' },
                  { title: 'Category', value: 'auth' },
                  { title: 'Failing since', value: '2025-03-01T10:00:00.000Z' },
                ],
              },
              { type: 'TextBlock', text: 'Server said', weight: 'Bolder', wrap: true },
              { type: 'TextBlock', text: 'A1 NO AUTHENTICATE failed.', fontType: 'Monospace', wrap: true },
              { type: 'TextBlock', text: 'How to fix', weight: 'Bolder', wrap: true },
              {
                type: 'TextBlock',
                text: 'Add-MailboxPermission -Identity probe@contoso.com -User \\<sp\\> -AccessRights FullAccess',
                wrap: true,
                spacing: 'Small',
              },
              { type: 'TextBlock', text: 'Wait 30 minutes', wrap: true, spacing: 'Small' },
            ],
          },
        },
      ],
    });
  });

  test('resolved: green headline, resolution time, no fixes', () => {
    const body = buildTeamsBody(resolved) as { attachments: Array<{ content: { body: Array<Record<string, unknown>> } }> };
    const blocks = body.attachments[0]?.content.body;
    assert.deepEqual(blocks?.[0], {
      type: 'TextBlock',
      text: 'RESOLVED: probe-contoso imap (auth\\_failed)',
      weight: 'Bolder',
      size: 'Medium',
      color: 'Good',
      wrap: true,
    });
    assert.deepEqual((blocks?.[2]?.['facts'] as unknown[]).slice(-2), [
      { title: 'Failing since', value: '2025-03-01T10:00:00.000Z' },
      { title: 'Resolved at', value: '2025-03-01T10:30:00.000Z' },
    ]);
    assert.equal(blocks?.length, 3);
  });
});

describe('Slack body', () => {
  test('firing: blocks with escaped mrkdwn and a text fallback', () => {
    assert.deepEqual(buildSlackBody(firing), {
      text: 'FIRING: probe-contoso imap (auth_failed): Exchange refused the token',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'FIRING: probe-contoso imap (auth_failed)' } },
        { type: 'section', text: { type: 'mrkdwn', text: 'Exchange refused the token' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Monitor*\nprobe-contoso' },
            { type: 'mrkdwn', text: '*Tenant*\ncontoso' },
            { type: 'mrkdwn', text: '*Mailbox*\nprobe@contoso.com' },
            { type: 'mrkdwn', text: '*Check*\nimap' },
            { type: 'mrkdwn', text: '*Stage*\nauth' },
            { type: 'mrkdwn', text: '*Reason*\nauth_failed' },
            { type: 'mrkdwn', text: '*Category*\nauth' },
            { type: 'mrkdwn', text: '*Failing since*\n2025-03-01T10:00:00.000Z' },
          ],
        },
        { type: 'section', text: { type: 'mrkdwn', text: '*Server said*\n```A1 NO AUTHENTICATE failed.```' } },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: '*How to fix*\n• Add-MailboxPermission -Identity probe@contoso.com -User &lt;sp&gt; -AccessRights FullAccess\n• Wait 30 minutes',
          },
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'mailprobe · fingerprint 0123456789abcdef' }] },
      ],
    });
  });

  test('a reason change names the old reason; long server text is cut inside its code block', () => {
    const body = buildSlackBody({ ...changed, serverText: 'x'.repeat(5000) }) as {
      blocks: Array<{ text?: { text: string }; fields?: Array<{ text: string }> }>;
    };
    assert.equal(body.blocks[0]?.text?.text, 'FIRING (new reason): probe-contoso imap (token_secret_expired)');
    assert.equal(body.blocks[2]?.fields?.[5]?.text, '*Reason*\ntoken_secret_expired (was auth_failed)');
    const said = body.blocks[3]?.text?.text ?? '';
    assert.ok(said.length <= 3000, `section text is ${said.length} characters`);
    assert.match(said, /^\*Server said\*\n```x+…```$/);
  });
});

describe('Alertmanager body', () => {
  const expectedLabels = {
    alertname: 'MailprobeAgentCheckAlert',
    monitor: 'probe-contoso',
    tenant: 'contoso',
    mailbox: 'probe@contoso.com',
    check: 'imap',
    reason: 'auth_failed',
    category: 'auth',
    severity: 'critical',
  };

  test('firing: no endsAt, so Alertmanager keeps it while it is re-posted', () => {
    assert.deepEqual(buildAlertmanagerBody(firing, { generatorURL: 'http://mailprobe:9465/api/status' }), [
      {
        labels: expectedLabels,
        annotations: {
          summary: 'Exchange refused the token',
          description:
            'The imap check of probe@contoso.com (monitor probe-contoso) fails at the auth stage: auth_failed.\nServer said: A1 NO AUTHENTICATE failed.',
          fix: 'Add-MailboxPermission -Identity probe@contoso.com -User <sp> -AccessRights FullAccess\nWait 30 minutes',
        },
        startsAt: '2025-03-01T10:00:00.000Z',
        generatorURL: 'http://mailprobe:9465/api/status',
      },
    ]);
  });

  test('resolved: same labels, endsAt set; severity from the notifier', () => {
    const [alert] = buildAlertmanagerBody(resolved, { severity: 'warning' }) as Array<Record<string, unknown>>;
    assert.deepEqual(alert?.['labels'], { ...expectedLabels, severity: 'warning' });
    assert.equal(alert?.['startsAt'], '2025-03-01T10:00:00.000Z');
    assert.equal(alert?.['endsAt'], '2025-03-01T10:30:00.000Z');
    assert.equal(alert?.['generatorURL'], undefined);
  });

  test('a reason change ends the old label set and starts the new one', () => {
    const body = buildAlertmanagerBody(changed, {}) as Array<{ labels: Record<string, string>; endsAt?: string }>;
    assert.deepEqual(
      body.map((alert) => [alert.labels['reason'], alert.labels['category'], alert.endsAt]),
      [
        ['auth_failed', 'auth', '2025-03-01T10:20:00.000Z'],
        ['token_secret_expired', 'token', undefined],
      ],
    );
  });

  test('the v2 alerts path is appended to a base URL, kept when already there', () => {
    const cases: Array<[string, string]> = [
      ['http://alertmanager:9093', 'http://alertmanager:9093/api/v2/alerts'],
      ['http://alertmanager:9093/', 'http://alertmanager:9093/api/v2/alerts'],
      ['https://ops.example/am/', 'https://ops.example/am/api/v2/alerts'],
      ['http://alertmanager:9093/api/v2/alerts', 'http://alertmanager:9093/api/v2/alerts'],
    ];
    for (const [base, expected] of cases) assert.equal(alertsEndpoint(new URL(base)).href, expected, base);
  });
});

describe('a tenant-wide alert', () => {
  const tenantWide: Alert = {
    ...firing,
    fingerprint: 'fedcba9876543210',
    stage: 'send',
    reason: 'tenant_external_limit',
    category: 'mailbox',
    summary: 'The tenant exceeded its daily limit for external recipients',
    serverText: '550 5.7.233 Message rejected. Tenant has exceeded its daily limit for sending to external recipients.',
    mailboxes: ['a@contoso.com', 'b@contoso.com', 'probe@contoso.com'],
  };

  test('webhook: scope tenant and every mailbox', () => {
    const body = buildWebhookBody(tenantWide) as Record<string, unknown>;
    assert.equal(body.scope, 'tenant');
    assert.deepEqual(body.mailboxes, ['a@contoso.com', 'b@contoso.com', 'probe@contoso.com']);
    assert.equal(body.tenant, 'contoso');
  });

  test('Teams and Slack: the headline names the tenant and the count, the facts list the mailboxes, not one check', () => {
    const teams = JSON.stringify(buildTeamsBody(tenantWide));
    const slack = JSON.stringify(buildSlackBody(tenantWide));
    for (const body of [teams, slack]) {
      assert.match(body, /FIRING: tenant contoso, 3 mailboxes \(tenant\\*_external\\*_limit\)/);
      assert.match(body, /a@contoso\.com, b@contoso\.com, probe@contoso\.com/);
      assert.doesNotMatch(body, /probe-contoso/, 'no single monitor is named');
    }
  });

  test('Alertmanager: labels tenant and reason only, the mailboxes in an annotation', () => {
    const [posted] = buildAlertmanagerBody(tenantWide, {}) as Array<{ labels: Record<string, string>; annotations: Record<string, string> }>;
    assert.deepEqual(Object.keys(posted?.labels ?? {}).sort(), ['alertname', 'category', 'reason', 'severity', 'tenant']);
    assert.equal(posted?.labels.tenant, 'contoso');
    assert.equal(posted?.annotations.mailboxes, 'a@contoso.com\nb@contoso.com\nprobe@contoso.com');
    assert.match(posted?.annotations.description ?? '', /^The tenant contoso is blocked for 3 mailbox\(es\)/);
  });
});
