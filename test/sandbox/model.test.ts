import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from '../../src/sandbox/jwt.js';
import { defaultSecretValue, MAIL_ROLES, SandboxModel, type MailLoginDenial, type MailProtocol } from '../../src/sandbox/model.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const MAILBOX = 'probe@contoso.onmicrosoft.com';
const T0 = Date.parse('2026-03-01T10:00:00Z');

function setup(): { model: SandboxModel; clock: { now: number }; token: (audience?: string) => string } {
  const clock = { now: T0 };
  const model = SandboxModel.fromSpec(
    [{ tenantId: TENANT, domain: 'contoso.onmicrosoft.com', apps: [{ clientId: CLIENT }], mailboxes: [{ address: MAILBOX }] }],
    () => clock.now,
  );
  const token = (audience = 'https://outlook.office365.com'): string =>
    model.issueAccessToken({ tenantId: TENANT, clientId: CLIENT, audience, resource: 'exchange', credential: 'secret' });
  return { model, clock, token };
}

function denial(model: SandboxModel, token: string, protocol: MailProtocol, user = MAILBOX): MailLoginDenial | 'ok' {
  const decision = model.authorizeMailLogin(user, token, protocol);
  return decision.ok ? 'ok' : decision.why;
}

describe('SandboxModel defaults', () => {
  test('an empty spec is a healthy tenant: every protocol logs in', () => {
    const model = SandboxModel.fromSpec([{}]);
    const [tenant] = model.tenants();
    assert.ok(tenant);
    const [app] = [...tenant.apps.values()];
    assert.ok(app);
    assert.equal(app.secrets[0]?.value, defaultSecretValue(app.clientId));
    const token = model.issueAccessToken({
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      audience: 'https://outlook.office.com',
      resource: 'exchange',
      credential: 'secret',
    });
    for (const protocol of ['imap', 'pop3', 'smtp'] as const) {
      assert.deepEqual(model.authorizeMailLogin('PROBE@contoso.onmicrosoft.com', token, protocol), {
        ok: true,
        tenantId: tenant.tenantId,
        appId: app.clientId,
      });
    }
  });

  test('ids are stable across runs', () => {
    const a = SandboxModel.fromSpec([{ domain: 'fabrikam.onmicrosoft.com' }]).tenants()[0];
    const b = SandboxModel.fromSpec([{ domain: 'fabrikam.onmicrosoft.com' }]).tenants()[0];
    assert.equal(a?.tenantId, b?.tenantId);
    assert.deepEqual([...(a?.apps.keys() ?? [])], [...(b?.apps.keys() ?? [])]);
  });
});

describe('issued access tokens', () => {
  test('carry Entra v1.0 app-only claims', () => {
    const { model, token } = setup();
    const decoded = decodeJwt(token());
    assert.ok(decoded);
    assert.equal(decoded.header['alg'], 'RS256');
    assert.equal(decoded.header['typ'], 'JWT');
    assert.equal(decoded.header['x5t'], decoded.header['kid']);
    const app = model.app(TENANT, CLIENT);
    const claims = decoded.payload;
    assert.equal(claims['aud'], 'https://outlook.office365.com');
    assert.equal(claims['iss'], `https://sts.windows.net/${TENANT}/`);
    assert.equal(claims['appid'], CLIENT);
    assert.equal(claims['appidacr'], '1');
    assert.equal(claims['idtyp'], 'app');
    assert.equal(claims['oid'], app.servicePrincipalObjectId);
    assert.equal(claims['sub'], app.servicePrincipalObjectId);
    assert.equal(claims['tid'], TENANT);
    assert.equal(claims['ver'], '1.0');
    assert.deepEqual(claims['roles'], ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    assert.equal((claims['exp'] as number) - (claims['iat'] as number), 3900);
    assert.equal(claims['iat'], T0 / 1000 - 300);
    assert.ok(token().length > 1000);
  });

  test('omit the roles claim when nothing is consented', () => {
    const { model, token } = setup();
    model.setRoles(TENANT, CLIENT, []);
    assert.equal('roles' in (decodeJwt(token())?.payload ?? {}), false);
  });
});

describe('authorizeMailLogin', () => {
  test('rejects what it did not issue', () => {
    const { model, token } = setup();
    const other = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: CLIENT }] }]);
    const forged = other.issueAccessToken({
      tenantId: TENANT,
      clientId: CLIENT,
      audience: 'https://outlook.office365.com',
      resource: 'exchange',
      credential: 'secret',
    });
    assert.equal(denial(model, 'not-a-token', 'imap'), 'token_malformed');
    assert.equal(denial(model, forged, 'imap'), 'token_malformed');
    assert.equal(denial(model, `${token()}x`, 'imap'), 'token_malformed');
  });

  test('token_expired once the clock passes exp', () => {
    const { model, clock, token } = setup();
    const issued = token();
    clock.now = T0 + 3599_000;
    assert.equal(denial(model, issued, 'imap'), 'ok');
    clock.now = T0 + 3600_000;
    assert.equal(denial(model, issued, 'imap'), 'token_expired');
  });

  test('wrong_audience for a Graph token; every Exchange audience is accepted', () => {
    const { model, token } = setup();
    assert.equal(denial(model, token('https://graph.microsoft.com'), 'imap'), 'wrong_audience');
    for (const audience of ['https://outlook.office.com', 'https://outlook.office365.com', 'https://ps.outlook.com']) {
      assert.equal(denial(model, token(audience), 'smtp'), 'ok');
    }
  });

  test('unknown_tenant for a token from a tenant without Exchange Online', () => {
    const other = '99999999-2222-3333-4444-555555555555';
    const model = SandboxModel.fromSpec([
      { tenantId: TENANT, apps: [{ clientId: CLIENT }], mailboxes: [{ address: MAILBOX }] },
      { tenantId: other, domain: 'entra-only.onmicrosoft.com', exchangeOnline: false, apps: [{ clientId: CLIENT }], mailboxes: [] },
    ]);
    const issued = model.issueAccessToken({
      tenantId: other,
      clientId: CLIENT,
      audience: 'https://outlook.office365.com',
      resource: 'exchange',
      credential: 'secret',
    });
    assert.equal(denial(model, issued, 'imap'), 'unknown_tenant');
  });

  test('role_missing per protocol', () => {
    const { model, token } = setup();
    model.setRoles(TENANT, CLIENT, [MAIL_ROLES.imap]);
    const issued = token();
    assert.equal(denial(model, issued, 'imap'), 'ok');
    assert.equal(denial(model, issued, 'pop3'), 'role_missing');
    assert.equal(denial(model, issued, 'smtp'), 'role_missing');
  });

  test('no_service_principal when missing or registered with the app registration object id', () => {
    const { model, token } = setup();
    model.removeServicePrincipal(TENANT, CLIENT);
    assert.equal(denial(model, token(), 'imap'), 'no_service_principal');
    model.registerServicePrincipal(TENANT, CLIENT, model.app(TENANT, CLIENT).applicationObjectId);
    assert.equal(denial(model, token(), 'imap'), 'no_service_principal');
    model.registerServicePrincipal(TENANT, CLIENT);
    assert.equal(denial(model, token(), 'imap'), 'ok');
  });

  test('unknown_mailbox, then no_full_access', () => {
    const { model, token } = setup();
    assert.equal(denial(model, token(), 'imap', 'nobody@contoso.onmicrosoft.com'), 'unknown_mailbox');
    model.setFullAccess(TENANT, MAILBOX, CLIENT, false);
    assert.equal(denial(model, token(), 'imap'), 'no_full_access');
    assert.equal(denial(model, token(), 'smtp'), 'no_full_access');
  });

  test('protocol_disabled for IMAP and POP separately', () => {
    const { model, token } = setup();
    model.setProtocol(TENANT, MAILBOX, 'imap', false);
    assert.equal(denial(model, token(), 'imap'), 'protocol_disabled');
    assert.equal(denial(model, token(), 'pop3'), 'ok');
    model.setProtocol(TENANT, MAILBOX, 'pop3', false);
    assert.equal(denial(model, token(), 'pop3'), 'protocol_disabled');
  });

  test('SMTP AUTH: mailbox setting overrides the tenant setting', () => {
    const { model, token } = setup();
    model.setSmtpAuthDisabled(TENANT, null, true);
    assert.equal(denial(model, token(), 'smtp'), 'smtp_auth_disabled_tenant');
    assert.equal(denial(model, token(), 'imap'), 'ok');
    model.setSmtpAuthDisabled(TENANT, MAILBOX, false);
    assert.equal(denial(model, token(), 'smtp'), 'ok');
    model.setSmtpAuthDisabled(TENANT, MAILBOX, true);
    assert.equal(denial(model, token(), 'smtp'), 'smtp_auth_disabled_mailbox');
    model.setSmtpAuthDisabled(TENANT, null, false);
    assert.equal(denial(model, token(), 'smtp'), 'smtp_auth_disabled_mailbox');
  });

  test('checks run in Exchange order: role before service principal before mailbox', () => {
    const { model, token } = setup();
    model.setFullAccess(TENANT, MAILBOX, CLIENT, false);
    model.removeServicePrincipal(TENANT, CLIENT);
    model.setRoles(TENANT, CLIENT, []);
    assert.equal(denial(model, token(), 'imap'), 'role_missing');
  });
});

// Exchange RBAC for Applications (docs/exchange-online-errors.md §10): SMTP granted over a management scope,
// with no Entra role in the token.
describe('RBAC for Applications', () => {
  const OTHER = 'other@contoso.onmicrosoft.com';
  function rbacSetup() {
    const clock = { now: T0 };
    const model = SandboxModel.fromSpec(
      [
        {
          tenantId: TENANT,
          apps: [{ clientId: CLIENT, roles: [] }],
          mailboxes: [
            { address: MAILBOX, fullAccess: [] },
            { address: OTHER, fullAccess: [] },
          ],
        },
      ],
      () => clock.now,
    );
    const token = () =>
      model.issueAccessToken({ tenantId: TENANT, clientId: CLIENT, audience: 'https://outlook.office365.com', resource: 'exchange', credential: 'secret' });
    return { model, token };
  }

  test('an SMTP assignment over a scope lets a role-less token send as the mailboxes in it, and only those', () => {
    const { model, token } = rbacSetup();
    assert.equal(denial(model, token(), 'smtp'), 'role_missing');
    model.setManagementScope(TENANT, 'mailprobe', [MAILBOX]);
    model.assignRole(TENANT, CLIENT, 'Application SMTP.SendAsApp', 'mailprobe');
    assert.equal(denial(model, token(), 'smtp'), 'ok', 'no FullAccess needed: the assignment is the grant');
    assert.equal(denial(model, token(), 'smtp', OTHER), 'rbac_out_of_scope');
    assert.equal(denial(model, token(), 'imap'), 'role_missing', 'RBAC has no IMAP role');
    model.removeServicePrincipal(TENANT, CLIENT);
    assert.equal(denial(model, token(), 'smtp'), 'no_service_principal');
  });

  test('Test-ServicePrincipalAuthorization shows each assignment and whether the mailbox is in scope', () => {
    const { model } = rbacSetup();
    model.setManagementScope(TENANT, 'mailprobe', [MAILBOX]);
    model.assignRole(TENANT, CLIENT, 'Application SMTP.SendAsApp', 'mailprobe');
    model.assignRole(TENANT, CLIENT, 'Application Mail.Send', 'mailprobe');
    assert.deepEqual(model.testServicePrincipalAuthorization(TENANT, CLIENT, OTHER), [
      {
        RoleName: 'Application SMTP.SendAsApp',
        GrantedPermissions: 'SMTP.SendAsApp',
        AllowedResourceScope: 'mailprobe',
        ScopeType: 'CustomRecipientScope',
        InScope: false,
      },
      {
        RoleName: 'Application Mail.Send',
        GrantedPermissions: 'Mail.Send',
        AllowedResourceScope: 'mailprobe',
        ScopeType: 'CustomRecipientScope',
        InScope: false,
      },
    ]);
    assert.equal(model.testServicePrincipalAuthorization(TENANT, CLIENT, MAILBOX.toUpperCase())[0]?.InScope, true);
    assert.throws(() => model.assignRole(TENANT, CLIENT, 'Application SMTP.SendAsApp', 'no-such-scope'), /unknown management scope/);
  });

  test('Entra and RBAC grants add up: with the Entra role every mailbox with FullAccess is open, scope or not', () => {
    const { model, token } = rbacSetup();
    model.setManagementScope(TENANT, 'mailprobe', [MAILBOX]);
    model.assignRole(TENANT, CLIENT, 'Application SMTP.SendAsApp', 'mailprobe');
    model.setRoles(TENANT, CLIENT, [MAIL_ROLES.smtp]);
    model.setFullAccess(TENANT, OTHER, CLIENT, true);
    assert.equal(denial(model, token(), 'smtp', OTHER), 'ok');
  });
});

describe('authorizeSendAs', () => {
  test('own address always, another only with SendAs', () => {
    const model = SandboxModel.fromSpec([
      { tenantId: TENANT, apps: [{ clientId: CLIENT }], mailboxes: [{ address: MAILBOX }, { address: 'shared@contoso.onmicrosoft.com' }] },
    ]);
    const login = { tenantId: TENANT, appId: CLIENT };
    assert.equal(model.authorizeSendAs(login, MAILBOX, MAILBOX.toUpperCase()), true);
    assert.equal(model.authorizeSendAs(login, MAILBOX, 'shared@contoso.onmicrosoft.com'), false);
    model.setSendAs(TENANT, 'shared@contoso.onmicrosoft.com', CLIENT, true);
    assert.equal(model.authorizeSendAs(login, MAILBOX, 'shared@contoso.onmicrosoft.com'), true);
  });
});
