import type { CheckResult } from '../src/core/result.js';
import type { LoadedConfig } from '../src/config/types.js';

// The synthetic fleet of `npm run bench:fleet`: who the monitors are, when each check runs, and when it fails.
// One model, used three ways: the shard processes generate live results from it, the backfill writes the same
// history as SQL (bench/fleet-backfill.ts, integer arithmetic only, so SQLite and PostgreSQL compute it
// identically), and test/bench/fleet-data.test.ts checks that the two agree.
//
// Failures: on about 1.2 % of check-days a check has one failure streak of 1-11 results (5-55 min) starting in
// one hour of that day, so every streak lies inside one UTC hour. Reasons rotate over three realistic ones.

export const CHECKS = ['imap', 'smtp'] as const;
export type FleetCheck = (typeof CHECKS)[number];
export const INTERVAL_MS = 300_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const TENANTS = 500;

/** check index j = monitor * 2 + check; the SQL backfill uses the same numbering. */
export function checkIndex(monitor: number, check: FleetCheck): number {
  return monitor * CHECKS.length + CHECKS.indexOf(check);
}

export function monitorName(monitor: number): string {
  return `monitor-${monitor}`;
}

export function tenantOf(monitor: number): string {
  return `tenant-${monitor % TENANTS}`;
}

export function mailboxOf(monitor: number): string {
  return `probe${monitor}@${tenantOf(monitor)}.example`;
}

/** Offset of a check's runs inside the interval: 2M checks spread evenly over the 5 minutes, in whole ms. */
export function slotOf(j: number, checks: number): number {
  return Math.floor((j * INTERVAL_MS) / checks);
}

/** The SQL spelling of the three hash terms below, over columns j (check index) and dn (UTC day number). */
export const SQL_TERMS = {
  failing: '((j * 7919 + dn * 104729) % 997)',
  length: '(1 + ((j * 13 + dn * 7) % 11))',
  hour: '((j * 31 + dn * 17) % 24)',
} as const;
export const FAILING_BELOW = 12;

export interface Streak {
  /** First failed result. */
  startedAt: number;
  /** Failed results in the streak. */
  failures: number;
}

/** The failure streak of check j on UTC day dn, if it has one. */
export function streakOn(j: number, dn: number, slot: number): Streak | undefined {
  if ((j * 7919 + dn * 104729) % 997 >= FAILING_BELOW) return undefined;
  const failures = 1 + ((j * 13 + dn * 7) % 11);
  const hour = (j * 31 + dn * 17) % 24;
  return { startedAt: dn * DAY_MS + hour * HOUR_MS + slot, failures };
}

const REASONS = [
  { reason: 'auth_failed', stage: 'auth', serverText: 'NO AUTHENTICATE failed.' },
  { reason: 'timeout', stage: 'connect', serverText: undefined },
  { reason: 'throttled', stage: 'auth', serverText: '421 4.3.2 Service not available' },
] as const;

export function reasonOf(j: number, dn: number): (typeof REASONS)[number] {
  return REASONS[(j + dn) % REASONS.length] ?? REASONS[0];
}

/** Whether the run of check j at t fails. */
export function failsAt(j: number, t: number, slot: number): boolean {
  const streak = streakOn(j, Math.floor(t / DAY_MS), slot);
  return streak !== undefined && t >= streak.startedAt && t < streak.startedAt + streak.failures * INTERVAL_MS;
}

/** The run of a check at t (t is one of its slots), as the agent's runner hands it to the recorder. */
export function resultAt(monitor: number, check: FleetCheck, t: number, checks: number): CheckResult {
  const j = checkIndex(monitor, check);
  const identity = { monitor: monitorName(monitor), tenant: tenantOf(monitor), mailbox: mailboxOf(monitor), check, startedAt: t };
  if (!failsAt(j, t, slotOf(j, checks))) {
    return {
      ...identity,
      durationSeconds: 0.7,
      outcome: {
        ok: true,
        steps: [
          { step: 'connect', seconds: 0.012 },
          { step: 'tls', seconds: 0.041 },
          { step: 'auth', seconds: 0.38 },
          { step: check === 'imap' ? 'list' : 'send', seconds: 0.2 },
        ],
        measured: {},
        facts: {},
      },
    };
  }
  const { reason, stage, serverText } = reasonOf(j, Math.floor(t / DAY_MS));
  return {
    ...identity,
    durationSeconds: 8,
    outcome: {
      ok: false,
      steps: [{ step: 'connect', seconds: 0.012 }],
      measured: {},
      facts: {},
      failure: { stage, reason, message: reason, ...(serverText !== undefined ? { serverText } : {}) },
    },
    reason,
    diagnosis: { reason, summary: `Synthetic ${reason}`, candidates: [], fixes: ['Check the synthetic fleet'] },
  };
}

/**
 * The monitors shard `shard` of `shards` runs: every shards-th, so each monitor has exactly one shard and each
 * shard's checks are spread over the whole interval, as rendezvous hashing spreads them in production.
 */
export function monitorsOf(shard: number, shards: number, monitors: number): number[] {
  const own: number[] = [];
  for (let m = shard; m < monitors; m += shards) own.push(m);
  return own;
}

/** What an operator of a fleet configures (sla.maintenance): the weekly patch night, and one tenant's migration. */
export function maintenanceWindows(now: number): NonNullable<NonNullable<LoadedConfig['sla']>['maintenance']> {
  const day = Math.floor(now / DAY_MS) * DAY_MS;
  const local = (ms: number): string => new Date(ms).toISOString().slice(0, 16);
  return [
    { name: 'Exchange patch night', recurring: { at: '02:00', durationMinutes: 120, days: ['sun'] } },
    { name: 'tenant migration', tenants: [tenantOf(7)], start: local(day - 20 * DAY_MS + 20 * HOUR_MS), end: local(day - 19 * DAY_MS + 6 * HOUR_MS) },
  ];
}
