import { join } from 'node:path';

// Tests run from the repository root (see package.json), both under tsx and from dist/.
export const REPO_ROOT = process.cwd();

export function repoPath(relative: string): string {
  return join(REPO_ROOT, relative);
}
