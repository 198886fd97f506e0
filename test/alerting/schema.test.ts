import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { AlertingConfig, REASON_CATEGORIES } from '../../src/config/alerting.js';
import { REASONS, reasonCategory } from '../../src/core/reasons.js';

function issues(input: unknown): string[] {
  const parsed = AlertingConfig.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('AlertingConfig', () => {
  test('accepts every notifier type and every URL form', () => {
    const input = {
      failureThreshold: 2,
      successThreshold: 2,
      repeatIntervalMinutes: 0,
      alertmanagerResendSeconds: 30,
      maxAttempts: 3,
      queueSize: 10,
      stateFile: '/var/lib/mailprobe/alerts.json',
      notifiers: [
        { type: 'webhook', name: 'hook', url: 'https://hooks.example/mailprobe', headers: { Authorization: { env: 'HOOK_AUTH' } } },
        { type: 'teams', name: 'team', url: { env: 'TEAMS_WEBHOOK_URL' }, categories: ['token', 'auth'] },
        { type: 'slack', name: 'chat', url: { file: 'secrets/slack-url' }, monitors: ['probe-contoso'], sendResolved: false },
        { type: 'alertmanager', name: 'am', url: 'http://alertmanager:9093', severity: 'warning', generatorURL: 'http://mailprobe:9465/api/status' },
      ],
    };
    assert.deepEqual(AlertingConfig.parse(input), input);
    assert.deepEqual(issues({ notifiers: [] }), []);
  });

  test('rejects unknown keys, unknown types and categories, duplicate names, and type-specific keys elsewhere', () => {
    assert.deepEqual(issues({ notifiers: [], treshold: 3 }), [': Unrecognized key: "treshold"']);
    assert.equal(issues({ notifiers: [{ type: 'pagerduty', name: 'p', url: 'https://x' }] }).length, 1);
    assert.deepEqual(
      issues({ notifiers: [{ type: 'slack', name: 's', url: 'https://x', categories: ['network'] }] }).map((issue) => issue.split(':')[0]),
      ['notifiers.0.categories.0'],
    );
    assert.deepEqual(
      issues({
        notifiers: [
          { type: 'slack', name: 'same', url: 'https://x' },
          { type: 'teams', name: 'same', url: 'https://y' },
        ],
      }),
      ['notifiers: notifier names must be unique'],
    );
    assert.deepEqual(issues({ notifiers: [{ type: 'slack', name: 's', url: 'https://x', severity: 'page' }] }), ['notifiers.0: Unrecognized key: "severity"']);
    assert.deepEqual(
      issues({ failureThreshold: 0, notifiers: [] }).map((issue) => issue.split(':')[0]),
      ['failureThreshold'],
    );
  });

  test('the category filter offers every category a reason can have', () => {
    const used = new Set(REASONS.map(reasonCategory));
    assert.deepEqual(
      [...used].filter((category) => !(REASON_CATEGORIES as readonly string[]).includes(category)),
      [],
    );
    assert.equal(used.size, REASON_CATEGORIES.length);
  });

  test('every field is described, for the published JSON Schema', () => {
    const schema = z.toJSONSchema(AlertingConfig, { io: 'input' }) as { properties: Record<string, { description?: string }> };
    const undocumented = Object.entries(schema.properties)
      .filter(([, property]) => !property.description)
      .map(([name]) => name);
    assert.deepEqual(undocumented, []);
    const notifiers = z.toJSONSchema(AlertingConfig.shape.notifiers, { io: 'input' }) as {
      items: {
        oneOf?: Array<{ properties: Record<string, { description?: string }> }>;
        anyOf?: Array<{ properties: Record<string, { description?: string }> }>;
      };
    };
    const variants = notifiers.items.oneOf ?? notifiers.items.anyOf ?? [];
    assert.equal(variants.length, 4);
    for (const variant of variants) {
      assert.deepEqual(
        Object.entries(variant.properties)
          .filter(([, property]) => !property.description)
          .map(([name]) => name),
        [],
      );
    }
  });
});
