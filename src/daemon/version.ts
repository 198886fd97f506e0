import { readFileSync } from 'node:fs';

// Walks up from this file because the same code runs compiled (dist/src/cli) and from source (src/cli).
function readVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const manifest: unknown = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'));
      if (manifest && typeof manifest === 'object' && 'name' in manifest && manifest.name === 'mailprobe' && 'version' in manifest) {
        return String(manifest.version);
      }
    } catch {
      // not at this level; try the next one up
    }
  }
  return 'unknown';
}

export const VERSION = readVersion();
