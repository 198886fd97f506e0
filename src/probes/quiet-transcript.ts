import type { Transcript } from './types.js';

// imapflow opens every session with ID and NAMESPACE, lists folders with LIST and LSUB, and each SELECT or
// EXAMINE answers with half a dozen status lines: ~150 lines a roundtrip that say nothing about whether the
// mailbox works. The transcript keeps the commands that do (search, fetch, store, expunge) and counts the rest in
// one note; a command that fails is always shown whole.

/** Commands whose whole exchange is hidden while it succeeds. */
const SESSION_CHATTER = new Set(['ID', 'NAMESPACE', 'LIST', 'LSUB', 'NOOP']);
/** Commands shown with their tagged answer, their untagged status lines hidden. */
const STATUS_CHATTER = new Set(['SELECT', 'EXAMINE']);

export function quietTranscript(out: Transcript): Transcript {
  let pending: { tag: string; verb: string; line: string; whole: boolean } | undefined;
  let hidden = 0;
  const hiddenVerbs = new Set<string>();
  const flush = (): void => {
    if (hidden === 0) return;
    out.note(`${hidden} line(s) of session set-up and folder listing not shown (${[...hiddenVerbs].join(', ')})`);
    hidden = 0;
    hiddenVerbs.clear();
  };
  const hide = (verb: string): void => {
    hidden += 1;
    hiddenVerbs.add(verb);
  };
  return {
    client: (line) => {
      const [tag = '', verb = ''] = line.split(' ', 2);
      const upper = verb.toUpperCase();
      const whole = SESSION_CHATTER.has(upper);
      pending = whole || STATUS_CHATTER.has(upper) ? { tag, verb: upper, line, whole } : undefined;
      // Counted once its answer says OK; a failed one is shown after all.
      if (whole) return;
      flush();
      out.client(line);
    },
    server: (line) => {
      if (!pending) {
        flush();
        return out.server(line);
      }
      if (!line.startsWith(`${pending.tag} `)) return hide(pending.verb);
      const ok = /^\S+ OK\b/i.test(line);
      if (pending.whole && ok) {
        hide(pending.verb);
        hide(pending.verb);
        pending = undefined;
        return;
      }
      // A SELECT's status lines are counted into the next note; a failed command is shown with its own line.
      if (pending.whole) {
        flush();
        out.client(pending.line);
      }
      pending = undefined;
      out.server(line);
    },
    note: (line) => {
      flush();
      out.note(line);
    },
  };
}
