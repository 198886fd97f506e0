import { sweepingAfter } from './cleanup.js';
import { graphProbe, graphReadProbe } from './graph.js';
import { imapProbe } from './imap.js';
import { pop3Probe } from './pop3.js';
import { roundtripProbe } from './roundtrip.js';
import { smtpProbe } from './smtp.js';
import type { CheckKind } from '../core/check.js';
import type { ProbeFn } from './types.js';

/**
 * The one map from check kind to probe. The smtp check sweeps the monitor's older probe messages after sending
 * when the runner's policy asks for it (no roundtrip check on the monitor to do it).
 */
export const PROBES = {
  imap: imapProbe,
  smtp: sweepingAfter(smtpProbe),
  pop3: pop3Probe,
  roundtrip: roundtripProbe,
  graph: graphProbe,
  graphread: graphReadProbe,
} satisfies Record<CheckKind, ProbeFn>;
