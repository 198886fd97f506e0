import { createPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { startExchange, type ExchangeEmulator } from '../../src/sandbox/exchange.js';
import { defaultSecretValue, SandboxModel, type TenantSpec } from '../../src/sandbox/model.js';
import type { TestbedLike } from './monitors.js';

export interface EmulatorBed extends TestbedLike {
  model: SandboxModel;
  entra: EntraServer;
  exchange: ExchangeEmulator;
  close(): Promise<void>;
}

/**
 * The Entra ID and Exchange Online emulators with one healthy tenant: Exchange's exact wire texts, for tests
 * that need byte-exact Exchange behaviour rather than real-server interoperability (the Dovecot test bed).
 */
export async function startEmulatorBed(
  tenant: TenantSpec = { domain: 'contoso.onmicrosoft.com', mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }] },
): Promise<EmulatorBed> {
  const pki = await createPki();
  const model = SandboxModel.fromSpec([tenant]);
  const entra = await startEntra({ model, tls: pki.server });
  const exchange = await startExchange({ model, tls: pki.server });
  const record = model.tenants()[0]!;
  const clientId = [...record.apps.keys()][0]!;
  return {
    ca: pki.ca.cert,
    model,
    entra,
    exchange,
    tenantId: record.tenantId,
    clientId,
    clientSecret: defaultSecretValue(clientId),
    mailbox: [...record.mailboxes.values()][0]!.address,
    imap: exchange.imap,
    pop3: exchange.pop3,
    smtp: exchange.smtp,
    graph: exchange.graph,
    close: async () => {
      await Promise.allSettled([entra.close(), exchange.close()]);
    },
  };
}
