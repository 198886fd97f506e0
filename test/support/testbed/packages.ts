import { execFile } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The programs the test bed runs, from Debian's dovecot-* and postfix packages. */
export const BINARIES = {
  dovecot: '/usr/sbin/dovecot',
  dovecotImap: '/usr/lib/dovecot/imap',
  dovecotPop3: '/usr/lib/dovecot/pop3',
  dovecotLmtp: '/usr/lib/dovecot/lmtp',
  postfixMaster: '/usr/lib/postfix/sbin/master',
  postconf: '/usr/sbin/postconf',
  postqueue: '/usr/sbin/postqueue',
} as const;

export const VMAIL_USER = 'mailprobe-vmail';
const INSTALL_SCRIPT = '.ci/install-packages.sh';
const INSTALL_TIMEOUT_MS = 10 * 60_000;

async function missingBinaries(): Promise<string[]> {
  const checks = await Promise.all(
    Object.values(BINARIES).map(async (file: string): Promise<string | null> => {
      try {
        await access(file, constants.X_OK);
        return null;
      } catch {
        return file;
      }
    }),
  );
  return checks.filter((file): file is string => file !== null);
}

function failureText(error: unknown): string {
  if (error && typeof error === 'object' && 'stderr' in error && typeof error.stderr === 'string' && error.stderr.trim()) {
    return error.stderr.trim().split('\n').slice(-10).join('\n');
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Makes sure Dovecot and Postfix are installed, running the project's install script when they are not
 * (CI starts from a fresh machine). Throws a message that says what is missing and why it could not be had.
 */
export async function ensurePackages(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the real-server test bed runs Dovecot and Postfix, which must be started as root');
  }
  const before = await missingBinaries();
  if (before.length === 0) return;
  const script = path.resolve(process.cwd(), INSTALL_SCRIPT);
  try {
    await run('bash', [script], { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    throw new Error(`test bed: ${before.join(', ')} missing and ${INSTALL_SCRIPT} failed:\n${failureText(error)}`);
  }
  const after = await missingBinaries();
  if (after.length > 0) throw new Error(`test bed: ${after.join(', ')} still missing after ${INSTALL_SCRIPT}`);
}

/** uid and primary gid of a system user, or null. */
export async function lookupUser(name: string): Promise<{ uid: number; gid: number } | null> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

export async function lookupGroup(name: string): Promise<number | null> {
  const groups = await readFile('/etc/group', 'utf8');
  for (const line of groups.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined) return Number(gid);
  }
  return null;
}

/** The system user that owns test mailboxes (Dovecot refuses to deliver as root), created on first use. */
export async function ensureVmailUser(): Promise<{ uid: number; gid: number }> {
  const existing = await lookupUser(VMAIL_USER);
  if (existing) return existing;
  const args = ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', VMAIL_USER];
  try {
    await run('useradd', args, { timeout: 30_000 });
  } catch (error) {
    // Another test process may have created it between our look-up and useradd (exit 9: already exists).
    if (!(await lookupUser(VMAIL_USER))) throw new Error(`test bed: could not create user ${VMAIL_USER}: ${failureText(error)}`);
  }
  const created = await lookupUser(VMAIL_USER);
  if (!created) throw new Error(`test bed: user ${VMAIL_USER} missing after useradd`);
  return created;
}
