import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  AGENT_METRICS,
  RULE_FILES,
  parseRuleFile,
  recordedNames,
  repoPath,
  ruleDefinitions,
  ruleTestFiles,
  runPromtool,
  unknownIdentifiers,
} from '../support/promtool.js';

interface AlertCase {
  file: string;
  alertname: string;
  fires: boolean;
}

/**
 * The alert_rule_test cases of one promtool test file. Each case starts with `- eval_time:`; it fires when it
 * expects labels and is a must-not-fire case when its exp_alerts is empty or absent.
 */
function alertCases(file: string): AlertCase[] {
  const text = readFileSync(repoPath(file), 'utf8');
  const chunks = text.split(/^\s*- eval_time:.*$/m).slice(1);
  return chunks.flatMap((chunk) => {
    const name = /^\s*alertname:\s*(\S+)\s*$/m.exec(chunk)?.[1];
    if (name === undefined) return [];
    // A chunk runs to the next case, so only look up to the next test's input_series.
    const body = chunk.split(/^\s*- interval:/m)[0] ?? chunk;
    return [{ file, alertname: name, fires: /^\s*- exp_labels:/m.test(body) }];
  });
}

const alerts = ruleDefinitions().filter((rule) => rule.kind === 'alert');

describe('Prometheus rules', () => {
  test('promtool check rules accepts every rule file and counts the rules we parse', async () => {
    for (const file of RULE_FILES) {
      const run = await runPromtool(['check', 'rules', file]);
      assert.equal(run.code, 0, `promtool check rules ${file}:\n${run.stdout}${run.stderr}`);
      const found = /SUCCESS: (\d+) rules found/.exec(run.stdout)?.[1];
      assert.equal(Number(found), parseRuleFile(file).length, `rules parsed from ${file}`);
    }
  });

  test('promtool test rules passes for every test file', async () => {
    const files = ruleTestFiles();
    assert.ok(files.length > 0, 'no promtool test files');
    // One promtool per file, in parallel: each takes about a second.
    const runs = await Promise.all(files.map(async (file) => ({ file, run: await runPromtool(['test', 'rules', file]) })));
    for (const { file, run } of runs) {
      assert.equal(run.code, 0, `promtool test rules ${file}:\n${run.stdout}${run.stderr}`);
    }
  });

  test('every alert has a firing and a must-not-fire unit test', () => {
    const cases = ruleTestFiles().flatMap(alertCases);
    const defined = new Set(alerts.map((alert) => alert.name));
    for (const testCase of cases) {
      assert.ok(defined.has(testCase.alertname), `${testCase.file} tests unknown alert ${testCase.alertname}`);
    }
    for (const name of defined) {
      assert.ok(
        cases.some((c) => c.alertname === name && c.fires),
        `${name} has no test where it fires`,
      );
      assert.ok(
        cases.some((c) => c.alertname === name && !c.fires),
        `${name} has no test where it must not fire`,
      );
    }
  });

  test('every alert has a known severity, a summary and a description', () => {
    assert.ok(alerts.length >= 13, `only ${alerts.length} alerts parsed`);
    for (const alert of alerts) {
      assert.ok(['critical', 'warning', 'ticket'].includes(alert.labels['severity'] ?? ''), `${alert.name} severity`);
      assert.deepEqual([...alert.annotations].sort(), ['description', 'summary'], `${alert.name} annotations`);
    }
  });

  test('rules read only agent metrics and names recorded by the shipped rules', () => {
    const known = new Set([...AGENT_METRICS, ...recordedNames()]);
    for (const rule of ruleDefinitions()) {
      assert.deepEqual(unknownIdentifiers(rule.expr, known), [], `${rule.name} in ${rule.file}`);
    }
  });

  test('recording rules follow level:metric:operation and cover every availability window', () => {
    const recorded = recordedNames();
    for (const name of recorded) assert.match(name, /^mailprobe:[a-z0-9_]+:[a-z0-9_]+$/, name);
    for (const window of ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']) {
      assert.ok(recorded.includes(`mailprobe:check_availability:ratio_rate${window}`), `availability over ${window}`);
      assert.ok(recorded.includes(`mailprobe:check_error:ratio_rate${window}`), `error ratio over ${window}`);
    }
  });
});
