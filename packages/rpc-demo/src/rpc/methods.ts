// The server's method table: what register() and use() record (the handler or the worker export, the
// params check, the middleware chain around it), the methods announced as idempotent, and the calls,
// errors and latency histogram of each. Kept apart from the server so that every way in (TCP, TLS,
// Unix, WebSocket) looks a method up in one table.
import { type RecordableHistogram, createHistogram, performance } from 'node:perf_hooks';
import { checkBoolean, checkFunction } from '@nocopy/transport/util';
import { InvalidOptionError } from '@nocopy/transport';
import { InvalidParamsError } from '../errors.js';
import type { CallContext } from './context.js';
import type { Offload } from './offload.js';
import type { ServiceHandlers, Validators } from './service.js';
import { type ServerMiddleware, runChain } from './middleware.js';
import { HEALTH, RESERVED_PREFIX } from './extensions.js';

export type Handler = (...params: any[]) => unknown;

export interface RegisterOptions {
  /** Run in the worker pool: the handler argument is then the name of an export of `workers.filename`. */
  offload?: boolean;
  /**
   * The method may run more than once with the same effect (a read, a put of a fixed value): the
   * server announces it to our clients, which then retry it on another server when a connection
   * drops under the call. Default false.
   */
  idempotent?: boolean;
  /**
   * Checks the params before the handler runs (a schema library's parse, say): throw to refuse the
   * call. A thrown error with a string `code` is the reply as it is; another becomes
   * InvalidParamsError (ERR_INVALID_PARAMS) with its message.
   */
  validate?: (params: unknown[]) => void;
}

/** Options of register(handlers): a validator per method, and the methods that are idempotent. */
export interface ServiceOptions<S> {
  validate?: Validators<S>;
  idempotent?: readonly (keyof S & string)[];
}

export interface MethodStats {
  calls: number;
  errors: number;
  /** Node's RecordableHistogram of call latencies in ns (min, max, mean, percentile(p), count); null without the latency option. */
  latency: RecordableHistogram | null;
}

export type Invoke = (ctx: CallContext, params: unknown[]) => unknown;

export interface Method {
  fn: Handler | null;
  offload: string | null;
  /** Runs the call: the handler with the context as `this`, or the worker pool (after the validate hook). */
  core: Invoke;
  /** core inside the middleware chain (core itself when there is none). */
  invoke: Invoke;
  calls: number;
  errors: number;
  /** Latency of each call in ns (ServerOptions.latency), else null. */
  latency: RecordableHistogram | null;
}

export class MethodTable {
  readonly #methods = new Map<string, Method>();
  readonly #middleware: ServerMiddleware[] = [];
  readonly #latency: boolean;
  readonly #offload: Offload | null;
  /** Methods registered as idempotent, announced in the hello. */
  readonly idempotent: string[] = [];
  /** Calls sent to the worker pool. */
  offloaded = 0;

  constructor(latency: boolean, offload: Offload | null) {
    this.#latency = latency;
    this.#offload = offload;
  }

  get(name: string): Method | undefined {
    return this.#methods.get(name);
  }

  /** register() of the server, once it checked the server still takes methods. */
  register(method: string | ServiceHandlers, handler?: Handler | string | ServiceOptions<ServiceHandlers>, options: RegisterOptions = {}): void {
    if (method !== null && typeof method === 'object') {
      const service = method;
      const opts = (handler ?? {}) as ServiceOptions<ServiceHandlers>;
      if (opts === null || typeof opts !== 'object') throw new InvalidOptionError('options', opts, 'an object');
      const names = Object.keys(service);
      if (names.length === 0) throw new InvalidOptionError('handlers', service, 'an object with at least one method');
      const validators = opts.validate ?? {};
      for (const name of Object.keys(validators)) if (!names.includes(name)) throw new InvalidOptionError(`validate.${name}`, validators[name], `a validator of a method of the service`);
      // All checked before any is registered: a bad entry registers nothing.
      for (const name of names) {
        if (typeof service[name] !== 'function') throw new InvalidOptionError(`handlers.${name}`, service[name], 'a function');
        checkFunction(`validate.${name}`, validators[name]);
        checkName(name);
      }
      const idempotent = opts.idempotent ?? [];
      for (const name of names) this.register(name, service[name]!, { validate: validators[name], idempotent: idempotent.includes(name) });
      return;
    }
    checkName(method);
    checkFunction('validate', options.validate);
    if (checkBoolean('idempotent', options.idempotent, false) && !this.idempotent.includes(method)) this.idempotent.push(method);
    const validate = options.validate;
    if (options.offload) {
      const pool = this.#offload;
      if (pool === null) throw new InvalidOptionError('offload', true, `a server with a workers option to offload ${method}`);
      if (typeof handler !== 'string') throw new InvalidOptionError('handler', handler, 'the name of an export of the workers module (offloaded)');
      const name = handler;
      // The call's signal goes to piscina: a cancelled call leaves the queue, or its worker is stopped.
      this.#set(method, null, name, validated(method, validate, (ctx, params) => {
        this.offloaded++;
        return pool.run(method, name, params, ctx.signal);
      }));
    } else {
      if (typeof handler !== 'function') throw new InvalidOptionError('handler', handler, 'a function');
      const fn = handler as Handler;
      this.#set(method, fn, null, validated(method, validate, (ctx, params) => fn.apply(ctx, params)));
    }
  }

  /** Adds a middleware around every method, the ones registered already included. */
  use(fn: ServerMiddleware): void {
    if (typeof fn !== 'function') throw new InvalidOptionError('middleware', fn, 'a function (ctx, next)');
    this.#middleware.push(fn);
    for (const m of this.#methods.values()) m.invoke = this.#wrap(m.core);
  }

  stats(): Record<string, MethodStats> {
    const methods: Record<string, MethodStats> = {};
    for (const [name, m] of this.#methods) methods[name] = { calls: m.calls, errors: m.errors, latency: m.latency };
    return methods;
  }

  #set(method: string, fn: Handler | null, offload: string | null, core: Invoke): void {
    this.#methods.set(method, { fn, offload, core, invoke: this.#wrap(core), calls: 0, errors: 0, latency: this.#latency ? createHistogram() : null });
  }

  #wrap(core: Invoke): Invoke {
    const chain = this.#middleware;
    if (chain.length === 0) return core;
    const last = (ctx: CallContext) => core(ctx, ctx.params);
    return (ctx) => runChain(chain, ctx, last);
  }
}

function checkName(method: unknown): asserts method is string {
  if (typeof method !== 'string' || method === '') throw new InvalidOptionError('method', method, 'a non-empty string');
  if (method.startsWith(RESERVED_PREFIX)) throw new InvalidOptionError('method', method, `a name not starting with "${RESERVED_PREFIX}" (reserved for the wire extensions)`);
  if (method === HEALTH) throw new InvalidOptionError('method', method, `a name other than "${HEALTH}" (every server answers it)`);
}

/** The handler behind a params check (validate), if there is one. */
function validated(method: string, validate: ((params: unknown[]) => void) | undefined, invoke: Invoke): Invoke {
  if (validate === undefined) return invoke;
  return (ctx, params) => {
    try {
      validate(params);
    } catch (err) {
      throw typeof (err as { code?: unknown } | null)?.code === 'string' ? err : new InvalidParamsError(method, err instanceof Error ? err.message : String(err), err);
    }
    return invoke(ctx, params);
  };
}

/** A call's latency since `t0` (performance.now()), in ns, at least 1 (a histogram takes no 0). */
export function record(h: RecordableHistogram, t0: number): void {
  h.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
}
