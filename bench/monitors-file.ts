/**
 * A monitors.json of `monitors` monitors on `schedules` distinct yearly schedules (so none runs while measured),
 * a quarter of them disabled, as a large estate has them; shared by the reload bench and the 20,000-monitor test.
 */
export function bigMonitorsFile(options: {
  monitors: number;
  schedules: number;
  imap?: { host: string; port: number };
  extra?: unknown[];
  /** The tenant the monitors use, under `tenantKey` (default "t"). */
  tenant?: Record<string, unknown>;
  tenantKey?: string;
}): string {
  const tenantKey = options.tenantKey ?? 't';
  const imap = options.imap ?? { host: '127.0.0.1', port: 993 };
  const monitors = Array.from({ length: options.monitors }, (_, i) => ({
    name: `bulk-${i}`,
    tenant: tenantKey,
    mailbox: `probe${i}@contoso.onmicrosoft.com`,
    checks: ['imap'],
    schedule: `${i % options.schedules} 0 1 1 *`,
    ...(i % 4 === 3 ? { enabled: false } : {}),
    imap,
  }));
  return JSON.stringify({
    tenants: {
      [tenantKey]: options.tenant ?? {
        tenantId: 'contoso.onmicrosoft.com',
        clientId: '11111111-2222-3333-4444-555555555555',
        credential: { type: 'secret', secret: { env: 'MAILPROBE_BENCH_SECRET' } },
      },
    },
    monitors: [...(options.extra ?? []), ...monitors],
  });
}
