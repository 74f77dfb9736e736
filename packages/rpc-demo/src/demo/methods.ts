// The demo methods served by `nocopy-rpc serve` and the `npm start` demo.
import { fileURLToPath } from 'node:url';
import type { RpcServer } from '../rpc/server.js';

/** The module whose exports run in the worker pool (fib.ts: fib). */
export const handlersFile = fileURLToPath(new URL('./fib.js', import.meta.url));

export function registerDemoMethods(server: RpcServer): RpcServer {
  return server
    // echo, add and sleep change nothing: idempotent, so clients may retry them on another server.
    .register('echo', (x: unknown) => x, { idempotent: true })
    .register('add', (a: number, b: number) => {
      if (typeof a !== 'number' || typeof b !== 'number') throw Object.assign(new TypeError('add takes two numbers'), { code: 'ERR_BAD_ARGS' });
      return a + b;
    }, { idempotent: true })
    .register('sleep', (ms: number, value?: unknown) => new Promise((resolve) => setTimeout(() => resolve(value ?? ms), Math.min(Math.max(0, Number(ms) || 0), 60_000))), { idempotent: true })
    // fib(n) the slow way recurses on n - 1 and n - 2: a string or a fraction would never reach the
    // base case. Past 78 the result is no longer an exact integer (and would take years).
    .register('fib', 'fib', {
      offload: true,
      validate: ([n]) => {
        if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 78) throw new Error(`n must be an integer from 0 to 78, got ${JSON.stringify(n) ?? String(n)}`);
      },
    });
}
