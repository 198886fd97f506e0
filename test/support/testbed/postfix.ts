import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BINARIES, lookupGroup, lookupUser } from './packages.js';
import { canConnect, pickPorts } from './ports.js';
import { classifyStartFailure, DaemonStartError, listProcesses, spawnDaemon, tails, waitReady, withPortRetry } from './daemon.js';

const run = promisify(execFile);

export interface PostfixOptions {
  /** Private directory: etc/ (main.cf, master.cf), queue/, data/ and postfix.log. */
  dir: string;
  tls: { certFile: string; keyFile: string };
  /** Dovecot's SASL socket. */
  authSocket: string;
  /** Dovecot's LMTP socket. */
  lmtpSocket: string;
  /** Mail for these domains goes to Dovecot over LMTP; nothing leaves the machine. */
  domains: string[];
}

export interface Postfix {
  submissionPort: number;
  logFiles: string[];
  /** Later mail stays in the queue (deferred) until resumeDelivery. */
  holdDelivery(): Promise<void>;
  /** Delivers what was held, and everything after. */
  resumeDelivery(): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;
const COMMAND_TIMEOUT_MS = 15_000;
const POSTFIX_USER = 'postfix';
const POSTDROP_GROUP = 'postdrop';

// Postfix's own file (meta_directory/postfix-files) gives these owners and modes; `postfix check` would create
// them but takes seconds, so the test bed lays them out itself.
const QUEUE_DIRS: Array<{ name: string; mode: number; owner: 'postfix' | 'root'; postdrop?: boolean }> = [
  ...['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace'].map((name) => ({
    name,
    mode: 0o700,
    owner: 'postfix' as const,
  })),
  { name: 'maildrop', mode: 0o730, owner: 'postfix', postdrop: true },
  { name: 'public', mode: 0o710, owner: 'postfix', postdrop: true },
  { name: 'pid', mode: 0o755, owner: 'root' },
];

function mainCf(options: PostfixOptions, dirs: { queue: string; data: string; log: string }): string {
  return `# mailprobe test bed: a private Postfix instance (own config, queue and data directories).
compatibility_level = 3.6
queue_directory = ${dirs.queue}
data_directory = ${dirs.data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = ${POSTFIX_USER}
setgid_group = ${POSTDROP_GROUP}
maillog_file = ${dirs.log}
maillog_file_prefixes = ${options.dir}

myhostname = testbed.mailprobe.invalid
mydomain = mailprobe.invalid
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_banner = $myhostname ESMTP mailprobe test bed
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0s
in_flow_delay = 0s
# A real-size XOAUTH2 AUTH line is longer than the default 2048.
line_length_limit = 65536

smtpd_tls_cert_file = ${options.tls.certFile}
smtpd_tls_key_file = ${options.tls.keyFile}
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${options.authSocket}
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
# Like Exchange Online: MAIL before AUTH gets 530 5.7.57 at once.
smtpd_delay_reject = no
smtpd_sender_restrictions = permit_sasl_authenticated, check_sender_access static:{530 5.7.57 Client not authenticated to send mail}
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject

virtual_mailbox_domains = ${options.domains.join(' ')}
virtual_transport = lmtp:unix:${options.lmtpSocket}
default_transport = error:the test bed delivers to its own domains only
relay_transport = error:the test bed delivers to its own domains only
defer_transports =
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`;
}

function masterCf(port: number): string {
  return `127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
lmtp      unix  - - n -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
`;
}

// Postfix waits (in 300 ms naps, ~2 s) before using a main.cf modified within the last moments, in case it is
// still being edited; dating our freshly written files back skips that wait.
async function backdate(file: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  await utimes(file, past, past);
}

async function writeConfig(file: string, text: string): Promise<void> {
  await writeFile(file, text);
  await backdate(file);
}

/** Pid of the master's live child running `command`, or null. */
async function childPid(parent: number, command: string): Promise<number | null> {
  const child = (await listProcesses()).find((proc) => proc.ppid === parent && proc.command === command && proc.state !== 'Z');
  return child?.pid ?? null;
}

async function layoutDirectories(queue: string, data: string): Promise<void> {
  const postfix = await lookupUser(POSTFIX_USER);
  const postdrop = await lookupGroup(POSTDROP_GROUP);
  if (!postfix || postdrop === null) throw new Error(`test bed: system user ${POSTFIX_USER} or group ${POSTDROP_GROUP} missing`);
  await mkdir(queue, { recursive: true, mode: 0o755 });
  for (const entry of QUEUE_DIRS) {
    const dir = path.join(queue, entry.name);
    await mkdir(dir, { recursive: true });
    await chown(dir, entry.owner === 'root' ? 0 : postfix.uid, entry.postdrop ? postdrop : 0);
    await chmod(dir, entry.mode);
  }
  await mkdir(data, { recursive: true });
  await chown(data, postfix.uid, postfix.gid);
  await chmod(data, 0o700);
}

/**
 * The master reports fatal start-up errors only to syslog (there may be none), before its own log service
 * runs; postconf's warnings about the same configuration are the next best explanation.
 */
async function withConfigWarnings(error: unknown, etc: string): Promise<unknown> {
  if (!(error instanceof DaemonStartError)) return error;
  const warnings = await run(BINARIES.postconf, ['-c', etc, '-n'], { timeout: COMMAND_TIMEOUT_MS }).then(
    (result) => result.stderr.trim(),
    (failure: unknown) => String(failure),
  );
  if (!warnings) return error;
  return new DaemonStartError('postfix', `failed to start; postconf says:\n${warnings}`, error.logTail);
}

export async function startPostfix(options: PostfixOptions): Promise<Postfix> {
  const etc = path.join(options.dir, 'etc');
  const queue = path.join(options.dir, 'queue');
  const data = path.join(options.dir, 'data');
  const log = path.join(options.dir, 'postfix.log');
  const logFiles = [log, path.join(options.dir, 'master.stderr.log')];
  await mkdir(etc, { recursive: true });
  await writeConfig(path.join(etc, 'main.cf'), mainCf(options, { queue, data, log }));

  const postfixCommand = async (command: string, args: string[]): Promise<void> => {
    try {
      await run(command, ['-c', etc, ...args], { timeout: COMMAND_TIMEOUT_MS });
    } catch (error) {
      throw new Error(`postfix: ${path.basename(command)} ${args.join(' ')} failed: ${String(error)}\n${await tails(logFiles)}`);
    }
  };

  return withPortRetry(PORT_ATTEMPTS, async () => {
    const [port] = (await pickPorts(1)) as [number];
    await writeConfig(path.join(etc, 'master.cf'), masterCf(port));
    // A failed attempt may leave a master.pid lock behind.
    await rm(path.join(queue, 'pid'), { recursive: true, force: true });
    await layoutDirectories(queue, data);
    // master without -w stays in the foreground (after making itself a session leader), so the test bed
    // owns it as a child process.
    const daemon = spawnDaemon('postfix', BINARIES.postfixMaster, ['-c', etc, '-s'], logFiles[1] as string);
    try {
      await waitReady(daemon, () => canConnect(port), { timeoutMs: START_TIMEOUT_MS, logFiles });
    } catch (error) {
      await daemon.stop();
      throw await withConfigWarnings(await classifyStartFailure(error, [port]), etc);
    }

    // defer_transports is read when qmgr starts. SIGHUP (what `postfix reload` sends) makes the master replace
    // its qmgr; only once the new one runs is the setting in force.
    const setDeferred = async (transports: string): Promise<void> => {
      await postfixCommand(BINARIES.postconf, ['-e', `defer_transports = ${transports}`]);
      await backdate(path.join(etc, 'main.cf'));
      const before = await childPid(daemon.pid, 'qmgr');
      process.kill(daemon.pid, 'SIGHUP');
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        const now = await childPid(daemon.pid, 'qmgr');
        if (now !== null && now !== before) return;
        if (Date.now() > deadline) throw new Error(`postfix: qmgr did not restart after reload\n${await tails(logFiles)}`);
        await sleep(50);
      }
    };
    return {
      submissionPort: port,
      logFiles,
      holdDelivery: () => setDeferred('lmtp'),
      async resumeDelivery(): Promise<void> {
        await setDeferred('');
        await postfixCommand(BINARIES.postqueue, ['-f']);
      },
      stop: () => daemon.stop(),
    };
  });
}
