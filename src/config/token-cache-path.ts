import { createHash } from 'node:crypto';
import { join } from 'node:path';

// Where a delegated sign-in is kept (auth/token-cache.ts reads and writes it); here because the loader resolves it.

export const TOKEN_CACHE_KEY_FILE = 'token-cache.key';
const TOKEN_CACHE_DIR = 'token-cache';

/** Who a cache file belongs to: also the additional authenticated data of its encryption. */
export interface CacheOwner {
  tenantId: string;
  clientId: string;
  account: string;
}

/** The cache file of one delegated sign-in, named by the account (readable) and a hash of its owner (unique). */
export function cacheFileFor(stateDir: string, owner: CacheOwner): string {
  const safe = owner.account
    .toLowerCase()
    .replace(/[^a-z0-9._@-]/g, '_')
    .slice(0, 100);
  const hash = createHash('sha256').update(`${owner.tenantId}\n${owner.clientId}\n${owner.account}`.toLowerCase()).digest('hex').slice(0, 12);
  return join(stateDir, TOKEN_CACHE_DIR, `${safe}.${hash}.json`);
}
