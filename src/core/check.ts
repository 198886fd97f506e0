import { PROTOCOLS, type Protocol } from './protocols.js';

// The words every folder shares for what is checked, over which protocol, and at which step. The check kinds and
// protocols are the keys of their descriptor tables (checks.ts, protocols.ts), in the tables' order.
export { CHECK_KINDS, type CheckKind } from './checks.js';
export { PROTOCOLS, type Protocol };

export function isProtocol(value: string): value is Protocol {
  return (PROTOCOLS as readonly string[]).includes(value);
}

// Stages double as step names in timings, so one label set serves results, logs and metrics.
export const STAGES = [
  'config',
  'token',
  'role',
  'connect',
  'tls',
  'greeting',
  'capability',
  'starttls',
  'auth',
  'list',
  'stat',
  'send',
  'delivery',
  'cleanup',
  'logout',
] as const;
export type Stage = (typeof STAGES)[number];

export function isStage(value: string): value is Stage {
  return (STAGES as readonly string[]).includes(value);
}

// Why a scheduled run did not start. A check over its send budget is not skipped: it runs and fails with
// send_budget_exhausted, so the failure shows where people look.
export type SkipReason = 'overlap' | 'concurrency' | 'backoff';
