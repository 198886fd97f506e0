import { runCli, type CliRun } from './cli.js';

/** One step of `mailprobe doctor --json`, as the emulator tests read it. */
export interface DoctorStep {
  id: string;
  verdict: string;
  reason?: string;
  detail?: string;
  serverText?: string;
  diagnosis?: { fixes: string[]; candidates: string[]; summary: string };
}

/** Runs `doctor --json` on a config file with one monitor and returns its steps. */
export async function doctorSteps(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ run: CliRun; steps: DoctorStep[] }> {
  const run = await runCli(['doctor', '--config', file, '--json'], env);
  const parsed = JSON.parse(run.stdout) as { monitors: Array<{ steps: DoctorStep[] }> };
  return { run, steps: parsed.monitors[0]?.steps ?? [] };
}
