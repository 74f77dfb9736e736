// Typed services without code generation: a service is an object of handlers (or an interface of
// methods); the server registers it whole, and the client gets a proxy whose methods have the
// handlers' parameter types and return a Promise of their results. On the wire nothing changes:
// `api.add(1, 2)` is the request [0, id, "add", [1, 2]].
import type { CallContext } from './context.js';

/** A handler of a service: `this` is the call's context. */
export type ServiceHandler = (this: CallContext, ...params: any[]) => unknown;

/** An object of handlers, as `server.register(handlers)` takes it. */
export type ServiceHandlers = { [method: string]: ServiceHandler };

/**
 * Returns `handlers` as they are: written inline, their methods get `this: CallContext` without an
 * annotation, and the object's type is the service's type for `client.service<typeof handlers>()`.
 */
export function defineService<S extends ServiceHandlers>(handlers: S & ThisType<CallContext>): S {
  return handlers;
}

/** The methods of `S` (an object of handlers, or an interface of methods) as the client calls them. */
export type ServiceClient<S> = {
  readonly [K in keyof S as K extends string ? (S[K] extends (...args: any[]) => unknown ? K : never) : never]: S[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** Per-method checks of the params before the handler runs: throw to refuse the call (the error is its reply). */
export type Validators<S> = { readonly [K in keyof S]?: (params: unknown[]) => void };

/**
 * A proxy calling `call(method, params)` for each method read from it. `then` and symbols are not
 * methods (so that the proxy is not mistaken for a promise, nor printed as one).
 */
export function serviceProxy<S>(call: (method: string, params: unknown[]) => Promise<unknown>): ServiceClient<S> {
  const methods = new Map<string, (...params: unknown[]) => Promise<unknown>>();
  return new Proxy(Object.create(null) as object, {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      let fn = methods.get(key);
      if (fn === undefined) {
        fn = (...params: unknown[]) => call(key, params);
        methods.set(key, fn);
      }
      return fn;
    },
  }) as ServiceClient<S>;
}
