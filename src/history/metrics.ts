import { Counter, Gauge, type Registry } from 'prom-client';
import type { RecorderEvents } from './recorder.js';

/**
 * The history store's health on the agent's /metrics: a failing store never stops the checks, so it has to be
 * visible here (alert on mailprobe_history_store_up == 0 or a rising failure count).
 */
export function historyMetrics(registry: Registry, backend: string): RecorderEvents {
  const registers = [registry];
  const writes = new Counter({
    name: 'mailprobe_history_writes_total',
    help: 'Batches written to the history store, by result (success, failure).',
    labelNames: ['backend', 'result'],
    registers,
  });
  const written = new Counter({
    name: 'mailprobe_history_results_written_total',
    help: 'Check results written to the history store.',
    labelNames: ['backend'],
    registers,
  });
  const dropped = new Counter({
    name: 'mailprobe_history_results_dropped_total',
    help: 'Rows (check results, then closed incidents) dropped because the history store failed for longer than the pending limit allows.',
    labelNames: ['backend'],
    registers,
  });
  const pending = new Gauge({
    name: 'mailprobe_history_pending_results',
    help: 'Check results waiting to be written to the history store.',
    labelNames: ['backend'],
    registers,
  });
  const pendingRows = new Gauge({
    name: 'mailprobe_history_pending_rows',
    help: 'Rows waiting to be written to the history store, by kind (results, check_states, incidents); each kind is bounded.',
    labelNames: ['backend', 'kind'],
    registers,
  });
  const up = new Gauge({
    name: 'mailprobe_history_store_up',
    help: 'Whether the latest write to the history store succeeded (1) or failed (0).',
    labelNames: ['backend'],
    registers,
  });
  for (const result of ['success', 'failure']) writes.inc({ backend, result }, 0);
  written.inc({ backend }, 0);
  dropped.inc({ backend }, 0);
  pending.set({ backend }, 0);
  for (const kind of ['results', 'check_states', 'incidents']) pendingRows.set({ backend, kind }, 0);
  up.set({ backend }, 1);
  return {
    onWrite: ({ ok, results }) => {
      writes.inc({ backend, result: ok ? 'success' : 'failure' });
      if (ok) written.inc({ backend }, results);
      up.set({ backend }, ok ? 1 : 0);
    },
    onDrop: (count) => dropped.inc({ backend }, count),
    onPending: (rows) => {
      pending.set({ backend }, rows.results);
      pendingRows.set({ backend, kind: 'results' }, rows.results);
      pendingRows.set({ backend, kind: 'check_states' }, rows.checkStates);
      pendingRows.set({ backend, kind: 'incidents' }, rows.incidents);
    },
  };
}
