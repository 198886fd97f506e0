import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chooseExpiry, fetchAppCredentials, ownCredential } from '../auth/graph-credentials.js';
import { readSignIn } from '../auth/delegated.js';
import { credentialExpiry, type TokenProvider } from '../auth/token-provider.js';
import type { ResolvedTenant } from '../config/types.js';
import { resolveFrom } from '../config/secrets.js';
import type { Logger } from '../log/logger.js';
import type { MailprobeMetrics } from '../metrics/metrics.js';
import type { Clock } from '../core/clock.js';
import type { SignInBoard } from './status.js';

/** Expiry dates change rarely; a few Graph calls a day per app are plenty and stay far from Graph's limits. */
export const GRAPH_REFRESH_MS = 6 * 3600_000;

/**
 * Keeps mailprobe_credential_expiry_timestamp_seconds current: from Microsoft Graph for tenants that opted in,
 * otherwise from the certificate file, the federated token file or the expiry written in the config.
 */
export async function refreshCredentialExpiry(
  tenant: ResolvedTenant,
  deps: { tokens: TokenProvider; metrics: MailprobeMetrics; logger: Logger; clock: Clock; env: NodeJS.ProcessEnv; signIns?: SignInBoard },
): Promise<void> {
  if (tenant.delegated) {
    // Read at start and reload, so the lapse is on /metrics and /status/detail before the first check renews it.
    const signIn = readSignIn(tenant, deps.env);
    if (signIn.ok) {
      deps.metrics.setSignIn(tenant.key, tenant.clientId, signIn.lapse);
      deps.signIns?.set(tenant.key, signIn.lapse);
    }
    return;
  }
  const local = credentialExpiry(tenant, deps.env);
  // A federated or managed-identity token is not among the app's listed credentials: its own expiry is the one to watch.
  if (!tenant.graph || tenant.credential.type === 'federated' || tenant.credential.type === 'managedIdentity' || tenant.credential.type === 'delegated') {
    if (local) deps.metrics.setCredentialExpiry(tenant.key, tenant.clientId, local.type, local.expiresAt / 1000);
    return;
  }
  const result = await fetchAppCredentials(deps.tokens, tenant, {
    graphResource: tenant.graph.resource,
    ...(tenant.graph.baseUrl ? { graphBaseUrl: tenant.graph.baseUrl } : {}),
  });
  if (!result.ok) {
    deps.logger.warn('cannot read credential expiry from Microsoft Graph; using the local value', {
      tenant: tenant.key,
      reason: result.failure.reason,
      serverText: result.failure.serverText,
      detail: result.failure.message,
    });
    if (local) deps.metrics.setCredentialExpiry(tenant.key, tenant.clientId, local.type, local.expiresAt / 1000);
    return;
  }
  const expiry = chooseExpiry(result.credentials, ownCredential(tenant, deps.env, certificateThumbprint(tenant)), deps.clock.now());
  if (!expiry) return;
  deps.metrics.setCredentialExpiry(tenant.key, tenant.clientId, expiry.type, expiry.expiresAt / 1000);
}

function certificateThumbprint(tenant: ResolvedTenant): string | undefined {
  if (tenant.credential.type !== 'certificate') return undefined;
  try {
    return new X509Certificate(readFileSync(resolveFrom(tenant.baseDir, tenant.credential.certFile), 'utf8')).fingerprint.replace(/:/g, '');
  } catch {
    return undefined;
  }
}
