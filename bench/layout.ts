import { deterministicGuid, type TenantSpec } from '../src/sandbox/model.js';

// The benchmark's tenant and mailbox names, shared by the emulator process (which registers them) and the
// orchestrator (which writes the monitors config), so neither has to ask the other.

export interface BenchLayout {
  tenants: number;
  monitors: number;
}

export interface BenchTenant {
  key: string;
  domain: string;
  clientId: string;
  mailboxes: string[];
}

/** Monitors dealt round-robin over the tenants, one mailbox per monitor. */
export function benchTenants(layout: BenchLayout): BenchTenant[] {
  const tenants: BenchTenant[] = Array.from({ length: layout.tenants }, (_, index) => {
    const key = `t${String(index).padStart(2, '0')}`;
    return { key, domain: `${key}.bench.onmicrosoft.com`, clientId: deterministicGuid(`bench-app-${key}`), mailboxes: [] };
  });
  for (let n = 0; n < layout.monitors; n++) {
    const tenant = tenants[n % layout.tenants]!;
    tenant.mailboxes.push(`probe${String(n).padStart(5, '0')}@${tenant.domain}`);
  }
  return tenants;
}

export function tenantSpecs(tenants: readonly BenchTenant[]): TenantSpec[] {
  return tenants.map((tenant) => ({
    domain: tenant.domain,
    displayName: tenant.key,
    apps: [{ clientId: tenant.clientId, displayName: `mailprobe bench ${tenant.key}` }],
    mailboxes: tenant.mailboxes.map((address) => ({ address })),
  }));
}

/** What bench/servers.ts prints on start-up. */
export interface ServersInfo {
  pid: number;
  authorityHost: string;
  entraUrl: string;
  caFile: string;
  imap: { host: string; port: number };
  smtp: { host: string; port: number };
  /** Microsoft Graph's mail endpoints (the graph checks). */
  graph: { host: string; port: number };
  tenants: { key: string; domain: string; tenantId: string; clientId: string }[];
}

/** What bench/servers.ts answers to "stats". */
export interface ServersStats {
  tokenRequests: number;
}
