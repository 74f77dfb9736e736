// Offloaded methods run in a piscina worker pool, so a CPU-heavy call does not stall the event loop.
// The queue is bounded: past maxQueue a call is refused with QueueFullError instead of waiting.
import { Piscina } from 'piscina';
import { pathToFileURL } from 'node:url';
import { InvalidOptionError } from '@nocopy/transport';
import { checkCount, checkMs } from '@nocopy/transport/util';
import { QueueFullError } from '../errors.js';

export interface WorkersOptions {
  /** The module (path or file: URL) whose exports are the offloaded handlers. */
  filename: string | URL;
  /** Worker threads at most. Default: piscina's (1.5 x available parallelism). */
  maxThreads?: number;
  /** Worker threads kept. Default 1. */
  minThreads?: number;
  /** Calls queued for a free worker at most; more are refused with ERR_QUEUE_FULL. Default 256. */
  maxQueue?: number;
  /** An idle worker exits after this many ms. Default 30000. */
  idleTimeout?: number;
}

export class Offload {
  readonly #pool: Piscina;
  readonly #filename: string;
  readonly #maxQueue: number;

  constructor(options: WorkersOptions) {
    const f = options?.filename;
    if (!(f instanceof URL) && (typeof f !== 'string' || f === '')) throw new InvalidOptionError('workers.filename', f, 'a module path or file: URL');
    this.#filename = f instanceof URL ? f.href : f.startsWith('file:') ? f : pathToFileURL(f).href;
    this.#maxQueue = checkCount('workers.maxQueue', options.maxQueue, 256);
    this.#pool = new Piscina({
      filename: new URL('./worker.js', import.meta.url).href,
      maxThreads: options.maxThreads === undefined ? undefined : checkCount('workers.maxThreads', options.maxThreads, 1),
      minThreads: checkCount('workers.minThreads', options.minThreads, 1),
      maxQueue: this.#maxQueue,
      idleTimeout: checkMs('workers.idleTimeout', options.idleTimeout, 30_000),
    });
  }

  /** Calls waiting for a worker. */
  get queueSize(): number {
    return this.#pool.queueSize;
  }

  /** Runs export `name`; an abort of `signal` takes the task out of the queue, or stops the worker running it. */
  run(method: string, name: string, params: unknown[], signal?: AbortSignal): Promise<unknown> {
    if (this.#pool.queueSize >= this.#maxQueue) return Promise.reject(new QueueFullError(method));
    return this.#pool.run({ filename: this.#filename, name, params }, signal === undefined ? undefined : { signal });
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
