import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { APPLICATION_ROLES, type SandboxFaults, type SandboxModel } from './model.js';

// A small JSON API over the model's mutators, so the demo and manual tests can break a tenant from outside
// the process: GET /_sandbox/model, POST /_sandbox/actions {action, ...args}. Secret values never leave.

const app = { tenantId: z.string(), clientId: z.string() };
const mailbox = { tenantId: z.string(), mailbox: z.string() };

const actionSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('revokeSecret'), ...app, secretId: z.string().optional() }),
  z.strictObject({ action: z.literal('expireSecret'), ...app, secretId: z.string().optional() }),
  z.strictObject({ action: z.literal('setRoles'), ...app, roles: z.array(z.string()), resource: z.enum(['exchange', 'graph']).optional() }),
  z.strictObject({ action: z.literal('setAppEnabled'), ...app, enabled: z.boolean() }),
  z.strictObject({ action: z.literal('removeServicePrincipal'), ...app }),
  z.strictObject({ action: z.literal('registerServicePrincipal'), ...app, objectId: z.string().optional() }),
  z.strictObject({ action: z.literal('setFullAccess'), ...mailbox, clientId: z.string(), granted: z.boolean() }),
  z.strictObject({ action: z.literal('setSendAs'), ...mailbox, clientId: z.string(), granted: z.boolean() }),
  z.strictObject({ action: z.literal('setProtocol'), ...mailbox, protocol: z.enum(['imap', 'pop3']), enabled: z.boolean() }),
  z.strictObject({
    action: z.literal('setSmtpAuthDisabled'),
    tenantId: z.string(),
    mailbox: z.string().nullable(),
    disabled: z.boolean().nullable(),
  }),
  z.strictObject({
    action: z.literal('setFaults'),
    faults: z.strictObject({
      tokenThrottleSeconds: z.number().int().positive().nullable().optional(),
      tokenHang: z.boolean().optional(),
      imapThrottleMs: z.number().int().positive().nullable().optional(),
      imapNotConnected: z.boolean().optional(),
      smtpThrottle: z.boolean().optional(),
      hang: z.strictObject({ imap: z.boolean(), pop3: z.boolean(), smtp: z.boolean() }).partial().optional(),
      reset: z.strictObject({ imap: z.boolean(), pop3: z.boolean(), smtp: z.boolean() }).partial().optional(),
      imapRev2: z.boolean().optional(),
      imapHeaderSearchBlind: z.boolean().optional(),
      graphOdataDisabled: z.array(z.string()).optional(),
      graphRestDisabled: z.array(z.string()).optional(),
      graphThrottleSeconds: z.number().int().positive().nullable().optional(),
      graphLatencyMs: z.number().int().nonnegative().optional(),
      graphHang: z.boolean().optional(),
    }),
  }),
  z.strictObject({ action: z.literal('resetFaults') }),
  z.strictObject({ action: z.literal('setManagementScope'), tenantId: z.string(), name: z.string().min(1), mailboxes: z.array(z.string()) }),
  z.strictObject({ action: z.literal('assignRole'), ...app, role: z.enum(APPLICATION_ROLES), scope: z.string().min(1) }),
  z.strictObject({ action: z.literal('removeRoleAssignment'), ...app, name: z.string().optional() }),
]);

export type SandboxAction = z.infer<typeof actionSchema>;

export type ActionResult = { ok: true } | { ok: false; error: string };

function applyFaults(target: SandboxFaults, patch: Extract<SandboxAction, { action: 'setFaults' }>['faults']): void {
  const { hang, reset, ...scalars } = patch;
  for (const [name, value] of Object.entries(scalars)) {
    if (value !== undefined) Object.assign(target, { [name]: value });
  }
  for (const [protocol, value] of Object.entries(hang ?? {})) {
    if (value !== undefined) Object.assign(target.hang, { [protocol]: value });
  }
  for (const [protocol, value] of Object.entries(reset ?? {})) {
    if (value !== undefined) Object.assign(target.reset, { [protocol]: value });
  }
}

function dispatch(model: SandboxModel, action: SandboxAction): void {
  switch (action.action) {
    case 'revokeSecret':
      return model.revokeSecret(action.tenantId, action.clientId, action.secretId);
    case 'expireSecret':
      return model.expireSecret(action.tenantId, action.clientId, action.secretId);
    case 'setRoles':
      return model.setRoles(action.tenantId, action.clientId, action.roles, action.resource);
    case 'setAppEnabled':
      return model.setAppEnabled(action.tenantId, action.clientId, action.enabled);
    case 'removeServicePrincipal':
      return model.removeServicePrincipal(action.tenantId, action.clientId);
    case 'registerServicePrincipal':
      return model.registerServicePrincipal(action.tenantId, action.clientId, action.objectId);
    case 'setFullAccess':
      return model.setFullAccess(action.tenantId, action.mailbox, action.clientId, action.granted);
    case 'setSendAs':
      return model.setSendAs(action.tenantId, action.mailbox, action.clientId, action.granted);
    case 'setProtocol':
      return model.setProtocol(action.tenantId, action.mailbox, action.protocol, action.enabled);
    case 'setSmtpAuthDisabled':
      return model.setSmtpAuthDisabled(action.tenantId, action.mailbox, action.disabled);
    case 'setManagementScope':
      return model.setManagementScope(action.tenantId, action.name, action.mailboxes);
    case 'assignRole':
      return void model.assignRole(action.tenantId, action.clientId, action.role, action.scope);
    case 'removeRoleAssignment':
      return model.removeRoleAssignment(action.tenantId, action.clientId, action.name);
    case 'setFaults':
      return applyFaults(model.faults, action.faults);
    case 'resetFaults':
      return model.resetFaults();
  }
}

/** Validates and applies one action; unknown tenants/apps/mailboxes come back as errors, not throws. */
export function applyAction(model: SandboxModel, input: unknown): ActionResult {
  const parsed = actionSchema.safeParse(input);
  if (!parsed.success) return { ok: false, error: z.prettifyError(parsed.error) };
  try {
    dispatch(model, parsed.data);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The model as JSON for humans and tests: ids, flags, end dates; no secret values. */
export function modelView(model: SandboxModel): unknown {
  const now = model.now();
  const iso = (epochMs: number): string => new Date(epochMs).toISOString();
  return {
    now: iso(now),
    faults: model.faults,
    tenants: model.tenants().map((tenant) => {
      const clientIdOf = new Map([...tenant.apps.values()].map((a) => [a.servicePrincipalObjectId, a.clientId]));
      const byClientId = (objectIds: Set<string>): string[] => [...objectIds].map((id) => clientIdOf.get(id) ?? id);
      return {
        tenantId: tenant.tenantId,
        domain: tenant.domain,
        exchangeOnline: tenant.exchangeOnline,
        smtpClientAuthDisabled: tenant.smtpClientAuthDisabled,
        apps: [...tenant.apps.values()].map((a) => ({
          clientId: a.clientId,
          displayName: a.displayName,
          enabled: a.enabled,
          applicationObjectId: a.applicationObjectId,
          servicePrincipalObjectId: a.servicePrincipalObjectId,
          exchangeServicePrincipalObjectId: tenant.exchangeServicePrincipals.get(a.clientId) ?? null,
          roles: { exchange: [...a.roles.exchange], graph: [...a.roles.graph] },
          secrets: a.secrets.map((s) => ({ id: s.id, displayName: s.displayName, expiresAt: iso(s.expiresAt), expired: s.expiresAt <= now })),
          certificates: a.certificates.map((c) => ({ thumbprint: c.thumbprint, expiresAt: iso(c.expiresAt), expired: c.expiresAt <= now })),
        })),
        mailboxes: [...tenant.mailboxes.values()].map((m) => ({
          address: m.address,
          imapEnabled: m.imapEnabled,
          popEnabled: m.popEnabled,
          smtpClientAuthDisabled: m.smtpClientAuthDisabled,
          fullAccess: byClientId(m.fullAccess),
          sendAs: byClientId(m.sendAs),
        })),
        managementScopes: [...tenant.managementScopes.values()].map((scope) => ({ name: scope.name, mailboxes: [...scope.mailboxes] })),
        roleAssignments: tenant.roleAssignments,
      };
    }),
  };
}

function reply(res: ServerResponse, status: number, value: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
  return true;
}

/** Route handler for startEntra's extraRoutes. */
export function controlRoutes(model: SandboxModel): (req: IncomingMessage, res: ServerResponse, body: string) => boolean {
  return (req, res, body) => {
    const path = new URL(req.url ?? '/', 'https://sandbox').pathname;
    if (req.method === 'GET' && path === '/_sandbox/model') return reply(res, 200, modelView(model));
    // What Test-ServicePrincipalAuthorization -Identity <clientId> -Resource <mailbox> would print, as JSON rows.
    if (req.method === 'GET' && path === '/_sandbox/test-serviceprincipalauthorization') {
      const query = new URL(req.url ?? '/', 'https://sandbox').searchParams;
      const [tenantId, clientId, mailbox] = ['tenantId', 'clientId', 'mailbox'].map((key) => query.get(key) ?? '');
      try {
        return reply(res, 200, model.testServicePrincipalAuthorization(tenantId ?? '', clientId ?? '', mailbox ?? ''));
      } catch (err) {
        return reply(res, 400, { ok: false, error: err instanceof Error ? err.message : String(err) });
      }
    }
    if (req.method !== 'POST' || path !== '/_sandbox/actions') return false;
    let input: unknown;
    try {
      input = JSON.parse(body);
    } catch {
      return reply(res, 400, { ok: false, error: 'body is not JSON' });
    }
    const result = applyAction(model, input);
    return reply(res, result.ok ? 200 : 400, result);
  };
}
