import type { CheckKind, Protocol, Stage } from '../core/check.js';
import { CHECK, type CheckDescriptor } from '../core/checks.js';
import { PROTOCOL } from '../core/protocols.js';
import { tokenProblems, type TokenClaims } from './claims.js';
import type { EndpointRef, MonitorRef } from './commands.js';
import type { ReasonCode } from '../core/reasons.js';
import { remedies } from './remediation.js';
import { backoffMsForReply, stripExchangeBracket } from './reply.js';
import type { TokenErrorInput } from './token-errors.js';
import type { Diagnosis } from '../core/result.js';
import type { TokenResource } from '../core/clouds.js';

export interface DiagnoseInput {
  reason: ReasonCode;
  stage: Stage;
  protocol?: Protocol;
  /** The server's reply (or the token endpoint's error description), already redacted. */
  serverText?: string;
  /** Decoded claims of the token the probe used; absent when no token was obtained. */
  claims?: TokenClaims;
  monitor: MonitorRef;
  /** The endpoint the probe used; defaults to the cloud's Exchange Online host for the protocol. */
  endpoint?: EndpointRef;
  /** What the token endpoint returned, for token-stage failures. */
  tokenError?: TokenErrorInput;
  /** A back-off already worked out by the caller; otherwise read from serverText or Retry-After. */
  backoffMs?: number;
  /** Wall time in epoch ms for the expiry check, from the caller's clock (never the wall clock here). */
  now: number;
  /** The service the token is for (the check descriptor's); absent: Exchange Online. */
  resource?: TokenResource;
  /** The check that failed: a check with roles of its own (Graph's) is judged by them, not by its protocol's. */
  check?: CheckKind;
}

// Replies that say only "no": the token may be the cause, so what it shows is ruled out first (docs/exchange-online-errors.md, "Token claims").
const genericRejections: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['auth_failed']);

function backoffOf(input: DiagnoseInput, text: string | undefined): number | undefined {
  if (input.backoffMs !== undefined) return input.backoffMs;
  const fromReply = text === undefined ? undefined : backoffMsForReply(text);
  if (fromReply !== undefined) return fromReply;
  const retryAfter = input.tokenError?.retryAfterSeconds;
  return retryAfter === undefined ? undefined : retryAfter * 1000;
}

function requiredRolesOf(input: DiagnoseInput): string[] {
  const own = input.check ? (CHECK[input.check] as CheckDescriptor).roles : undefined;
  if (own) return [...own];
  return input.protocol ? [input.monitor.roles?.[input.protocol] ?? PROTOCOL[input.protocol].role] : [];
}

export function diagnose(input: DiagnoseInput): Diagnosis {
  const serverText = input.serverText === undefined ? undefined : stripExchangeBracket(input.serverText).trim() || undefined;
  const delegated = input.monitor.credential?.kind === 'delegated';
  const required = delegated ? (input.protocol ? [PROTOCOL[input.protocol].delegatedScope] : []) : requiredRolesOf(input);
  const problems = input.claims
    ? tokenProblems(input.claims, {
        tenantId: input.monitor.tenantId,
        resource: input.resource ?? 'exchange',
        requiredRoles: required,
        grant: delegated ? 'delegated' : 'application',
        now: input.now,
      })
    : [];
  const fromToken = genericRejections.has(input.reason) ? problems[0] : undefined;
  const reason = fromToken?.reason ?? input.reason;

  const remedy = remedies[reason]({
    monitor: input.monitor,
    stage: input.stage,
    protocol: input.protocol,
    serverText,
    claims: input.claims,
    detail: problems.find((problem) => problem.reason === reason)?.detail,
    backoffMs: backoffOf(input, serverText),
    tokenError: input.tokenError,
    endpoint: input.endpoint,
    resource: input.resource,
    ...(input.check ? { check: input.check } : {}),
  });

  // Token findings only belong in the list when the diagnosis is about the token.
  const aboutToken = fromToken !== undefined || problems.some((problem) => problem.reason === reason);
  const otherProblems = aboutToken ? problems.filter((problem) => problem.reason !== reason).map((problem) => problem.detail) : [];
  return {
    reason,
    // The server's words travel beside the summary (failure.serverText), so every output shows them once.
    summary: remedy.summary,
    candidates: [...otherProblems, ...remedy.candidates],
    fixes: remedy.fixes,
  };
}
