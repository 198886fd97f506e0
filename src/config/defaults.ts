import { resolve } from 'node:path';
import type { CheckKind } from '../core/check.js';
import { DEFAULT_CHECKS } from '../core/checks.js';
import type { ProbeMailSettings, ResolvedMonitor, StatusPageSettings } from './types.js';

export const BUILT_IN_DEFAULTS = {
  checks: [...DEFAULT_CHECKS] as CheckKind[],
  schedule: '*/5 * * * *',
  timeoutSeconds: 60,
  stepTimeoutSeconds: 20,
  // Loopback: other hosts reach the agent only where the operator says so (agent.listen plus a credential or insecureListen).
  listen: '127.0.0.1:9465',
  concurrency: 32,
  logLevel: 'info' as const,
  shutdownGraceSeconds: 30,
  stateDir: '.mailprobe',
  roundtripDeadlineSeconds: 300,
  roundtripPollSeconds: 5,
  cleanup: true,
  // A tenth of Exchange Online's SMTP AUTH limits (30 a minute, 10,000 recipients a day per mailbox).
  sendBudget: { perMinute: 3, perDay: 1000 },
  statusPage: { title: 'Mail status', public: true, reasons: true, incidents: true, pageSize: 50, refreshSeconds: 60 } satisfies StatusPageSettings,
};

export const PROBE_ID_KEY_FILE = 'probe-id.key';

/** Probe-mail settings from what a monitor (or its defaults) states; every field left out takes the built-in value. */
export function probeMailSettings(
  stated: {
    timeoutMs: number;
    stepTimeoutMs: number;
    cleanup?: boolean | undefined;
    deadlineSeconds?: number | undefined;
    pollSeconds?: number | undefined;
    sendBudget?: { perMinute?: number | undefined; perDay?: number | undefined } | undefined;
  },
  probeIdKeyFile: string,
): ProbeMailSettings {
  const deadlineMs = (stated.deadlineSeconds ?? BUILT_IN_DEFAULTS.roundtripDeadlineSeconds) * 1000;
  const pollSeconds = stated.pollSeconds ?? BUILT_IN_DEFAULTS.roundtripPollSeconds;
  return {
    cleanup: stated.cleanup ?? BUILT_IN_DEFAULTS.cleanup,
    roundtrip: {
      deadlineMs,
      pollMs: Math.min(pollSeconds * 1000, stated.stepTimeoutMs / 2),
      timeoutMs: stated.timeoutMs + deadlineMs,
    },
    sendBudget: {
      perMinute: stated.sendBudget?.perMinute ?? BUILT_IN_DEFAULTS.sendBudget.perMinute,
      perDay: stated.sendBudget?.perDay ?? BUILT_IN_DEFAULTS.sendBudget.perDay,
    },
    probeIdKeyFile,
  };
}

/** The monitor's probe-mail settings, or the built-in defaults for a monitor built by hand. */
export function probeMailOf(monitor: ResolvedMonitor): ProbeMailSettings {
  if (monitor.probeMail) return monitor.probeMail;
  const keyFile = resolve(monitor.tenant.baseDir, BUILT_IN_DEFAULTS.stateDir, PROBE_ID_KEY_FILE);
  return probeMailSettings({ timeoutMs: monitor.timeoutMs, stepTimeoutMs: monitor.stepTimeoutMs }, keyFile);
}

/** host:port, [v6]:port or :port (all interfaces) as the agent and --listen accept it. */
export function parseListen(listen: string): { host: string; port: number } {
  const split = listen.lastIndexOf(':');
  return { host: listen.slice(0, split).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(listen.slice(split + 1)) };
}
