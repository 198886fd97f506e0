import { DelegatedTokenProvider, type DelegatedEvents } from '../auth/delegated.js';
import { MsalTokenProvider, type TokenEvents, type TokenProvider } from '../auth/token-provider.js';
import type { Redactor } from '../log/redact.js';
import { MailboxGate } from '../probes/graph-client.js';
import { PROBES } from '../probes/registry.js';
import type { Clock } from '../core/clock.js';
import { probeIdKeyrings } from '../probes/probe-mail.js';
import type { CheckDeps } from './run-check.js';
import { SendBudget } from './send-budget.js';

export interface Runtime {
  tokens: TokenProvider;
  /** The delegated monitors' sign-ins, for what reads their cache without a token request (status, doctor). */
  delegated: DelegatedTokenProvider;
  deps: CheckDeps;
}

/** Wires the production dependencies once, for `check`, `doctor` and the daemon alike. */
export function createRuntime(options: {
  clock: Clock;
  redactor: Redactor;
  events?: Partial<TokenEvents> & DelegatedEvents;
  env?: NodeJS.ProcessEnv;
}): Runtime {
  const app = new MsalTokenProvider({
    clock: options.clock,
    ...(options.env ? { env: options.env } : {}),
    redact: (text) => options.redactor.redact(text),
    events: {
      onRequest: options.events?.onRequest ?? (() => undefined),
      onToken: options.events?.onToken ?? (() => undefined),
      onSecretRead: (value) => options.redactor.addSecret(value),
      ...(options.events?.onAssertion ? { onAssertion: options.events.onAssertion } : {}),
    },
  });
  const delegated = new DelegatedTokenProvider({
    clock: options.clock,
    ...(options.env ? { env: options.env } : {}),
    redact: (text) => options.redactor.redact(text),
    addSecret: (value) => options.redactor.addSecret(value),
    events: {
      ...(options.events?.onRequest ? { onRequest: options.events.onRequest } : {}),
      ...(options.events?.onSignIn ? { onSignIn: options.events.onSignIn } : {}),
    },
  });
  // A tenant entry signs in as the app (msal's client credentials) or as a user (a delegated refresh token).
  const tokens: TokenProvider = {
    getToken: (tenant, scope, getOptions) => (tenant.delegated ? delegated.getToken(tenant) : app.getToken(tenant, scope, getOptions)),
  };
  return {
    tokens,
    delegated,
    deps: {
      tokens,
      clock: options.clock,
      probes: PROBES,
      probeIds: probeIdKeyrings(),
      sendBudget: new SendBudget(options.clock),
      redact: (text) => options.redactor.redact(text),
      mailboxGate: new MailboxGate(),
      ...(options.env ? { env: options.env } : {}),
    },
  };
}
