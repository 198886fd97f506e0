import type { ImapFlow, ListResponse } from 'imapflow';
import { maskImapClientLine, withImapSession } from './imap.js';
import { headerFields, isDeletableProbeMail, PROBE_ID_HEADER, type ProbeMailPolicy } from './probe-mail.js';
import { runProbe, type ProbeRun } from './timing.js';
import { ProbeError } from './transport-errors.js';
import type { ProbeOutcome } from '../core/outcome.js';
import type { ProbeContext, ProbeFn } from './types.js';

/** More than this many look-alikes in one folder are left for the next run; bounds one run's work. */
const MAX_CANDIDATES_PER_FOLDER = 500;

const SWEPT_SPECIAL_USE = new Set(['\\Junk', '\\Trash', '\\Sent']);
// Exchange's English names, for servers that do not mark special use.
const SWEPT_NAMES = new Set(['junk email', 'deleted items', 'sent items']);

/** INBOX plus where Exchange puts probe mail besides: Junk Email, Deleted Items and Sent Items (its copy of each send). */
function probeFolders(folders: readonly ListResponse[]): string[] {
  const picked = folders
    .filter((folder) => !folder.flags.has('\\Noselect') && !folder.flags.has('\\NonExistent'))
    .filter((folder) => folder.path.toUpperCase() === 'INBOX' || SWEPT_SPECIAL_USE.has(folder.specialUse ?? '') || SWEPT_NAMES.has(folder.path.toLowerCase()))
    .map((folder) => folder.path);
  return picked.some((path) => path.toUpperCase() === 'INBOX') ? picked : ['INBOX', ...picked];
}

/** What one cleanup did: messages deleted, and own probe messages seen but left (too young, or not deletable). */
export interface CleanupResult {
  deleted: number;
  left: number;
}

/**
 * Deletes this monitor's probe messages over an authenticated session: the ids in `exact` (any age) and, when
 * the policy sweeps, every older one. Each folder is first opened read-only (EXAMINE) and read with BODY.PEEK, so
 * a folder holding nothing of ours is never opened for writing and no message's \Seen changes; only UIDs whose
 * fetched headers verify are flagged \Deleted and removed with UID EXPUNGE. Without UIDPLUS nothing is deleted,
 * because a plain EXPUNGE would also remove messages someone else marked \Deleted.
 */
export async function deleteProbeMail(
  client: ImapFlow,
  run: ProbeRun,
  policy: ProbeMailPolicy,
  exact: ReadonlySet<string>,
  now: number,
): Promise<CleanupResult> {
  if (!client.capabilities.has('UIDPLUS')) {
    throw new ProbeError('cleanup_failed', 'the server does not offer UIDPLUS; a plain EXPUNGE could remove messages that are not ours', {
      stage: 'cleanup',
      protocol: 'imap',
    });
  }
  const folders = probeFolders(await client.list());
  const result: CleanupResult = { deleted: 0, left: 0 };
  for (const folder of folders) {
    const examined = await client.mailboxOpen(folder, { readOnly: true });
    if (examined.exists === 0) continue;
    const uids = (await findProbeMail(client, policy.sweep ? 'any' : exact)).slice(0, MAX_CANDIDATES_PER_FOLDER);
    if (uids.length === 0) continue;
    const messages = await client.fetchAll(uids, { uid: true, headers: [PROBE_ID_HEADER, 'Message-ID'] }, { uid: true });
    const own = messages.filter((message) => isDeletableProbeMail(message.headers, { isOwn: policy.isOwn, sweepMinAgeMs: 0 }, exact, now));
    const doomed = own.filter((message) => isDeletableProbeMail(message.headers, policy, exact, now)).map((message) => message.uid);
    result.left += own.length - doomed.length;
    if (doomed.length === 0) continue;
    const selected = await client.mailboxOpen(folder);
    if (selected.uidValidity !== examined.uidValidity) {
      run.transcript.note(`cleanup: ${folder} changed UIDVALIDITY between EXAMINE and SELECT; left for the next run`);
      result.left += doomed.length;
      continue;
    }
    if (!(await client.messageDelete(doomed.join(','), { uid: true }))) {
      throw new ProbeError('cleanup_failed', `the server refused to delete ${doomed.length} probe message(s) in ${folder}`, {
        stage: 'cleanup',
        protocol: 'imap',
      });
    }
    run.transcript.note(`cleanup: deleted ${doomed.length} probe message(s) in ${folder}`);
    result.deleted += doomed.length;
  }
  return result;
}

/** Records a cleanup's result: what it came to and the probe mail it left (measured), and how many it deleted. */
export function recordCleanup(run: ProbeRun, result: CleanupResult): void {
  run.facts.cleanedUp = result.deleted;
  run.measured.probeMailLeft = result.left;
  run.measured.cleanup = result.deleted > 0 ? 'deleted' : 'not_found';
}

// Whether Exchange answers SEARCH HEADER for a custom field is unconfirmed, and IMAP4rev2 sessions are reported to
// find nothing at all; so when the HEADER search finds nothing the Subject is searched, each a single plain ASCII
// key (never a parenthesised or OR'ed query), and only the headers fetched afterwards decide what is ours.
const SUBJECT_WORD = 'mailprobe';

/**
 * UIDs in the selected folder that may be probe mail: for 'any', messages with an X-Mailprobe-Id field, else those
 * with "mailprobe" in the Subject; for ids, each id's header, else its MAC (32 hex digits, in the Subject too).
 */
export async function findProbeMail(client: ImapFlow, ids: ReadonlySet<string> | 'any'): Promise<number[]> {
  const lookups =
    ids === 'any'
      ? [{ header: { header: { [PROBE_ID_HEADER]: true } }, subject: { subject: SUBJECT_WORD } }]
      : [...ids].map((id) => ({ header: { header: { [PROBE_ID_HEADER]: id } }, subject: { subject: id.split('.').at(-1) ?? id } }));
  const uids = new Set<number>();
  for (const lookup of lookups) {
    let found = (await client.search(lookup.header, { uid: true })) || [];
    if (found.length === 0) found = (await client.search(lookup.subject, { uid: true })) || [];
    for (const uid of found) uids.add(uid);
  }
  return [...uids].sort((a, b) => a - b);
}

/** Of the candidate UIDs, those whose X-Mailprobe-Id field is exactly `id` (the Subject only points the way). */
export async function confirmProbeMail(client: ImapFlow, uids: readonly number[], id: string): Promise<number[]> {
  if (uids.length === 0) return [];
  const messages = await client.fetchAll([...uids], { uid: true, headers: [PROBE_ID_HEADER] }, { uid: true });
  return messages
    .filter((message) => (headerFields(message.headers, [PROBE_ID_HEADER]).get(PROBE_ID_HEADER.toLowerCase()) ?? []).includes(id))
    .map((message) => message.uid);
}

/** Whatever stops a cleanup after the probe's real work succeeded is cleanup_failed, with the server's words kept. */
export function asCleanupFailure(err: unknown): ProbeError {
  if (err instanceof ProbeError && err.reason === 'cleanup_failed') return err;
  const why = err instanceof Error ? err.message : String(err);
  const serverText = err instanceof ProbeError ? err.serverText : undefined;
  // Finding and deleting probe mail is IMAP whichever check does it.
  return new ProbeError('cleanup_failed', `probe messages could not be deleted: ${why}`, {
    stage: 'cleanup',
    protocol: 'imap',
    ...(serverText !== undefined ? { serverText } : {}),
  });
}

/**
 * A sending check followed by a sweep of the monitor's older probe messages over IMAP, when the runner's policy
 * asks for one (the smtp check of a monitor without a roundtrip check, whose messages nobody else deletes). The
 * sweep runs only after the check passed; its failure fails the check as cleanup_failed at stage cleanup, with
 * the check's own steps and facts kept.
 */
export function sweepingAfter(probe: ProbeFn): ProbeFn {
  return async (ctx: ProbeContext): Promise<ProbeOutcome> => {
    const sent = await probe(ctx);
    const policy = ctx.probeMail;
    if (!sent.ok || !policy?.cleanup || !policy.sweep) return sent;
    const started = ctx.clock.monotonic();
    const swept = await runProbe(ctx, 'imap', maskImapClientLine, async (run) => {
      try {
        await withImapSession(ctx, run, 'cleanup', async (client) => {
          recordCleanup(run, await deleteProbeMail(client, run, policy, new Set(), ctx.clock.now()));
        });
      } catch (err) {
        throw asCleanupFailure(err);
      }
    });
    // The sweep is housekeeping over IMAP: its failure must not paint SMTP red (the imap check reports IMAP
    // trouble), so it shows as the cleanup's outcome, a fact and a transcript note, and its IMAP steps stay out of the SMTP timings.
    const cleanup = { step: 'cleanup' as const, seconds: (ctx.clock.monotonic() - started) / 1000 };
    if (swept.failure) {
      ctx.transcript.note(`sweep of older probe messages failed (${swept.failure.reason}); the SMTP check itself passed`);
      return {
        ...sent,
        steps: [...sent.steps, cleanup],
        measured: { ...sent.measured, cleanup: 'failed' },
        facts: { ...sent.facts, sweep: `failed: ${swept.failure.reason}` },
      };
    }
    return { ...sent, steps: [...sent.steps, cleanup], measured: { ...sent.measured, ...swept.measured }, facts: { ...sent.facts, ...swept.facts } };
  };
}
