import { STAGES, type CheckKind, type Protocol, type Stage } from '../core/check.js';
import { holdsRole, PROTOCOL, SUBMISSION } from '../core/protocols.js';
import { testServicePrincipalAuthorization } from './commands.js';
import type { CheckResult, Diagnosis } from '../core/result.js';
import { CHECK, CHECK_KINDS, requiredPermissions, requiredRoles, type ChecklistStep, type GrantKind } from '../core/checks.js';
import { grantedPermissions, tokenProblems, type TokenClaims } from './claims.js';
import { diagnose, type DiagnoseInput } from './diagnose.js';
import type { ReasonCode } from '../core/reasons.js';
import { TOKEN_RESOURCE, type TokenResource } from '../core/clouds.js';

// warn: worth the admin's attention, but the walk goes on (the server decides).
export type Verdict = 'pass' | 'warn' | 'fail' | 'not_reached' | 'skipped';

export interface ChecklistItem {
  id: string;
  title: string;
  verdict: Verdict;
  detail?: string;
  reason?: ReasonCode;
  serverText?: string;
  diagnosis?: Diagnosis;
}

export type TokenState =
  { ok: true; claims: TokenClaims; resource?: TokenResource } | { ok: false; reason: ReasonCode; serverText?: string; diagnosis?: Diagnosis };

export interface ChecklistInput {
  monitor: DiagnoseInput['monitor'];
  checks: readonly CheckKind[];
  credential: { ok: true; detail: string } | { ok: false; detail: string };
  /** The token doctor obtained first, and the service it was asked for (absent: Exchange Online). */
  token?: TokenState;
  /**
   * The tokens of the monitor's other services (Microsoft Graph beside Exchange Online): each is the app's own
   * token for that resource, judged before the steps of the checks that use it.
   */
  otherTokens?: Partial<Record<TokenResource, TokenState>>;
  results: Partial<Record<CheckKind, CheckResult>>;
  now: number;
}

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
  const explain = (reason: ReasonCode, stage: Stage, claims?: TokenClaims, resource?: TokenResource) => ({
    reason,
    diagnosis: diagnose({ reason, stage, monitor: input.monitor, now: input.now, ...(claims ? { claims } : {}), ...(resource ? { resource } : {}) }),
  });

  add({
    id: 'config',
    title: 'Monitor configured and credential readable',
    verdict: input.credential.ok ? 'pass' : 'fail',
    detail: input.credential.detail,
    ...(input.credential.ok ? {} : explain('credential_missing', 'config')),
  });

  // A delegated monitor's token comes from the user's sign-in and carries delegated permissions (scp), not roles.
  const grant: GrantKind = input.monitor.credential?.kind === 'delegated' ? 'delegated' : 'application';
  const tokenTitle = `Token issued by Entra ID (${grant === 'delegated' ? 'the user’s sign-in' : 'client credentials'})`;
  const token = input.token;
  if (!token) add({ id: 'token', title: tokenTitle, verdict: 'not_reached' });
  else if (!token.ok) {
    add({
      id: 'token',
      title: tokenTitle,
      verdict: 'fail',
      reason: token.reason,
      ...(token.serverText ? { serverText: token.serverText } : {}),
      ...(token.diagnosis ? { diagnosis: token.diagnosis } : {}),
    });
  } else
    add({
      id: 'token',
      title: tokenTitle,
      verdict: 'pass',
      detail:
        grant === 'delegated'
          ? `aud ${token.claims.aud ?? '?'}, user ${token.claims.upn ?? '?'}`
          : `aud ${token.claims.aud ?? '?'}, oid ${token.claims.oid ?? '?'}`,
    });

  const claims = token?.ok ? token.claims : undefined;
  const resource = (token?.ok ? token.resource : undefined) ?? 'exchange';
  // The roles this token is judged by: those of the checks that use its service (a Graph check has a token of its own).
  const ownChecks = input.checks.filter((check) => CHECK[check].resource === resource);
  const requiredRoles = [...new Set(ownChecks.flatMap((check) => requiredPermissions(check, grant, input.monitor.roles)))];
  const rolesTitle = grant === 'delegated' ? 'Delegated permissions consented' : 'Roles granted by admin consent';
  if (claims) {
    // Audience and tenant come first: a token for another resource or tenant carries that resource's roles,
    // so judging consent from it would send the admin to the wrong fix.
    const problems = tokenProblems(claims, { tenantId: input.monitor.tenantId, resource, requiredRoles, grant, now: input.now });
    const audience = problems.find((problem) => problem.reason !== 'role_missing');
    add({
      id: 'audience',
      title: 'Token audience, tenant and lifetime right',
      verdict: audience ? 'fail' : 'pass',
      detail: audience?.detail ?? `aud ${claims.aud ?? '?'}, tid ${claims.tid ?? '?'}`,
      ...(audience ? explain(audience.reason, 'role', claims, resource) : {}),
    });
    // Evidence, not a gate: a role the token lacks may be granted in Exchange, so the protocol steps still run
    // and the server's answer decides.
    const granted = grantedPermissions(claims, grant);
    const missing = requiredRoles.filter((role) => !holdsRole(granted, role));
    const claim = grant === 'delegated' ? 'scp' : 'roles';
    add({
      id: 'roles',
      title: `${rolesTitle} (${requiredRoles.join(', ')})`,
      verdict: missing.length === 0 ? 'pass' : 'warn',
      detail:
        missing.length === 0
          ? `token ${claim}: ${granted.join(', ')}`
          : grant === 'delegated'
            ? `not in the token: ${missing.join(', ')} (token scp: ${granted.join(', ') || 'none'}); a sign-in carries only what was consented when it was made`
            : `not in the token: ${missing.join(', ')} (token roles: ${granted.join(', ') || 'none'}); the protocol steps below show whether Exchange grants them itself (RBAC for Applications covers SMTP only)`,
    });
    const rbac = rbacItem(input, claims);
    if (rbac) add(rbac);
  } else {
    add({ id: 'audience', title: 'Token audience, tenant and lifetime right', verdict: 'not_reached' });
    add({ id: 'roles', title: rolesTitle, verdict: 'not_reached' });
  }

  // Each check's steps in the order the manual procedure builds them; each probe stage belongs to one step. A
  // service with a token of its own has it judged before the first of its checks.
  const judged = new Set<TokenResource>([resource]);
  for (const check of CHECK_KINDS) {
    const service = CHECK[check].resource;
    if (input.checks.includes(check) && !judged.has(service)) {
      judged.add(service);
      for (const item of serviceTokenItems(input, service)) add(item);
    }
    for (const step of CHECK[check].checklist) {
      if (!input.checks.includes(check)) {
        items.push({ id: step.id, title: step.title, verdict: 'skipped', detail: `the monitor has no ${check} check` });
        continue;
      }
      add(protocolItem(step, input.results[check]));
    }
  }
  return items;
}

/**
 * The token of a service other than the first one's (Microsoft Graph): issued or not, and whether it carries the
 * permissions its checks need. A permission it lacks is a warning: Exchange RBAC for Applications can grant it over a
 * management scope, which the token does not show, and the steps that follow show whether it does.
 */
function serviceTokenItems(input: ChecklistInput, service: TokenResource): ChecklistItem[] {
  const label = TOKEN_RESOURCE[service].label;
  const tokenItem = { id: `${service}_token`, title: `Token for ${label} issued by Entra ID (client credentials)` };
  const required = [
    ...new Set(input.checks.filter((check) => CHECK[check].resource === service).flatMap((check) => requiredRoles(check, input.monitor.roles))),
  ];
  const rolesItem = { id: `${service}_roles`, title: `${label} permissions (${required.join(', ')}): Entra admin consent or Exchange RBAC for Applications` };
  const state = input.otherTokens?.[service];
  if (!state)
    return [
      { ...tokenItem, verdict: 'not_reached' },
      { ...rolesItem, verdict: 'not_reached' },
    ];
  if (!state.ok) {
    return [
      {
        ...tokenItem,
        verdict: 'fail',
        reason: state.reason,
        ...(state.serverText ? { serverText: state.serverText } : {}),
        ...(state.diagnosis ? { diagnosis: state.diagnosis } : {}),
      },
      { ...rolesItem, verdict: 'not_reached' },
    ];
  }
  const { claims } = state;
  const problem = tokenProblems(claims, { tenantId: input.monitor.tenantId, resource: service, requiredRoles: required, now: input.now }).find(
    (found) => found.reason !== 'role_missing',
  );
  if (problem) {
    return [
      {
        ...tokenItem,
        verdict: 'fail',
        reason: problem.reason,
        detail: problem.detail,
        diagnosis: diagnose({ reason: problem.reason, stage: 'role', monitor: input.monitor, now: input.now, claims, resource: service }),
      },
      { ...rolesItem, verdict: 'not_reached' },
    ];
  }
  const missing = required.filter((role) => !holdsRole(claims.roles, role));
  const verify = testServicePrincipalAuthorization(input.monitor.clientId, input.monitor.mailbox);
  return [
    { ...tokenItem, verdict: 'pass', detail: `aud ${claims.aud ?? '?'}, oid ${claims.oid ?? '?'}` },
    {
      ...rolesItem,
      verdict: missing.length === 0 ? 'pass' : 'warn',
      detail:
        missing.length === 0
          ? `token roles: ${claims.roles.join(', ')}`
          : `not in the token: ${missing.join(', ')} (token roles: ${claims.roles.join(', ') || 'none'}); the steps below show whether Exchange grants them over an RBAC for Applications management scope (${verify}, InScope must be True)`,
    },
  ];
}

/**
 * When the admin says SMTP is granted through RBAC for Applications, an Entra SMTP role in the token defeats the
 * scope: the grants add up, so the app may send as every mailbox (docs/exchange-online-errors.md §10).
 */
function rbacItem(input: ChecklistInput, claims: TokenClaims): ChecklistItem | undefined {
  const sends = input.checks.some((check) => (CHECK[check].protocols as readonly Protocol[]).includes(SUBMISSION));
  if (input.monitor.authorization !== 'rbac' || !sends) return undefined;
  const { clientId, mailbox } = input.monitor;
  const role = PROTOCOL[SUBMISSION].role;
  const verify = `verify the scope with ${testServicePrincipalAuthorization(clientId, mailbox)} (InScope must be True)`;
  const title = `SMTP granted by Exchange RBAC only (authorization "rbac")`;
  if (!claims.roles.includes(role))
    return { id: 'rbac', title, verdict: 'pass', detail: `the token carries no Entra ${role}, as an RBAC-only grant should; ${verify}` };
  return {
    id: 'rbac',
    title,
    verdict: 'warn',
    detail: `the token carries the Entra ${role} role: Entra and RBAC grants add up, so app ${clientId} may send as every mailbox in the tenant and the management scope limits nothing. Remove the permission (Entra admin center → App registrations → ${clientId} → API permissions → ${role} → Remove permission, then revoke its admin consent) and ${verify}`,
  };
}

function protocolItem(step: ChecklistStep, result: CheckResult | undefined): ChecklistItem {
  const base = { id: step.id, title: step.title };
  if (!result) return { ...base, verdict: 'not_reached' };
  const failure = result.outcome.failure;
  if (!failure) return { ...base, verdict: 'pass', ...passDetail(step, result) };
  if (step.stages.includes(failure.stage)) {
    return {
      ...base,
      verdict: 'fail',
      reason: result.reason ?? failure.reason,
      detail: failure.message,
      ...(failure.serverText !== undefined ? { serverText: failure.serverText } : {}),
      ...(result.diagnosis ? { diagnosis: result.diagnosis } : {}),
    };
  }
  const failedEarlier = stageIndex(failure.stage) < stageIndex(step.stages[0] ?? 'connect');
  return failedEarlier ? { ...base, verdict: 'not_reached' } : { ...base, verdict: 'pass' };
}

function passDetail(step: ChecklistStep, result: CheckResult): { detail?: string } {
  const { measured } = result.outcome;
  const granted = result.authorisation?.exchangeGranted ?? [];
  if (step.stages.includes('auth') && granted.length > 0) return { detail: authorisedInExchange(granted) };
  if (step.id === 'imap_list' && measured.folderCount !== undefined) return { detail: `${measured.folderCount} folders` };
  if (step.id === 'pop3_stat' && measured.messageCount !== undefined) return { detail: `${measured.messageCount} messages` };
  if (step.id === 'arrival' && measured.deliverySeconds !== undefined) return { detail: `arrived after ${measured.deliverySeconds} s` };
  return {};
}

function stageIndex(stage: Stage): number {
  return STAGES.indexOf(stage);
}

/** Exchange applies service-principal and mailbox-permission changes with a delay of up to an hour. */
export const PROPAGATION_NOTE =
  'If a permission (Entra consent, RBAC assignment or management scope, FullAccess), the service principal or a protocol switch was changed in the last 60 minutes, wait: Exchange Online can take up to an hour to apply it.';

export function propagationMayMatter(items: readonly ChecklistItem[]): boolean {
  const failure = items.find((item) => item.verdict === 'fail');
  return (
    failure?.reason === 'auth_failed' ||
    failure?.reason === 'role_missing' ||
    failure?.reason === 'auth_not_connected' ||
    failure?.reason === 'mailbox_logon_failed'
  );
}

/** How a pass without the Entra role was authorised, in the words doctor, run and the status answer share. */
export function authorisedInExchange(roles: readonly string[]): string {
  return `authorised by Exchange itself, not by an Entra role: the token lacks ${roles.join(', ')} (RBAC for Applications or another Exchange-side grant)`;
}
