// The layering mailprobe keeps (README, "Development"): checked by `npm run lint` and CI.
// config → auth → probes → runner → metrics / alerting / history → http / cli, with core beneath everything.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-nothing',
      comment: 'src/core is the shared vocabulary: it imports nothing else in src.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'no-folder-cycles',
      comment: 'The folders of src import each other in one direction only.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'probes-stay-probes',
      comment: 'A probe only speaks its protocol; the runner, metrics, alerting, http and cli build on probes, not the reverse.',
      severity: 'error',
      from: { path: '^src/probes/' },
      to: { path: '^src/(runner|metrics|alerting|http|cli)/' },
    },
    {
      name: 'metrics-and-diagnose-never-import-runner',
      comment: 'The runner hands results to metrics and asks diagnose; neither depends on it.',
      severity: 'error',
      from: { path: '^src/(metrics|diagnose)/' },
      to: { path: '^src/runner/' },
    },
    {
      name: 'config-stays-below',
      comment: 'config is read by everything and reads no probes, runner or auth.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/(probes|runner|auth)/' },
    },
    {
      name: 'only-cli-imports-sandbox',
      comment: 'The emulators are for the demo (cli) and tests, never for the daemon.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|sandbox)/' },
      to: { path: '^src/sandbox/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
  },
};
