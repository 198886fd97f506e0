import type { CheckKind, Stage } from '../core/check.js';
import type { CheckResult, Diagnosis } from '../core/result.js';
import { ROLE_FOR_PROTOCOL, tokenProblems, type TokenClaims } from './claims.js';
import { diagnose, type DiagnoseInput } from './diagnose.js';
import type { ReasonCode } from '../core/reasons.js';

export type Verdict = 'pass' | 'fail' | 'not_reached' | 'skipped';

export interface ChecklistItem {
  id: string;
  title: string;
  verdict: Verdict;
  detail?: string;
  reason?: ReasonCode;
  serverText?: string;
  diagnosis?: Diagnosis;
}

export interface ChecklistInput {
  monitor: DiagnoseInput['monitor'];
  checks: readonly CheckKind[];
  credential: { ok: true; detail: string } | { ok: false; detail: string };
  token?: { ok: true; claims: TokenClaims } | { ok: false; reason: ReasonCode; serverText?: string; diagnosis?: Diagnosis };
  results: Partial<Record<CheckKind, CheckResult>>;
  now: number;
}

interface ProtocolStep {
  id: string;
  title: string;
  check: CheckKind;
  stages: readonly Stage[];
}

// The admin's setup, in the order the manual procedure builds it; each probe stage belongs to one step.
const PROTOCOL_STEPS: readonly ProtocolStep[] = [
  { id: 'imap_xoauth2', title: 'IMAP reachable over TLS and offers AUTH=XOAUTH2', check: 'imap', stages: ['connect', 'tls', 'greeting', 'capability'] },
  { id: 'imap_auth', title: 'IMAP AUTHENTICATE XOAUTH2 as the mailbox', check: 'imap', stages: ['auth'] },
  { id: 'imap_list', title: 'IMAP LIST of the mailbox folders', check: 'imap', stages: ['list', 'logout'] },
  { id: 'pop3_xoauth2', title: 'POP3 reachable over TLS and offers SASL XOAUTH2', check: 'pop3', stages: ['connect', 'tls', 'greeting', 'capability'] },
  { id: 'pop3_auth', title: 'POP3 AUTH XOAUTH2 as the mailbox', check: 'pop3', stages: ['auth'] },
  { id: 'pop3_stat', title: 'POP3 STAT', check: 'pop3', stages: ['stat', 'logout'] },
  { id: 'smtp_xoauth2', title: 'SMTP STARTTLS, then AUTH XOAUTH2 offered', check: 'smtp', stages: ['connect', 'greeting', 'starttls', 'tls', 'capability'] },
  { id: 'smtp_auth', title: 'SMTP AUTH XOAUTH2 as the mailbox', check: 'smtp', stages: ['auth'] },
  { id: 'smtp_send', title: 'SMTP send to self', check: 'smtp', stages: ['send', 'logout'] },
  { id: 'arrival', title: 'Probe mail arrives in the INBOX (round trip)', check: 'roundtrip', stages: ['connect', 'tls', 'greeting', 'capability', 'starttls', 'auth', 'send', 'list', 'delivery', 'cleanup', 'logout'] },
];

const PROTOCOL_OF_CHECK: Record<CheckKind, readonly (keyof typeof ROLE_FOR_PROTOCOL)[]> = {
  imap: ['imap'],
  pop3: ['pop3'],
  smtp: ['smtp'],
  roundtrip: ['smtp', 'imap'],
};

/** Turns one doctor run into the setup checklist: every step gets a verdict, the first failure its fix. */
export function buildChecklist(input: ChecklistInput): ChecklistItem[] {
  const items: ChecklistItem[] = [];
  let blocked = false;
  const add = (item: ChecklistItem): void => {
    if (blocked && item.verdict !== 'skipped') {
      items.push({ id: item.id, title: item.title, verdict: 'not_reached' });
      return;
    }
    items.push(item);
    if (item.verdict === 'fail') blocked = true;
  };

  // Steps judged from the token alone get their fix here; protocol steps carry the runner's diagnosis.
  const explain = (reason: ReasonCode, stage: Stage, claims?: TokenClaims) => ({
    reason,
    diagnosis: diagnose({ reason, stage, monitor: input.monitor, now: input.now, ...(claims ? { claims } : {}) }),
  });

  add({
    id: 'config',
    title: 'Monitor configured and credential readable',
    verdict: input.credential.ok ? 'pass' : 'fail',
    detail: input.credential.detail,
    ...(input.credential.ok ? {} : explain('credential_missing', 'config')),
  });

  const token = input.token;
  if (!token) add({ id: 'token', title: 'Token issued by Entra ID (client credentials)', verdict: 'not_reached' });
  else if (!token.ok) {
    add({
      id: 'token',
      title: 'Token issued by Entra ID (client credentials)',
      verdict: 'fail',
      reason: token.reason,
      ...(token.serverText ? { serverText: token.serverText } : {}),
      ...(token.diagnosis ? { diagnosis: token.diagnosis } : {}),
    });
  } else add({ id: 'token', title: 'Token issued by Entra ID (client credentials)', verdict: 'pass', detail: `aud ${token.claims.aud ?? '?'}, oid ${token.claims.oid ?? '?'}` });

  const claims = token?.ok ? token.claims : undefined;
  const requiredRoles = [...new Set(input.checks.flatMap((check) => PROTOCOL_OF_CHECK[check].map((protocol) => ROLE_FOR_PROTOCOL[protocol])))];
  if (claims) {
    // Audience and tenant come first: a token for another resource or tenant carries that resource's roles,
    // so judging consent from it would send the admin to the wrong fix.
    const problems = tokenProblems(claims, { tenantId: input.monitor.tenantId, requiredRoles, now: input.now });
    const audience = problems.find((problem) => problem.reason !== 'role_missing');
    add({
      id: 'audience',
      title: 'Token audience, tenant and lifetime right',
      verdict: audience ? 'fail' : 'pass',
      detail: audience?.detail ?? `aud ${claims.aud ?? '?'}, tid ${claims.tid ?? '?'}`,
      ...(audience ? explain(audience.reason, 'role', claims) : {}),
    });
    const missing = requiredRoles.filter((role) => !claims.roles.includes(role));
    add({
      id: 'roles',
      title: `Roles granted by admin consent (${requiredRoles.join(', ')})`,
      verdict: missing.length === 0 ? 'pass' : 'fail',
      detail: missing.length === 0 ? `token roles: ${claims.roles.join(', ')}` : `missing: ${missing.join(', ')}; token roles: ${claims.roles.join(', ') || '(none)'}`,
      ...(missing.length > 0 ? explain('role_missing', 'role', claims) : {}),
    });
  } else {
    add({ id: 'audience', title: 'Token audience, tenant and lifetime right', verdict: 'not_reached' });
    add({ id: 'roles', title: 'Roles granted by admin consent', verdict: 'not_reached' });
  }

  for (const step of PROTOCOL_STEPS) {
    if (!input.checks.includes(step.check)) {
      items.push({ id: step.id, title: step.title, verdict: 'skipped', detail: `the monitor has no ${step.check} check` });
      continue;
    }
    add(protocolItem(step, input.results[step.check]));
  }
  return items;
}

function protocolItem(step: ProtocolStep, result: CheckResult | undefined): ChecklistItem {
  const base = { id: step.id, title: step.title };
  if (!result) return { ...base, verdict: 'not_reached' };
  const failure = result.outcome.failure;
  if (!failure) return { ...base, verdict: 'pass', ...passDetail(step, result) };
  if (step.stages.includes(failure.stage)) {
    return {
      ...base,
      verdict: 'fail',
      reason: result.diagnosis?.reason ?? failure.reason,
      detail: failure.message,
      ...(failure.serverText !== undefined ? { serverText: failure.serverText } : {}),
      ...(result.diagnosis ? { diagnosis: result.diagnosis } : {}),
    };
  }
  const failedEarlier = stageIndex(failure.stage) < stageIndex(step.stages[0] ?? 'connect');
  return failedEarlier ? { ...base, verdict: 'not_reached' } : { ...base, verdict: 'pass' };
}

function passDetail(step: ProtocolStep, result: CheckResult): { detail?: string } {
  const facts = result.outcome.facts;
  if (step.id === 'imap_list' && facts.folderCount !== undefined) return { detail: `${String(facts.folderCount)} folders` };
  if (step.id === 'pop3_stat' && facts.messageCount !== undefined) return { detail: `${String(facts.messageCount)} messages` };
  if (step.id === 'arrival' && facts.deliverySeconds !== undefined) return { detail: `arrived after ${String(facts.deliverySeconds)} s` };
  return {};
}

const STAGE_ORDER: readonly Stage[] = ['config', 'token', 'role', 'connect', 'tls', 'greeting', 'capability', 'starttls', 'auth', 'list', 'stat', 'send', 'delivery', 'cleanup', 'logout'];

function stageIndex(stage: Stage): number {
  return STAGE_ORDER.indexOf(stage);
}

/** Exchange applies service-principal and mailbox-permission changes with a delay of up to an hour. */
export const PROPAGATION_NOTE =
  'If the service principal, FullAccess or a protocol switch was changed in the last 60 minutes, wait: Exchange Online can take up to an hour to apply it.';

export function propagationMayMatter(items: readonly ChecklistItem[]): boolean {
  const failure = items.find((item) => item.verdict === 'fail');
  return failure?.reason === 'auth_failed' || failure?.reason === 'auth_not_connected' || failure?.reason === 'mailbox_logon_failed';
}
