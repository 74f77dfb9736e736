// The demo methods served by `nocopy-rpc serve` and the `npm start` demo.
import { fileURLToPath } from 'node:url';
import type { RpcServer } from '../rpc/server.js';

/** The module whose exports run in the worker pool (fib). */
export const handlersFile = fileURLToPath(new URL('./handlers.js', import.meta.url));

export function registerDemoMethods(server: RpcServer): RpcServer {
  return server
    // echo, add and sleep change nothing: idempotent, so clients may retry them on another server.
    .register('echo', (x: unknown) => x, { idempotent: true })
    .register('add', (a: number, b: number) => {
      if (typeof a !== 'number' || typeof b !== 'number') throw Object.assign(new TypeError('add takes two numbers'), { code: 'ERR_BAD_ARGS' });
      return a + b;
    }, { idempotent: true })
    .register('sleep', (ms: number, value?: unknown) => new Promise((resolve) => setTimeout(() => resolve(value ?? ms), Math.min(Math.max(0, Number(ms) || 0), 60_000))), { idempotent: true })
    .register('fib', 'fib', { offload: true });
}
