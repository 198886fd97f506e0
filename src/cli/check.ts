import type { ResolvedMonitor } from '../config/types.js';
import { formatIssue } from '../config/errors.js';
import { Redactor } from '../log/redact.js';
import { CHECK_KINDS, type CheckKind } from '../core/check.js';
import { systemClock } from '../core/clock.js';
import { CHECK } from '../core/checks.js';
import type { CheckResult } from '../core/result.js';
import { runCheck } from '../runner/run-check.js';
import { createRuntime } from '../runner/runtime.js';
import { EXIT, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';
import { ADHOC_HELP, ADHOC_OPTIONS, adhocConfig, isAdhoc } from './adhoc.js';
import { checkJson, collectingTranscript, formatResult, streamingTranscript } from './report.js';
import { terminalText } from './terminal.js';

export const CHECK_HELP = `Usage: mailprobe check [--config FILE] [--monitor NAME]... [--check imap|smtp|pop3|roundtrip]... [--json]

Runs each selected monitor's checks once, now, and prints the protocol session step by step (tokens and
XOAUTH2 strings masked) with a verdict, the reason and the fix. Exit codes: 0 all passed, 1 a check failed,
2 bad usage or configuration, 3 internal error.

${ADHOC_HELP}`;

const CHECK_OPTIONS = {
  config: { type: 'string' },
  monitor: { type: 'string', multiple: true },
  check: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  ...ADHOC_OPTIONS,
} satisfies Options;

export const checkCommand = defineCommand({ name: 'check', help: CHECK_HELP, options: CHECK_OPTIONS, run: check });

async function check({ values, io, readConfig }: CommandInput<typeof CHECK_OPTIONS>): Promise<number> {
  const adhoc = isAdhoc(values);
  if (adhoc && values.config !== undefined) throw new UsageError('check: --config or the command-line monitor (--tenant-id …), not both');
  if (adhoc && values.monitor !== undefined) throw new UsageError('check: --monitor names a monitor of a file; the command-line monitor has none');
  const onlyChecks = selectChecks(values.check);
  const config = adhoc ? adhocConfig(values, onlyChecks, io) : readConfig();
  for (const warning of config.warnings) print(io.stderr, `warning: ${formatIssue(warning)}`);
  const monitors = selectMonitors(config.monitors, values.monitor);

  const redactor = new Redactor();
  const { deps } = createRuntime({ clock: systemClock, redactor, env: io.env });
  const results: Array<CheckResult & { transcript?: string[] }> = [];
  for (const monitor of monitors) {
    const checks = monitor.checks.filter((check) => !onlyChecks || onlyChecks.includes(check));
    if (!values.json) print(io.stdout, `monitor ${monitor.name} — ${monitor.mailbox} (tenant ${monitor.tenant.key})`);
    for (const check of checks) {
      if (values.json) {
        const transcript = collectingTranscript(redactor);
        const result = await runCheck(deps, monitor, check, { transcript });
        results.push({ ...result, transcript: transcript.lines });
        continue;
      }
      // The endpoint of the protocol it speaks first (a round trip sends before it reads).
      const endpoint = monitor.endpoints[CHECK[check].protocols[0]];
      print(io.stdout, `  ${check} → ${endpoint.host}:${endpoint.port}`);
      const result = await runCheck(deps, monitor, check, { transcript: streamingTranscript(io.stdout, redactor) });
      results.push(result);
      print(io.stdout, terminalText(redactor.redact(formatResult(result))));
    }
  }
  const failed = results.filter((result) => !result.outcome.ok).length;
  if (values.json) {
    print(io.stdout, JSON.stringify(redactor.redactDeep({ ok: failed === 0, results: results.map(checkJson) }), null, 2));
  } else {
    print(io.stdout, `${results.length - failed} passed, ${failed} failed`);
  }
  return failed === 0 ? EXIT.ok : EXIT.checkFailed;
}

function selectMonitors(monitors: ResolvedMonitor[], names: string[] | undefined): ResolvedMonitor[] {
  if (!names || names.length === 0) return monitors.filter((monitor) => monitor.enabled);
  return names.map((name) => {
    const monitor = monitors.find((candidate) => candidate.name === name);
    if (!monitor) throw new UsageError(`check: no monitor named "${name}" (monitors: ${monitors.map((m) => m.name).join(', ')})`);
    return monitor;
  });
}

function selectChecks(kinds: string[] | undefined): CheckKind[] | undefined {
  if (!kinds || kinds.length === 0) return undefined;
  return kinds.map((kind) => {
    const found = CHECK_KINDS.find((candidate) => candidate === kind);
    if (!found) throw new UsageError(`check: unknown check "${kind}" (checks: ${CHECK_KINDS.join(', ')})`);
    return found;
  });
}
