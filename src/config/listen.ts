// One rule for a listen address, whether it comes from agent.listen or from --listen.
export const LISTEN_SHAPE = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/;
export const LISTEN_SHAPE_MESSAGE = 'expected HOST:PORT such as 0.0.0.0:9465 or 127.0.0.1:9465';

/** Why `listen` is not a usable HOST:PORT, or undefined. Port 0 is allowed: the system picks a free one. */
export function listenProblem(listen: string): string | undefined {
  const match = LISTEN_SHAPE.exec(listen);
  if (!match) return LISTEN_SHAPE_MESSAGE;
  const port = Number(match[2]);
  return port > 65535 ? `port ${port} is out of range (0-65535)` : undefined;
}

/** Whether only this machine can connect to a listener bound to `host` (wildcards and other addresses: no). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return host.startsWith('127.');
  return host === '::1';
}

/** MAILPROBE_INSECURE_LISTEN as written: true/1 or false/0 (or unset/empty); anything else is a mistake to name. */
export function parseInsecureListenEnv(value: string | undefined): boolean | 'invalid' {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  return 'invalid';
}
