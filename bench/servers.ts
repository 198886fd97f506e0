import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createPki } from '../src/sandbox/certs.js';
import { startEntra } from '../src/sandbox/entra.js';
import { startExchange } from '../src/sandbox/exchange.js';
import { SandboxModel } from '../src/sandbox/model.js';
import { benchTenants, tenantSpecs, type ServersInfo, type ServersStats } from './layout.js';

// The Entra ID and Exchange Online emulators in a process of their own, so the CPU they spend is not charged
// to the agent or the baseline client. Usage: node servers.js <dir> <tenants> <monitors>. Prints one JSON
// line with the addresses; answers "stats" on stdin with another; exits when stdin closes.

async function main(): Promise<void> {
  const [dir, tenantCount, monitorCount] = process.argv.slice(2);
  if (!dir || !tenantCount || !monitorCount) throw new Error('usage: servers.js <dir> <tenants> <monitors>');
  const tenants = benchTenants({ tenants: Number(tenantCount), monitors: Number(monitorCount) });
  const pki = await createPki();
  const model = SandboxModel.fromSpec(tenantSpecs(tenants));
  const entra = await startEntra({ model, tls: pki.server });
  const exchange = await startExchange({ model, tls: pki.server });
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, pki.ca.cert);

  const info: ServersInfo = {
    pid: process.pid,
    authorityHost: entra.authorityHost,
    entraUrl: entra.url,
    caFile,
    imap: exchange.imap,
    smtp: exchange.smtp,
    graph: { host: exchange.graph.host, port: exchange.graph.port },
    tenants: tenants.map((tenant) => ({
      key: tenant.key,
      domain: tenant.domain,
      tenantId: model.findTenant(tenant.domain)?.tenantId ?? tenant.domain,
      clientId: tenant.clientId,
    })),
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);

  let closing = false;
  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await Promise.allSettled([entra.close(), exchange.close()]);
    process.exit(0);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() !== 'stats') return;
    const stats: ServersStats = { tokenRequests: entra.tokenRequests() };
    process.stdout.write(`${JSON.stringify(stats)}\n`);
  });
  lines.on('close', () => void close());
  process.on('SIGTERM', () => void close());
}

main().catch((error: unknown) => {
  process.stderr.write(`bench servers: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
