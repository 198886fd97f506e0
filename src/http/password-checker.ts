import { Worker } from 'node:worker_threads';

/**
 * bcrypt comparisons on a worker thread. bcryptjs is plain JavaScript: on the event loop a cost-10 hash held it
 * ~100 ms at a time, so a flood of wrong passwords took a whole core from the checks' timers and sockets and
 * pushed /healthz from 2.5 to 156 ms. One thread, one comparison at a time (as exporter-toolkit serialises
 * them), started on the first password and not keeping the process alive.
 */
export class PasswordChecker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (matches: boolean) => void; reject: (error: Error) => void }>();

  compare(password: string, hash: string): Promise<boolean> {
    const worker = this.#worker ?? this.#start();
    const id = this.#next++;
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, password, hash });
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #start(): Worker {
    const worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (answer: { id: number; matches: boolean }) => {
      this.#pending.get(answer.id)?.resolve(answer.matches);
      this.#pending.delete(answer.id);
    });
    const fail = (error: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#pending.values()) waiting.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`password check thread exited (${code})`)));
    this.#worker = worker;
    return worker;
  }
}
