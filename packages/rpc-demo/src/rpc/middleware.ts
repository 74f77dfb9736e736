// Interceptors around calls, on both sides, in onion order: the first added is the outermost. Each
// sees the call, may change it, calls next() to run the rest of the chain (resolving with the result
// or rejecting with the error), and returns the result; returning without next() short-circuits
// (auth, rate limits, caches), a throw fails the call with that error. With none added a call runs
// exactly as before: the chain is only built when there is one.
import type { CallContext } from './context.js';
import type { CallOptions } from './client.js';

/** A server interceptor: `ctx.method`, `ctx.params`, `ctx.metadata`, ...; `next()` runs the rest. */
export type ServerMiddleware = (ctx: CallContext, next: () => Promise<unknown>) => unknown;

/** What a client interceptor sees of a call; it may change any of it before next(). */
export interface ClientCall {
  readonly method: string;
  params: unknown[];
  /** A copy per call: set `options.metadata = { ...options.metadata, trace }` to add metadata. */
  options: CallOptions;
}

/** A client interceptor: `next()` sends the call as it is then and resolves with its result. */
export type ClientMiddleware = (call: ClientCall, next: () => Promise<unknown>) => unknown;

/** Runs `chain` around `last`; next() called twice rejects. */
export function runChain<T>(chain: readonly ((x: T, next: () => Promise<unknown>) => unknown)[], x: T, last: (x: T) => unknown): Promise<unknown> {
  let reached = -1;
  const dispatch = (i: number): Promise<unknown> => {
    if (i <= reached) return Promise.reject(new Error('next() called more than once by one middleware'));
    reached = i;
    try {
      return Promise.resolve(i === chain.length ? last(x) : chain[i]!(x, () => dispatch(i + 1)));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return dispatch(0);
}
