import { probeMailOf } from '../config/defaults.js';
import type { ProbeMailSettings, ResolvedMonitor } from '../config/types.js';
import { scopeFor, type TokenProvider } from '../auth/token-provider.js';
import { grantedPermissions, isCertain, tokenProblems, type TokenClaims } from '../diagnose/claims.js';
import { monitorRef } from '../diagnose/commands.js';
import { diagnose } from '../diagnose/diagnose.js';
import { backoffMsForReply } from '../diagnose/reply.js';
import type { ProbeIdKeyring, ProbeMailPolicy } from '../probes/probe-mail.js';
import type { CheckKind } from '../core/check.js';
import { CHECK, requiredPermissions, type GrantKind } from '../core/checks.js';
import { byProtocol, holdsRole, PROTOCOL, type ProtocolDescriptor } from '../core/protocols.js';
import type { Clock } from '../core/clock.js';
import type { ProbeFailure, ProbeOutcome, StepTiming } from '../core/outcome.js';
import { MailboxGate } from '../probes/graph-client.js';
import type { ProbeContext, ProbeFn, Transcript } from '../probes/types.js';
import { SILENT_TRANSCRIPT } from '../probes/timing.js';
import type { Authorisation, CheckResult } from '../core/result.js';
import { maskDiagnosis, maskOutcome, type Mask } from './mask.js';
import type { SendBudget } from './send-budget.js';

export interface CheckDeps {
  tokens: TokenProvider;
  clock: Clock;
  probes: Readonly<Partial<Record<CheckKind, ProbeFn>>>;
  /** The keyring in a key file (read or created once), which signs and verifies probe ids. */
  probeIds(keyFile: string): ProbeIdKeyring;
  /** Probe messages sent per mailbox, shared by every check the process runs. */
  sendBudget: SendBudget;
  /** Applied to every text of a result before it leaves runCheck. */
  redact: Mask;
  /**
   * The agent's one gate on HTTPS requests per mailbox (Graph's MailboxConcurrency), shared by every run of every
   * check; absent (tests that build their own deps): one gate per process.
   */
  mailboxGate?: MailboxGate;
  /** The environment the HTTPS checks read HTTPS_PROXY/NO_PROXY from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

const PROCESS_GATE = new MailboxGate();

export interface RunCheckOptions {
  transcript?: Transcript;
  /**
   * Told once the login service has answered: the token's claims (nothing secret), or undefined when it issued
   * none. Not called when the check stopped before asking (send budget, probe-id key). Doctor walks its checklist
   * on it instead of asking for a token of its own.
   */
  onToken?: (claims: TokenClaims | undefined) => void;
}

/**
 * Time an aborted probe gets to answer with the stage where it stopped before the runner reports a plain
 * timeout; its sockets close in the background either way. A check's result is due at its deadline, and the
 * soak benchmark counts anything later than this as an overrun (2 s here let 40 checks of a 9-minute soak run
 * 0.8-1.3 s past an 8 s deadline under load).
 */
const ABORT_GRACE_MS = 500;

/**
 * A wait a server asks for (Retry-After, Exchange's "Suggested Backoff Time") is honoured for at most this many
 * of the check's intervals: one Retry-After: 99999999 silenced a check until restart, and a 5-second test
 * schedule must be tried again within a minute.
 */
export const SERVER_BACKOFF_INTERVALS = 3;

// The runner, not the probe, owns the deadline, the token and what it shows, so every protocol gets them the
// same way and a probe body stays a plain protocol dialogue.
export async function runCheck(deps: CheckDeps, monitor: ResolvedMonitor, check: CheckKind, options: RunCheckOptions = {}): Promise<CheckResult> {
  const transcript = options.transcript ?? SILENT_TRANSCRIPT;
  const startedAt = deps.clock.now();
  const started = deps.clock.monotonic();
  const identity = { monitor: monitor.name, tenant: monitor.tenant.key, mailbox: monitor.mailbox, check };
  const maxBackoffSeconds = SERVER_BACKOFF_INTERVALS * monitor.intervalSeconds;
  const { resource } = CHECK[check];
  const finish = (raw: ProbeOutcome, claims?: TokenClaims, retryAfterSeconds?: number): CheckResult => {
    const outcome = maskOutcome(raw, deps.redact);
    const result: CheckResult = {
      ...identity,
      startedAt,
      durationSeconds: (deps.clock.monotonic() - started) / 1000,
      outcome,
    };
    if (outcome.failure) {
      // A failure the runner itself reports (token, role, deadline) speaks for the check's first protocol.
      const protocol = outcome.failure.protocol ?? CHECK[check].protocols[0];
      const diagnosis = diagnose({
        reason: outcome.failure.reason,
        stage: outcome.failure.stage,
        protocol,
        now: deps.clock.now(),
        endpoint: monitor.endpoints[protocol],
        ...(outcome.failure.serverText !== undefined ? { serverText: outcome.failure.serverText } : {}),
        ...(claims ? { claims } : {}),
        monitor: monitorRef(monitor),
        resource,
        check,
      });
      result.diagnosis = { ...maskDiagnosis(diagnosis, deps.redact), protocol, cloud: monitor.tenant.cloud };
      result.reason = result.diagnosis.reason;
      const backoff = retryAfterSeconds ?? secondsOf(backoffMsForReply(outcome.failure.serverText ?? ''));
      if (backoff !== undefined) result.retryAfterSeconds = Math.min(backoff, maxBackoffSeconds);
    }
    return result;
  };

  const probe = deps.probes[check];
  if (!probe) return finish(failed([], { stage: 'config', reason: 'config_invalid', message: `no probe for check "${check}"` }));

  const probeMail = probeMailOf(monitor);
  const sends = CHECK[check].sends;
  let keyring: ProbeIdKeyring | undefined;
  if (sends) {
    try {
      keyring = deps.probeIds(probeMail.probeIdKeyFile);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return finish(failed([], { stage: 'config', reason: 'config_invalid', message: `cannot read or create the probe-id key file: ${why}` }));
    }
  }
  // Taken before anything is contacted, so an exhausted budget costs no token request and no connection.
  const reservation = sends ? deps.sendBudget.reserve(monitor.mailbox, probeMail.sendBudget) : undefined;
  if (reservation && !reservation.ok) {
    const message = `${monitor.mailbox} already sent ${reservation.limit} probe message(s) in the last ${reservation.window}; nothing was sent`;
    transcript.note(`send budget: ${message}`);
    return finish(failed([], { stage: 'send', reason: 'send_budget_exhausted', message }), undefined, reservation.retryAfterSeconds);
  }

  const timeoutMs = CHECK[check].waitsForDelivery ? probeMail.roundtrip.timeoutMs : monitor.timeoutMs;
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), timeoutMs);
  let outcomeSteps: readonly StepTiming[] = [];
  try {
    const scope = scopeFor(monitor.tenant, resource);
    const delegated = monitor.tenant.delegated;
    const grant = delegated ? `the delegated sign-in of ${delegated.account}` : 'client credentials';
    transcript.note(
      `token: ${grant} for app ${monitor.tenant.clientId} at https://${monitor.tenant.authorityHost}/${monitor.tenant.tenantId}, scope ${delegated ? delegated.scopes.join(' ') : scope}`,
    );
    const tokenStart = deps.clock.monotonic();
    const token = await untilAborted(deps.tokens.getToken(monitor.tenant, scope, { maxWaitMs: maxBackoffSeconds * 1000 }), controller.signal, () => ({
      ok: false as const,
      failure: { stage: 'token' as const, reason: 'timeout' as const, message: 'no token before the check deadline' },
    }));
    const tokenStep: StepTiming = { step: 'token', seconds: (deps.clock.monotonic() - tokenStart) / 1000 };
    options.onToken?.(token.ok ? token.claims : undefined);
    if (!token.ok) {
      transcript.note(`token: failed (${token.failure.reason}) ${token.failure.serverText ?? token.failure.message}`);
      return finish(failed([tokenStep], token.failure), undefined, token.retryAfterSeconds);
    }
    // A user's token carries delegated permissions (scp), the app's its roles: each is judged on its own claim.
    const grantKind: GrantKind = delegated ? 'delegated' : 'application';
    const granted = grantedPermissions(token.claims, grantKind);
    const held = delegated ? `scp=${granted.join(' ') || '(none)'} upn=${token.claims.upn ?? '?'}` : `roles=${granted.join(',') || '(none)'}`;
    transcript.note(
      `token: aud=${token.claims.aud ?? '?'} ${held} appid=${token.claims.appid ?? '?'} tid=${token.claims.tid ?? '?'} exp=${token.claims.exp ? new Date(token.claims.exp * 1000).toISOString() : '?'}`,
    );

    // The token is evidence, not a gate: only what fails on every server stops the check here. A missing role
    // goes to the server, which may hold a grant the token does not show (Exchange RBAC for Applications).
    // An endpoint naming its own role (HVE's Mail.Send) replaces that protocol's.
    const required = requiredPermissions(
      check,
      grantKind,
      byProtocol((protocol) => monitor.endpoints[protocol].role),
    );
    const problems = tokenProblems(token.claims, {
      tenantId: monitor.tenant.tenantId,
      resource,
      requiredRoles: required,
      grant: grantKind,
      now: deps.clock.now(),
    });
    const problem = problems.find(isCertain);
    if (problem) {
      transcript.note(`token: ${problem.detail}; the mail server is not contacted`);
      return finish(failed([tokenStep], { stage: 'role', reason: problem.reason, message: problem.detail }), token.claims);
    }
    const lacking = problems.find((found) => !isCertain(found));
    if (lacking) transcript.note(`token: ${lacking.detail}; asking the server anyway${delegated ? '' : ', an Exchange-side grant may cover it'}`);

    const context: ProbeContext = {
      monitor: monitor.name,
      mailbox: monitor.mailbox,
      endpoints: monitor.endpoints,
      accessToken: token.token,
      signal: controller.signal,
      stepTimeoutMs: monitor.stepTimeoutMs,
      clock: deps.clock,
      transcript,
      newProbeId: () => {
        if (!keyring) throw new Error(`the ${check} check sends no probe message`);
        return keyring.issue(monitor.name, deps.clock.now());
      },
      probeMail: policyFor(monitor, probeMail, check, keyring, { granted, mailboxRead: PROTOCOL.imap[delegated ? 'delegatedScope' : 'role'] }, transcript),
    };
    // A check over an HTTPS API (Microsoft Graph) gets its endpoint with the agent's gate on requests per mailbox.
    const https = CHECK[check].protocols.find((protocol) => (PROTOCOL[protocol] as ProtocolDescriptor).transport === 'https');
    if (https) context.graph = { endpoint: monitor.endpoints[https], gate: deps.mailboxGate ?? PROCESS_GATE, ...(deps.env ? { env: deps.env } : {}) };
    const outcome = await untilAborted(
      probe(context),
      controller.signal,
      () => failed([], { stage: 'connect', reason: 'timeout', message: `the check did not finish within ${timeoutMs / 1000} s` }),
      ABORT_GRACE_MS,
    );
    outcomeSteps = outcome.steps;
    const result = finish({ ...outcome, steps: [tokenStep, ...outcome.steps] }, token.claims);
    if (result.outcome.ok) result.authorisation = authorisationOf(required, granted);
    return result;
  } catch (error) {
    // Probes promise not to throw; if one does, the check fails visibly instead of taking the agent down.
    const message = error instanceof Error ? error.message : String(error);
    return finish(failed([], { stage: 'connect', reason: 'internal_error', message: `unexpected error: ${message}` }));
  } finally {
    clearTimeout(deadline);
    // Exchange counts submissions; a check that never reached its send step gives the slot back.
    if (reservation?.ok && !outcomeSteps.some((step) => step.step === 'send')) reservation.release();
  }
}

/**
 * What the sending checks may delete. The roundtrip check sweeps the monitor's older probe messages on every run;
 * the smtp check does so only for a monitor without a roundtrip check, and only with a token that may open the
 * mailbox over IMAP (the smtp check itself needs just SMTP.SendAsApp). A message stays until no check of the
 * monitor can still be waiting for it: the longest check deadline plus the runner's grace.
 */
function policyFor(
  monitor: ResolvedMonitor,
  settings: ProbeMailSettings,
  check: CheckKind,
  keyring: ProbeIdKeyring | undefined,
  permissions: { granted: readonly string[]; mailboxRead: string },
  transcript: Transcript,
): ProbeMailPolicy {
  const { sweeps } = CHECK[check];
  let sweep = settings.cleanup && sweeps === 'always';
  if (settings.cleanup && sweeps === 'standin' && !monitor.checks.some((other) => CHECK[other].sweeps === 'always')) {
    sweep = permissions.granted.includes(permissions.mailboxRead);
    if (!sweep) transcript.note(`cleanup: the token lacks ${permissions.mailboxRead}, so older probe messages cannot be swept`);
  }
  return {
    cleanup: settings.cleanup && keyring !== undefined,
    sweep: sweep && keyring !== undefined,
    sweepMinAgeMs: Math.max(monitor.timeoutMs, settings.roundtrip.timeoutMs) + ABORT_GRACE_MS,
    isOwn: (id) => keyring?.verify(id, monitor.name) ?? false,
    roundtrip: { deadlineMs: settings.roundtrip.deadlineMs, pollMs: settings.roundtrip.pollMs },
  };
}

function authorisationOf(required: readonly string[], roles: readonly string[]): Authorisation {
  return { entraRoles: required.filter((role) => holdsRole(roles, role)), exchangeGranted: required.filter((role) => !holdsRole(roles, role)) };
}

export function failed(steps: StepTiming[], failure: ProbeFailure): ProbeOutcome {
  return { ok: false, steps, failure, measured: {}, facts: {} };
}

function secondsOf(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

/** Resolves with the work's result, or with onAbort() once the signal fires (plus a grace period). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => T, graceMs = 0): Promise<T> {
  if (signal.aborted && graceMs === 0) return Promise.resolve(onAbort());
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const abort = (): void => {
      timer = setTimeout(() => resolve(onAbort()), graceMs);
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', abort);
      if (timer) clearTimeout(timer);
    });
  });
}
