import type { HistoryStore } from '../../src/history/types.js';

/** A real store seen through a wrapper: every call goes to it, except the ones a test overrides to watch or break. */
export function delegatingStore<T extends Partial<HistoryStore>>(store: HistoryStore, overrides: T): HistoryStore & T {
  return {
    backend: store.backend,
    write: (batch) => store.write(batch),
    checkStates: (query) => store.checkStates(query),
    rollups: (query) => store.rollups(query),
    rollupTotals: (query) => store.rollupTotals(query),
    rollupSums: (query) => store.rollupSums(query),
    checkSpans: (query) => store.checkSpans(query),
    hourTime: (query) => store.hourTime(query),
    results: (query) => store.results(query),
    incidents: (query) => store.incidents(query),
    agentRuns: (query) => store.agentRuns(query),
    prune: (cutoffs) => store.prune(cutoffs),
    schemaVersion: () => store.schemaVersion(),
    close: () => store.close(),
    ...overrides,
  };
}
