import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { REPO_ROOT, repoPath } from './repo.js';

export { REPO_ROOT, repoPath };
export const RULE_FILES = ['deploy/prometheus/recording-rules.yml', 'deploy/prometheus/alerts.yml'] as const;
export const RULE_TEST_DIR = 'deploy/prometheus/tests';
export const DASHBOARD_FILE = 'deploy/grafana/mailprobe-dashboard.json';

const HISTOGRAMS = ['mailprobe_check_duration_seconds', 'mailprobe_step_duration_seconds', 'mailprobe_delivery_latency_seconds'];

/** Every metric name the agent exports (histograms as their _bucket/_sum/_count series). */
export const AGENT_METRICS: readonly string[] = [
  'mailprobe_check_success',
  'mailprobe_check_last_duration_seconds',
  'mailprobe_checks_total',
  'mailprobe_check_failures_total',
  'mailprobe_check_failure_reason',
  'mailprobe_check_consecutive_failures',
  'mailprobe_check_last_success_timestamp_seconds',
  'mailprobe_check_last_run_timestamp_seconds',
  'mailprobe_check_last_delivery_seconds',
  'mailprobe_checks_skipped_total',
  'mailprobe_check_backoff_until_timestamp_seconds',
  'mailprobe_monitor_info',
  'mailprobe_monitor_interval_seconds',
  'mailprobe_monitor_cause',
  'mailprobe_token_requests_total',
  'mailprobe_token_expiry_timestamp_seconds',
  'mailprobe_token_role',
  'mailprobe_credential_expiry_timestamp_seconds',
  'mailprobe_signin_refresh_timestamp_seconds',
  'mailprobe_signin_lapse_timestamp_seconds',
  'mailprobe_build_info',
  'mailprobe_config_last_reload_success',
  'mailprobe_config_last_reload_success_timestamp_seconds',
  'mailprobe_notifications_total',
  'mailprobe_probe_mail_backlog',
  'mailprobe_probe_mail_cleanups_total',
  'mailprobe_exposition_bytes',
  'mailprobe_exposition_samples',
  'mailprobe_exposition_render_seconds',
  'mailprobe_shard_info',
  'mailprobe_shards',
  'mailprobe_shard_monitors',
  // only while a history store is configured
  'mailprobe_history_store_up',
  'mailprobe_history_writes_total',
  'mailprobe_history_results_written_total',
  'mailprobe_history_results_dropped_total',
  'mailprobe_history_pending_results',
  'mailprobe_history_pending_rows',
  ...HISTOGRAMS.flatMap((name) => [`${name}_bucket`, `${name}_sum`, `${name}_count`]),
];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds promtool: $PROMTOOL, else the PATH. Throws a message that says how to get it. */
export function promtoolPath(): string {
  const override = process.env['PROMTOOL'];
  if (override !== undefined && override !== '') {
    if (isExecutable(override)) return override;
    throw new Error(`PROMTOOL=${override} is not an executable file`);
  }
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const candidate = join(dir, 'promtool');
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    'promtool not found on PATH. The Prometheus rule and dashboard tests need it: install it ' +
      '(Debian/Ubuntu: apt-get install prometheus; or unpack a Prometheus release) or set PROMTOOL=/path/to/promtool.',
  );
}

export interface PromtoolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs promtool from the repository root; resolves with its exit code and output, never rejects on a non-zero exit. */
export function runPromtool(args: readonly string[], timeoutMs = 30_000): Promise<PromtoolRun> {
  const binary = promtoolPath();
  return new Promise((resolve, reject) => {
    execFile(binary, [...args], { cwd: REPO_ROOT, timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ code: 0, stdout, stderr });
        return;
      }
      if (typeof error.code === 'number') {
        resolve({ code: error.code, stdout, stderr });
        return;
      }
      reject(new Error(`promtool ${args.join(' ')} did not finish: ${error.message}`));
    });
  });
}

export interface RuleDefinition {
  file: string;
  group: string;
  kind: 'alert' | 'record';
  name: string;
  expr: string;
  labels: Record<string, string>;
  annotations: string[];
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) return v.slice(1, -1);
  return v;
}

/** The lines indented deeper than `parentIndent` that follow `start`, i.e. a block scalar or a nested mapping. */
function childLines(lines: readonly string[], start: number, parentIndent: number): string[] {
  const out: string[] = [];
  for (let i = start; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      out.push('');
      continue;
    }
    if (indentOf(line) <= parentIndent) break;
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

function mappingKeys(lines: readonly string[]): Array<[string, string]> {
  const base = Math.min(...lines.filter((line) => line.trim() !== '').map(indentOf));
  const pairs: Array<[string, string]> = [];
  for (const line of lines) {
    if (line.trim() === '' || indentOf(line) !== base) continue;
    const match = /^\s*([A-Za-z_][\w-]*):\s*(.*)$/.exec(line);
    if (match !== null) pairs.push([match[1] ?? '', unquote(match[2] ?? '')]);
  }
  return pairs;
}

/**
 * Reads the rules of one Prometheus rule file. Not a YAML parser: it understands the layout the shipped files use
 * (`- name:` groups; `- alert:`/`- record:` items; `expr:` inline or as a `|`/`>` block; `labels:`/`annotations:`
 * mappings). rules.test.ts checks the rule count against promtool's own.
 */
export function parseRuleFile(relative: string): RuleDefinition[] {
  const lines = readFileSync(repoPath(relative), 'utf8').split('\n');
  const rules: RuleDefinition[] = [];
  let group = '';
  let current: RuleDefinition | undefined;
  let ruleIndent = 0;
  lines.forEach((line, index) => {
    const groupMatch = /^\s*- name:\s*(.+)$/.exec(line);
    if (groupMatch !== null) {
      group = unquote(groupMatch[1] ?? '');
      return;
    }
    const ruleMatch = /^(\s*)- (alert|record):\s*(.+)$/.exec(line);
    if (ruleMatch !== null) {
      ruleIndent = (ruleMatch[1] ?? '').length + 2;
      current = {
        file: relative,
        group,
        kind: ruleMatch[2] === 'alert' ? 'alert' : 'record',
        name: unquote(ruleMatch[3] ?? ''),
        expr: '',
        labels: {},
        annotations: [],
      };
      rules.push(current);
      return;
    }
    if (current === undefined || indentOf(line) !== ruleIndent) return;
    const keyMatch = /^\s*(expr|labels|annotations):\s*(.*)$/.exec(line);
    if (keyMatch === null) return;
    const [, key, rest = ''] = keyMatch;
    const children = childLines(lines, index + 1, ruleIndent);
    if (key === 'expr') {
      const block = /^[|>][-+]?$/.test(rest.trim());
      current.expr = block
        ? children
            .map((child) => child.trim())
            .join('\n')
            .trim()
        : unquote(rest);
    } else if (key === 'labels') {
      current.labels = Object.fromEntries(mappingKeys(children));
    } else {
      current.annotations = mappingKeys(children).map(([name]) => name);
    }
  });
  return rules;
}

/** All alerting and recording rules mailprobe ships, recording rules first. */
export function ruleDefinitions(): RuleDefinition[] {
  return RULE_FILES.flatMap((file) => parseRuleFile(file));
}

export function ruleExpressions(): string[] {
  return ruleDefinitions().map((rule) => rule.expr);
}

/** Names recorded by the shipped recording rules. */
export function recordedNames(): string[] {
  return ruleDefinitions()
    .filter((rule) => rule.kind === 'record')
    .map((rule) => rule.name);
}

/** The promtool unit-test files, relative to the repository root. */
export function ruleTestFiles(): string[] {
  return readdirSync(repoPath(RULE_TEST_DIR))
    .filter((name) => name.endsWith('.yml') || name.endsWith('.yaml'))
    .sort()
    .map((name) => `${RULE_TEST_DIR}/${name}`);
}

export interface DashboardQuery {
  /** Panel title, or `variable <name>` for a template variable's series selector. */
  source: string;
  refId: string;
  /** As written in the dashboard, with Grafana variables ($tenant, $__rate_interval, ...). */
  expr: string;
}

interface DashboardTarget {
  refId?: unknown;
  expr?: unknown;
}

interface DashboardPanel {
  title?: unknown;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

interface DashboardVariable {
  name?: unknown;
  definition?: unknown;
}

export interface Dashboard {
  panels?: DashboardPanel[];
  templating?: { list?: DashboardVariable[] };
  [key: string]: unknown;
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(repoPath(DASHBOARD_FILE), 'utf8')) as Dashboard;
}

/** Every panel, rows' collapsed children included. */
export function flattenPanels(panels: readonly DashboardPanel[] = loadDashboard().panels ?? []): DashboardPanel[] {
  return panels.flatMap((panel) => [panel, ...flattenPanels(panel.panels ?? [])]);
}

export function dashboardQueries(dashboard: Dashboard = loadDashboard()): DashboardQuery[] {
  const fromPanels = flattenPanels(dashboard.panels ?? []).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      source: String(panel.title),
      refId: String(target.refId),
      expr: typeof target.expr === 'string' ? target.expr : '',
    })),
  );
  // label_values(<selector>, <label>) is Grafana syntax; its selector is PromQL and must match series too.
  const fromVariables = (dashboard.templating?.list ?? []).flatMap((variable) => {
    const match = /^label_values\((.+),\s*[A-Za-z_]\w*\)$/.exec(String(variable.definition));
    return match === null ? [] : [{ source: `variable ${String(variable.name)}`, refId: 'query', expr: match[1] ?? '' }];
  });
  return [...fromPanels, ...fromVariables];
}

export interface DashboardVariableValues {
  tenant: string;
  mailbox: string;
  check: string;
  rateInterval: string;
  range: string;
  interval: string;
}

/** "All" selections and plausible Grafana intervals. */
export const DEFAULT_VARIABLE_VALUES: DashboardVariableValues = {
  tenant: '.*',
  mailbox: '.*',
  check: '.*',
  rateInterval: '5m',
  range: '1h',
  interval: '1m',
};

export function substituteDashboardVariables(expr: string, values: DashboardVariableValues = DEFAULT_VARIABLE_VALUES): string {
  return expr
    .replaceAll('$__rate_interval', values.rateInterval)
    .replaceAll('$__range', values.range)
    .replaceAll('$__interval', values.interval)
    .replaceAll('$tenant', values.tenant)
    .replaceAll('$mailbox', values.mailbox)
    .replaceAll('$check', values.check);
}

/** Every dashboard query as plain PromQL, ready to send to Prometheus. */
export function dashboardExpressions(values: DashboardVariableValues = DEFAULT_VARIABLE_VALUES): string[] {
  return dashboardQueries().map((query) => substituteDashboardVariables(query.expr, values));
}

/** mailprobe metric and rule names an expression reads (string literals such as job="mailprobe" excluded). */
export function mailprobeIdentifiers(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  return [...new Set(code.match(/\bmailprobe[:_a-zA-Z0-9]*/g) ?? [])];
}

/** Identifiers in `expr` that are neither agent metrics nor recorded by the shipped rules. */
export function unknownIdentifiers(expr: string, known: ReadonlySet<string>): string[] {
  return mailprobeIdentifiers(expr).filter((name) => !known.has(name));
}

export interface PromtoolCheck extends PromtoolRun {
  file: string;
}

/**
 * Runs `promtool check rules` on the expressions, written as recording rules into a temporary file,
 * which makes promtool parse each as PromQL. The error output names the failing rule `expr_<index>`.
 */
export async function checkExpressions(exprs: readonly string[]): Promise<PromtoolCheck> {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-exprs-'));
  const file = join(dir, 'exprs.yml');
  const rules = exprs.map((expr, index) => {
    const body = expr
      .split('\n')
      .map((line) => `          ${line}`)
      .join('\n');
    return `      - record: expr_${index}\n        expr: |\n${body}\n`;
  });
  writeFileSync(file, `groups:\n  - name: expressions\n    rules:\n${rules.join('')}`);
  try {
    return { ...(await runPromtool(['check', 'rules', file])), file };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An alert expression with its conditions taken out, for proving it matches what the agent exports on a run
 * where the alert rightly does not fire: every comparison outside label matchers becomes a `bool` comparison
 * (0/1 instead of dropping the series), `or` and `unless` become `and`, and `absent(X)` becomes `X`. The
 * result is non-empty only when every selector finds series and every join pairs them up, which a healthy
 * run can show although the alert itself is empty.
 */
export function conditionFreeExpression(expr: string): string {
  let out = '';
  let braces = 0;
  let quote = '';
  let i = 0;
  const nextWord = (from: number): string => /^\s*([A-Za-z_]\w*)/.exec(expr.slice(from))?.[1] ?? '';
  while (i < expr.length) {
    const ch = expr[i] ?? '';
    if (quote !== '') {
      out += ch;
      if (ch === '\\') {
        out += expr[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (ch === quote) quote = '';
      i += 1;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    if (ch === '{') braces += 1;
    if (ch === '}') braces -= 1;
    if (braces > 0 || quote !== '') {
      out += ch;
      i += 1;
      continue;
    }
    const comparison = /^(==|!=|>=|<=|>|<)/.exec(expr.slice(i))?.[1];
    if (comparison !== undefined) {
      out += comparison;
      i += comparison.length;
      if (nextWord(i) !== 'bool') out += ' bool';
      continue;
    }
    const word = /^[A-Za-z_:][\w:]*/.exec(expr.slice(i))?.[0];
    if (word !== undefined) {
      const absentCall = word === 'absent' && /^\s*\(/.test(expr.slice(i + word.length));
      out += word === 'or' || word === 'unless' ? 'and' : absentCall ? '' : word;
      i += word.length;
      continue;
    }
    out += ch;
    i += 1;
  }
  return out;
}
