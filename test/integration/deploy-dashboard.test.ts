import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  AGENT_METRICS,
  DASHBOARD_FILE,
  checkExpressions,
  dashboardExpressions,
  dashboardQueries,
  flattenPanels,
  loadDashboard,
  recordedNames,
  repoPath,
  unknownIdentifiers,
} from '../support/promtool.js';

const INPUT_REF = '${DS_PROMETHEUS}';

interface DatasourceRef {
  type?: unknown;
  uid?: unknown;
}

function referencesInput(datasource: unknown): boolean {
  if (typeof datasource !== 'object' || datasource === null) return false;
  const ref = datasource as DatasourceRef;
  return ref.type === 'prometheus' && ref.uid === INPUT_REF;
}

// The parsed JSON, looked at only through the fields each test needs.
interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  datasource?: unknown;
  targets?: Array<{ datasource?: unknown; expr?: unknown }>;
  fieldConfig?: { defaults?: { mappings?: Array<{ options?: Record<string, { text?: unknown }> }> } };
}

const dashboard = loadDashboard();
const panels = flattenPanels(dashboard.panels ?? []) as Panel[];
const exprsOf = (panel: Panel): string => (panel.targets ?? []).map((t) => String(t.expr)).join('\n');

describe('Grafana dashboard', () => {
  test('is importable: parses, declares the Prometheus input and a recent schema', () => {
    assert.doesNotThrow(() => JSON.parse(readFileSync(repoPath(DASHBOARD_FILE), 'utf8')));
    const inputs = dashboard['__inputs'] as Array<Record<string, unknown>>;
    assert.deepEqual(
      inputs.map((input) => [input['name'], input['type'], input['pluginId']]),
      [['DS_PROMETHEUS', 'datasource', 'prometheus']],
    );
    assert.ok(Number(dashboard['schemaVersion']) >= 39, 'schemaVersion');
    assert.equal(dashboard['uid'], 'mailprobe');
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  });

  test('every panel, target and variable uses the DS_PROMETHEUS input', () => {
    for (const panel of panels) {
      assert.ok(referencesInput(panel.datasource), `panel ${String(panel.title)}`);
      for (const target of panel.targets ?? []) assert.ok(referencesInput(target.datasource), `target of ${String(panel.title)}`);
    }
    for (const variable of dashboard.templating?.list ?? []) {
      assert.ok(referencesInput((variable as { datasource?: unknown }).datasource), `variable ${String(variable.name)}`);
    }
  });

  test('filters by tenant and mailbox through the monitor info join', () => {
    const variables = new Map((dashboard.templating?.list ?? []).map((v) => [String(v.name), String(v.definition)]));
    assert.match(variables.get('tenant') ?? '', /^label_values\(mailprobe_monitor_info\b/);
    assert.match(variables.get('mailbox') ?? '', /^label_values\(mailprobe_monitor_info\b/);
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const expr = String(target.expr);
        // Per-check series carry monitor and check only; tenant and mailbox are selected on the info series.
        for (const selector of expr.match(/mailprobe_checks?_[a-z_]+\{[^}]*\}/g) ?? []) {
          assert.doesNotMatch(selector, /tenant=|mailbox=/, `${String(panel.title)}: ${selector}`);
        }
        // Recorded series carry tenant and mailbox from the same join in the rules.
        if (expr.includes('$mailbox') && !expr.includes('mailprobe:')) {
          assert.ok(
            expr.includes('group_left (tenant, mailbox) mailprobe_monitor_info{tenant=~"$tenant", mailbox=~"$mailbox"}'),
            `${String(panel.title)}: ${expr}`,
          );
        }
      }
    }
  });

  test('has tenant, mailbox and check variables from label_values', () => {
    const variables = new Map((dashboard.templating?.list ?? []).map((v) => [String(v.name), String(v.definition)]));
    for (const name of ['tenant', 'mailbox', 'check']) {
      assert.match(variables.get(name) ?? '', new RegExp(`^label_values\\(.+, ${name}\\)$`), name);
    }
  });

  test('has the panels operators need', () => {
    const byMetric = (name: string): Panel[] => panels.filter((panel) => exprsOf(panel).includes(name));
    const status = byMetric('mailprobe_check_success{').filter((p) => p.type === 'state-timeline' || p.type === 'table');
    assert.equal(status.length, 1, 'status grid');
    const mapping = status[0]?.fieldConfig?.defaults?.mappings?.[0]?.options ?? {};
    assert.deepEqual([mapping['1']?.text, mapping['0']?.text], ['OK', 'FAIL']);
    const required = [
      'mailprobe_check_failure_reason',
      'mailprobe_check_duration_seconds_bucket',
      'mailprobe_step_duration_seconds_bucket',
      'mailprobe_check_last_duration_seconds',
      'mailprobe_delivery_latency_seconds_bucket',
      'mailprobe_check_last_delivery_seconds',
      'mailprobe_exposition_bytes',
      'mailprobe:check_availability:ratio_rate30d',
      'mailprobe:check_error_budget_remaining:ratio30d',
      'mailprobe_token_expiry_timestamp_seconds',
      'mailprobe_token_role',
      'mailprobe_credential_expiry_timestamp_seconds',
      'mailprobe_checks_skipped_total',
      'mailprobe_config_last_reload_success',
    ];
    for (const name of required) assert.ok(byMetric(name).length > 0, `no panel shows ${name}`);
    assert.ok(
      panels.filter((p) => p.type !== 'row').every((p) => (p.targets ?? []).length > 0),
      'panel without query',
    );
  });

  test('queries read only agent metrics and recorded rules', () => {
    const known = new Set([...AGENT_METRICS, ...recordedNames()]);
    const queries = dashboardQueries();
    assert.ok(queries.length >= 20, `only ${queries.length} queries`);
    for (const query of queries) {
      assert.deepEqual(unknownIdentifiers(query.expr, known), [], `${query.source} ${query.refId}`);
    }
  });

  test('every query is valid PromQL (promtool check rules)', async () => {
    const exprs = dashboardExpressions();
    for (const expr of exprs) assert.doesNotMatch(expr, /\$\w/, `unsubstituted variable in ${expr}`);
    const run = await checkExpressions(exprs);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    assert.match(run.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
  });

  test('the PromQL check rejects an invalid expression', async () => {
    const run = await checkExpressions(['sum by (mailbox (mailprobe_check_success)']);
    assert.notEqual(run.code, 0);
    assert.match(run.stdout + run.stderr, /expr_0/);
  });
});
