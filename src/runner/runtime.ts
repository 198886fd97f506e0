import { MsalTokenProvider, type TokenEvents } from '../auth/token-provider.js';
import type { Redactor } from '../log/redact.js';
import { PROBES } from '../probes/registry.js';
import type { Clock } from '../core/clock.js';
import { probeIdKeyrings } from '../probes/probe-mail.js';
import type { CheckDeps } from './run-check.js';
import { SendBudget } from './send-budget.js';

export interface Runtime {
  tokens: MsalTokenProvider;
  deps: CheckDeps;
}

/** Wires the production dependencies once, for `check`, `doctor` and the daemon alike. */
export function createRuntime(options: { clock: Clock; redactor: Redactor; events?: Partial<TokenEvents>; env?: NodeJS.ProcessEnv }): Runtime {
  const tokens = new MsalTokenProvider({
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
  return {
    tokens,
    deps: {
      tokens,
      clock: options.clock,
      probes: PROBES,
      probeIds: probeIdKeyrings(),
      sendBudget: new SendBudget(options.clock),
      redact: (text) => options.redactor.redact(text),
    },
  };
}
