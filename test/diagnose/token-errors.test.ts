import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReasonCode } from '../../src/core/reasons.js';
import { parseAadstsCode, reasonForTokenError, tokenErrorFromUnknown } from '../../src/diagnose/token-errors.js';

describe('reasonForTokenError', () => {
  const byCode: Array<[number, ReasonCode]> = [
    [7000215, 'token_invalid_client_secret'],
    [7000222, 'token_secret_expired'],
    [700016, 'token_unknown_app'],
    [90002, 'token_unknown_tenant'],
    [900382, 'token_wrong_cloud'],
    [90038, 'token_wrong_cloud'],
    [900440, 'token_wrong_cloud'],
    [9001023, 'token_tenant_endpoint_required'],
    [1002012, 'token_invalid_scope'],
    [70011, 'token_invalid_scope'],
    [700022, 'token_invalid_scope'],
    [500011, 'token_invalid_resource'],
    [700027, 'token_certificate_invalid'],
    [7000218, 'token_no_credential'],
    [7000112, 'token_app_disabled'],
    [53003, 'token_conditional_access'],
    [90055, 'throttled'],
    [12345, 'token_error'],
  ];
  for (const [code, reason] of byCode) {
    test(`AADSTS${code} → ${reason}`, () => {
      assert.equal(reasonForTokenError({ httpStatus: 400, errorCodes: [code] }), reason);
    });
  }

  test('classifies on error_codes[0], not on the error string', () => {
    // 700016 arrives as unauthorized_client; some tools call it invalid_client.
    assert.equal(reasonForTokenError({ httpStatus: 400, error: 'invalid_client', errorCodes: [700016] }), 'token_unknown_app');
    assert.equal(reasonForTokenError({ httpStatus: 401, error: 'invalid_client', errorCodes: [7000215, 90002] }), 'token_invalid_client_secret');
  });

  test('throttling, network and server failures', () => {
    assert.equal(reasonForTokenError({ httpStatus: 429, retryAfterSeconds: 60 }), 'throttled');
    assert.equal(reasonForTokenError({ httpStatus: 503, error: 'temporarily_unavailable' }), 'throttled');
    assert.equal(reasonForTokenError({ networkCode: 'ENOTFOUND' }), 'token_endpoint_unreachable');
    assert.equal(reasonForTokenError({ httpStatus: 502 }), 'token_endpoint_unreachable');
    assert.equal(reasonForTokenError({ httpStatus: 400, error: 'invalid_request' }), 'token_error');
    assert.equal(reasonForTokenError({}), 'token_error');
  });
});

describe('parseAadstsCode', () => {
  test('finds the code in catalogue texts and msal messages', () => {
    assert.equal(parseAadstsCode('AADSTS900382: Confidential Client is not supported in Cross Cloud request'), 900382);
    assert.equal(parseAadstsCode('"AADSTS7000112: Application \'…\'(…) is disabled."'), 7000112);
    assert.equal(parseAadstsCode('invalid_client: Error(s): 7000215 - Timestamp: x - Description: AADSTS7000215: Invalid client secret provided.'), 7000215);
    assert.equal(parseAadstsCode('Too Many Requests'), undefined);
  });
});

describe('tokenErrorFromUnknown', () => {
  test('msal ServerError: errorNo and status', () => {
    const err = Object.assign(new Error('invalid_client: Error(s): 7000215 - Description: AADSTS7000215: Invalid client secret provided.'), {
      errorCode: 'invalid_client',
      errorMessage: 'Error(s): 7000215 - Description: AADSTS7000215: Invalid client secret provided.',
      subError: '',
      errorNo: '7000215',
      status: 401,
    });
    assert.deepEqual(tokenErrorFromUnknown(err), { httpStatus: 401, errorCodes: [7000215], error: 'invalid_client' });
  });

  test('msal error with the code only in its message', () => {
    const err = { errorCode: 'unauthorized_client', errorMessage: 'AADSTS700016: Application with identifier was not found' };
    assert.equal(reasonForTokenError(tokenErrorFromUnknown(err)), 'token_unknown_app');
  });

  test("msal's throttling cache puts the codes into errorCode", () => {
    assert.deepEqual(tokenErrorFromUnknown({ errorCode: '90055', errorMessage: 'TenantThrottlingError' }), { errorCodes: [90055] });
  });

  test('network failures', () => {
    const wrapped = { errorCode: 'network_error', errorMessage: 'Network request failed: getaddrinfo ENOTFOUND login.microsoftonline.com' };
    assert.deepEqual(tokenErrorFromUnknown(wrapped), { networkCode: 'ENOTFOUND' });
    assert.deepEqual(tokenErrorFromUnknown(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), {
      networkCode: 'ECONNREFUSED',
    });
    assert.equal(reasonForTokenError(tokenErrorFromUnknown({ errorCode: 'endpoints_resolution_error' })), 'token_endpoint_unreachable');
  });

  test('non-objects carry nothing', () => {
    assert.deepEqual(tokenErrorFromUnknown('boom'), {});
    assert.deepEqual(tokenErrorFromUnknown(null), {});
  });
});
