// The layering mailprobe keeps (docs/development.md, "Layering", whose table test/layout/layering.test.ts
// compares with the rules below): checked by `npm run lint` and CI.
// Each folder of src may import only the folders listed for it here; a folder not listed imports nothing.

/** The folders each folder builds on. core is the vocabulary beneath everything; daemon composes; cli prints. */
const BUILDS_ON = {
  core: [],
  log: ['core'],
  // Crash-safe state files (write, rename, fsync; one owner per file): I/O, so not in core.
  files: ['core'],
  // Outbound connections through the proxy (CONNECT tunnels, HTTP through them), shared by auth, probes, alerting.
  net: ['core', 'config'],
  config: ['core'],
  diagnose: ['core', 'config'],
  auth: ['core', 'config', 'diagnose', 'log', 'files', 'net'],
  probes: ['core', 'config', 'diagnose', 'log', 'files', 'net'],
  // The runner hands each result to metrics and asks diagnose; consumers read results from core, never the runner.
  runner: ['core', 'config', 'diagnose', 'log', 'auth', 'probes', 'metrics'],
  metrics: ['core', 'config', 'log'],
  alerting: ['core', 'config', 'log', 'files', 'net'],
  // History stores the diagnosis made when the failure happened and never diagnoses again: no diagnose.
  history: ['core', 'config', 'log', 'files'],
  summary: ['core', 'config', 'log', 'history', 'alerting', 'files'],
  http: ['core', 'config', 'diagnose', 'log', 'history', 'metrics'],
  daemon: ['core', 'config', 'diagnose', 'log', 'auth', 'probes', 'runner', 'metrics', 'alerting', 'history', 'summary', 'http', 'files'],
  // The emulators are for the demo (cli) and the tests, never for the daemon.
  sandbox: ['core', 'config'],
  cli: ['core', 'config', 'diagnose', 'log', 'auth', 'probes', 'runner', 'metrics', 'alerting', 'history', 'summary', 'http', 'daemon', 'sandbox', 'files'],
};

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment: 'The folders of src import each other in one direction only.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-unknown-folder',
      comment: 'A new folder of src takes its place in BUILDS_ON before anything imports it or it imports anything.',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${Object.keys(BUILDS_ON).join('|')})/` },
      to: { path: '^src/' },
    },
    {
      name: 'summary-sends-through-the-outbox',
      comment: 'src/summary sends through alerting’s public outbox (src/alerting/outbox.ts), never its providers, queues or request internals.',
      severity: 'error',
      from: { path: '^src/summary/' },
      to: { path: '^src/alerting/', pathNot: '^src/alerting/outbox\\.ts$' },
    },
    ...Object.entries(BUILDS_ON).map(([folder, allowed]) => ({
      name: `${folder}-builds-on-${allowed.length ? allowed.join('-') : 'nothing'}`,
      comment: `src/${folder} imports only ${allowed.length ? allowed.map((name) => `src/${name}`).join(', ') : 'within itself'}.`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: '^src/', pathNot: `^src/(${[folder, ...allowed].join('|')})/` },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
  },
};
