import type { Protocol, Stage } from '../core/check.js';
import type { Endpoint } from '../core/endpoint.js';
import type { LineClientOptions } from './line-socket.js';
import type { ProbeRun } from './timing.js';
import type { ProbeContext } from './types.js';
import { ProbeError, rejection, transportReason } from './transport-errors.js';

/**
 * Step runner for the probes' own line clients (IMAP, POP3): a refusal from the server (`refusal` gives its words,
 * or undefined for any other error) becomes the reason its words give; a refused capability command leaves no way
 * to see XOAUTH2 offered.
 */
export function serverRefusals(protocol: Protocol, capabilityCommand: string, refusal: (err: unknown) => string | undefined) {
  return async <T>(stage: Stage, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (err) {
      const words = refusal(err);
      if (words === undefined) throw err;
      if (stage === 'capability') throw new ProbeError('xoauth2_not_offered', `${capabilityCommand} refused: ${words}`, { stage, serverText: words });
      throw rejection(protocol, stage, words, err instanceof Error ? err.message : words);
    }
  };
}

/**
 * The session's last command. The mailbox answered; a refused or cut-off logout changes nothing about that. A
 * silent server still fails the check, as it would at any other step.
 */
export async function logOut(run: ProbeRun, command: string, logout: () => Promise<unknown>): Promise<void> {
  await logout().catch((err: unknown) => {
    if (transportReason(err) === 'timeout') throw err;
    run.transcript.note(`${command} did not complete: ${String(err)}`);
  });
}

/** How a line client connects for a check: the check's step timeout and abort, its transcript, tls timed from TCP up. */
export function lineClientOptions(ctx: ProbeContext, run: ProbeRun, endpoint: Endpoint): LineClientOptions {
  return {
    endpoint,
    timeoutMs: ctx.stepTimeoutMs,
    signal: ctx.signal,
    onClientLine: run.transcript.client,
    onServerLine: run.transcript.server,
    onTcpConnected: () => run.recorder.begin('tls'),
    onNote: run.transcript.note,
  };
}
