import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BINARIES, VMAIL_USER } from './packages.js';
import { canConnect, pickPorts } from './ports.js';
import { classifyStartFailure, spawnDaemon, waitReady, withPortRetry, type Daemon } from './daemon.js';

export interface DovecotOptions {
  /** Private directory for config, sockets, state and logs. */
  dir: string;
  /** Root of the per-user homes: <mailRoot>/<user>/Maildir. */
  mailRoot: string;
  tls: { certFile: string; keyFile: string };
  bridge: { grantUrl: string; clientId: string; clientSecret: string };
  debug?: boolean;
}

export interface Dovecot {
  imapPort: number;
  pop3Port: number;
  /** Unix socket Postfix delivers to (LMTP). */
  lmtpSocket: string;
  /** Unix socket Postfix's smtpd authenticates through (Dovecot SASL). */
  authSocket: string;
  logFiles: string[];
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

// Dovecot reads settings verbatim; a path with whitespace or quotes would silently mean something else.
function assertPlainPath(file: string): string {
  if (!/^[\w./@+-]+$/.test(file)) throw new Error(`test bed path not usable in dovecot.conf: ${file}`);
  return file;
}

function dovecotConf(options: DovecotOptions, ports: { imap: number; pop3: number }, runDir: string): string {
  const dir = assertPlainPath(options.dir);
  const debug = options.debug ? 'yes' : 'no';
  return `# mailprobe test bed: a private instance, isolated from any system Dovecot by base_dir, state_dir and ports.
instance_name = ${path.basename(path.dirname(dir))}
base_dir = ${runDir}
state_dir = ${dir}/state
listen = 127.0.0.1
protocols = imap pop3 lmtp
log_path = ${dir}/dovecot.log
auth_verbose = yes
auth_debug = ${debug}
mail_debug = ${debug}

ssl = required
ssl_cert = <${assertPlainPath(options.tls.certFile)}
ssl_key = <${assertPlainPath(options.tls.keyFile)}
disable_plaintext_auth = yes
# Exchange Online offers XOAUTH2 only; offering OAUTHBEARER too would steer clients (imapflow) away from it.
auth_mechanisms = xoauth2
# Exchange answers a bad token at once; Dovecot's default 2 s delay and per-IP penalty would only slow tests.
auth_failure_delay = 0

passdb {
  driver = oauth2
  mechanisms = xoauth2
  args = ${dir}/oauth2.conf.ext
}
# allow_all_users: LMTP looks users up in the userdb only, and the oauth2 passdb cannot answer that.
userdb {
  driver = static
  args = allow_all_users=yes uid=${VMAIL_USER} gid=${VMAIL_USER} home=${assertPlainPath(options.mailRoot)}/%Lu
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
namespace inbox {
  inbox = yes
  separator = /
  mailbox "Sent Items" {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox "Deleted Items" {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox "Junk Email" {
    special_use = \\Junk
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${ports.imap}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${ports.pop3}
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    user = postfix
    group = postfix
    mode = 0600
  }
}
service auth {
  unix_listener auth-postfix {
    user = postfix
    group = postfix
    mode = 0600
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

function oauth2Conf(options: DovecotOptions): string {
  return `# Password grant: Dovecot POSTs user + bearer token (+ X-Dovecot-Auth-Service) to the test bed's auth bridge.
grant_url = ${options.bridge.grantUrl}
use_grant_password = yes
send_auth_headers = yes
client_id = ${options.bridge.clientId}
client_secret = ${options.bridge.clientSecret}
username_attribute = username
timeout_msecs = 5000
debug = ${options.debug ? 'yes' : 'no'}
`;
}

export async function startDovecot(options: DovecotOptions): Promise<Dovecot> {
  const runDir = path.join(options.dir, 'run');
  await mkdir(path.join(options.dir, 'state'), { recursive: true });
  await writeFile(path.join(options.dir, 'oauth2.conf.ext'), oauth2Conf(options), { mode: 0o600 });
  const confFile = path.join(options.dir, 'dovecot.conf');
  const logFiles = [path.join(options.dir, 'dovecot.log'), path.join(options.dir, 'dovecot.stderr.log')];
  const lmtpSocket = path.join(runDir, 'lmtp');
  const authSocket = path.join(runDir, 'auth-postfix');

  return withPortRetry(PORT_ATTEMPTS, async () => {
    const [imap, pop3] = (await pickPorts(2)) as [number, number];
    // A failed attempt may leave sockets behind that would pass for readiness.
    await rm(runDir, { recursive: true, force: true });
    await writeFile(confFile, dovecotConf(options, { imap, pop3 }, runDir));
    const daemon: Daemon = spawnDaemon('dovecot', BINARIES.dovecot, ['-F', '-c', confFile], logFiles[1] as string);
    const ready = async (): Promise<boolean> => existsSync(lmtpSocket) && existsSync(authSocket) && (await canConnect(imap)) && (await canConnect(pop3));
    try {
      await waitReady(daemon, ready, { timeoutMs: START_TIMEOUT_MS, logFiles });
    } catch (error) {
      await daemon.stop();
      throw await classifyStartFailure(error, [imap, pop3]);
    }
    return { imapPort: imap, pop3Port: pop3, lmtpSocket, authSocket, logFiles, stop: () => daemon.stop() };
  });
}
