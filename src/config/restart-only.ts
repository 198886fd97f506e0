import type { AgentSettings, LoadedConfig } from './types.js';

// Settings bound at startup: the listening socket, the logger, the state folder the alert state and probe-id key
// live in, and which security files the listener reads (their contents are re-read; their paths are not).
// concurrency and shutdownGraceSeconds are applied on reload and so are not listed.
const RESTART_ONLY: Array<{ name: string; value: (agent: AgentSettings) => unknown }> = [
  { name: 'agent.listen', value: (agent) => `${agent.host}:${agent.port}` },
  { name: 'agent.insecureListen', value: (agent) => agent.insecureListen },
  { name: 'agent.logLevel', value: (agent) => agent.logLevel },
  { name: 'agent.stateDir', value: (agent) => agent.stateDir },
  { name: 'agent.webConfigFile', value: (agent) => agent.webConfigFile },
  { name: 'agent.bearerTokenFile', value: (agent) => agent.bearerTokenFile },
];

/** The settings that differ between two configurations but keep their running value until a restart. */
export function restartOnlyChanges(running: LoadedConfig, next: LoadedConfig): string[] {
  return RESTART_ONLY.filter(({ value }) => value(running.agent) !== value(next.agent)).map(({ name }) => name);
}
