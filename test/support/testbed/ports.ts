import net from 'node:net';

// Below Linux's ephemeral range (32768+), so a port we pick is not also handed to some outgoing connection.
const LOW = 20_000;
const HIGH = 32_000;

function randomPort(): number {
  return LOW + Math.floor(Math.random() * (HIGH - LOW));
}

/** Whether 127.0.0.1:port can be bound right now. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct random high ports that were free a moment ago. The daemon binds them later, so a race is
 * still possible: callers retry start-up on "Address already in use".
 */
export async function pickPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt += 1) {
    if (attempt > 200) throw new Error('no free loopback port found in 200 tries');
    const port = randomPort();
    if (!ports.includes(port) && (await isPortFree(port))) ports.push(port);
  }
  return ports;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
