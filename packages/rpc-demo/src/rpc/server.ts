// The MessagePack-RPC server: an EventLoop whose onRequest decodes every complete message of a read
// batch, runs the handlers, and answers. Many calls are in flight per connection, answered as they
// finish (out of order). Replies produced while one read batch is handled leave in one flush; replies
// of async handlers that finish together are coalesced into one flush per microtask checkpoint.
import type { AddressInfo, Server } from 'node:net';
import { type RecordableHistogram, createHistogram, performance } from 'node:perf_hooks';
import { checkBoolean, checkBytes, checkCount, checkFunction, checkMs, createWarner, formatHostPort, isThenable } from '@nocopy/transport/util';
import { EventLoop, InvalidOptionError, defaultWheel, type WheelTimer, type Connection, type EventLoopOptions, type EventLoopStats, type ListenOptions, type ShutdownOptions } from '@nocopy/transport';
import { FramingMismatchError, InvalidParamsError, MessageTooLargeError, MethodNotFoundError, RpcClosedError, RunawayHandlerError, UnencodableValueError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE, type Framing, type Message, MessageReader, NOTIFICATION, REQUEST, checkFraming, endResponses, writeMessage, writeResponse } from './protocol.js';
import { Offload, type WorkersOptions } from './offload.js';
import { CallContext, type CancelCode, NO_PEER, type Peer, kAbandoned, kWatch } from './context.js';
import { errorObject, thrownValue } from './wire-errors.js';
import { type RegistryOptions, checkRegistry, registerServer } from './registry.js';
import type { Registration } from '@nocopy/transport/etcd';
import type { ServiceHandlers, Validators } from './service.js';
import { type ServerMiddleware, runChain } from './middleware.js';
import { serverCallChannel, traced } from './tracing.js';
import { CANCEL, DRAIN, HEALTH, HELLO, NO_METADATA, RESERVED_PREFIX, helloResult } from './extensions.js';

export type Handler = (...params: any[]) => unknown;

export interface ServerOptions {
  /** 'framed' (4-byte length prefix, default) or 'stream' (plain concatenated MessagePack). */
  framing?: Framing;
  /** Largest message accepted or sent, in bytes. Default 4 MiB. A larger incoming one closes its connection. */
  maxMessageSize?: number;
  /**
   * Calls in flight per connection at most; reading pauses there until calls finish. Default 1024.
   * A call cancelled (by the client, its deadline or its connection closing) leaves at once, though
   * its handler may run on (stats().runaway).
   */
  maxInFlight?: number;
  /**
   * A handler still running this many ms after its call was cancelled is reported to onError
   * (RunawayHandlerError, ERR_RPC_RUNAWAY), once per call. 0: never. Default 10000.
   */
  runawayWarning?: number;
  /** The worker pool for methods registered with `{ offload: true }`. */
  workers?: WorkersOptions;
  /** Transport options for the EventLoop (timeouts, maxConnections, buffer limits, ...). */
  transport?: Omit<EventLoopOptions<ConnState>, 'onPrepare' | 'onConnect' | 'onError'>;
  /**
   * Record each call's latency (from decoding the request to its result) in a histogram per method,
   * in stats().methods. Default false: it costs about 0.2 µs per call.
   */
  latency?: boolean;
  /**
   * Register in etcd once listening (`{ target: 'etcd://host:port/prefix' }`), under a lease kept
   * alive; deregistered when shutdown() begins. Clients with that target find the server.
   */
  registry?: RegistryOptions;
  /** Errors from notifications, malformed input and the transport. Default: a process warning (NOCOPY_RPC_ERROR), at most 10 per 10 s. */
  onError?: (error: unknown) => void;
}

/** A message must be complete within this many ms of its first byte. */
export const DEFAULT_READ_TIMEOUT = 30_000;
/** A connection without reads or writes for this many ms is closed. */
export const DEFAULT_IDLE_TIMEOUT = 300_000;
/** A flush waiting this many ms for a peer that does not read closes the connection. */
export const DEFAULT_WRITE_TIMEOUT = 30_000;
/** Live connections at most (memory and descriptors stay bounded). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** A handler still running this many ms after its call was cancelled is reported to onError. */
export const DEFAULT_RUNAWAY_WARNING = 10_000;

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

export interface ServerStats {
  connections: number;
  /** Requests and notifications received. */
  calls: number;
  /** Calls answered with an error. */
  errors: number;
  /** Calls running now whose reply is awaited (all connections): a cancelled call leaves at once. */
  inFlight: number;
  /** Calls sent to the worker pool. */
  offloaded: number;
  /** Per registered method: calls (requests and notifications), errors (calls answered with an error) and the latency histogram (ns; null without the latency option). */
  methods: Record<string, MethodStats>;
  /** Calls cancelled before they were answered (by the client, their deadline or their connection closing): their reply is not sent. */
  cancelled: number;
  /** Handlers of cancelled calls still running (they ignore `this.signal`): no longer in inFlight, their result will be dropped. */
  runaway: number;
  /** The EventLoop's: connections accepted, refused and closed, input buffered (the inbound budget in use). */
  transport: EventLoopStats;
}

interface Method {
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

type Invoke = (ctx: CallContext, params: unknown[]) => unknown;

/** Per-connection state: the EventLoop's ctx. */
class ConnState {
  readonly conn: Connection<ConnState>;
  readonly messages: MessageReader;
  /** Bound once: the per-message callback of messages.read(). */
  onMessage: (m: Message) => boolean = () => true;
  /** Bound once: a running call was cancelled (CallContext's kWatch hook). */
  onCancel: (ctx: CallContext, code: CancelCode) => void = () => {};
  inFlight = 0;
  /** Calls in flight (in `calls`) with a deadline: the server's sweep looks at this connection while there are any. */
  deadlines = 0;
  /** Async calls in flight by msgid: a cancel aborts their signal, the connection's close too. */
  readonly calls = new Map<number, CallContext>();
  readonly peer: Peer;
  readonly attributes = new Map<string, unknown>();
  /** The peer sent the extensions' hello (it is our client, or speaks like it). */
  extPeer = false;
  /** Date.now() read once for the read batch being decoded (0: not yet). */
  now = 0;
  /** Async replies written but not yet flushed; their holds are released after the flush. */
  unflushed = 0;
  flushQueued = false;
  paused = false;
  /** The decode error (malformed or oversized input) that ends this connection once its calls are answered. */
  failed: unknown = null;
  #ended = false;
  readonly flush: () => void;
  /** Called when a flush of async replies settled: decoding paused for output may resume. */
  onFlushed: (() => void) | null = null;
  constructor(conn: Connection<ConnState>, messages: MessageReader) {
    this.conn = conn;
    this.messages = messages;
    this.peer = conn.remoteAddress === undefined ? NO_PEER : Object.freeze({ address: conn.remoteAddress, port: conn.remotePort });
    this.flush = () => {
      this.flushQueued = false;
      const n = this.unflushed;
      this.unflushed = 0;
      const done = () => {
        for (let i = 0; i < n; i++) conn.unhold();
        if (this.failed !== null && this.inFlight === 0) this.end();
        this.onFlushed?.();
      };
      if (conn.writer.closed) return done();
      conn.writer.flush().then(done, done);
    };
  }

  /**
   * After a decode error, once every call decoded before it is answered: the replies, then a FIN.
   * Graceful, so that the peer reads them (an abort sends a reset, and a peer still writing would lose
   * replies that had reached it). Input is dropped meanwhile; a peer that does not close within
   * FAILED_LINGER is cut off.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const conn = this.conn;
    const err = this.failed;
    // The reason the connection ends, for close callbacks and the diagnostics channel.
    if (conn.error === undefined) conn.error = err;
    const abort = () => conn.close(err);
    const timer = setTimeout(abort, FAILED_LINGER).unref();
    conn.addCloseCallback(() => clearTimeout(timer));
    conn.closeWrite().catch(abort);
  }
}

/** The default onError: a process warning (code NOCOPY_RPC_ERROR), at most 10 per 10 s. */
const warnRpcError = createWarner({ code: 'NOCOPY_RPC_ERROR' });

/** How often the deadlines of the calls in flight are checked, in ms: a call past its deadline frees its slot within this. */
const DEADLINE_SWEEP = 50;

/** How long a connection ended for malformed input waits for the peer to close after our FIN. */
const FAILED_LINGER = 2000;

export class RpcServer {
  readonly framing: Framing;
  readonly maxMessageSize: number;
  readonly #maxInFlight: number;
  readonly #methods = new Map<string, Method>();
  readonly #loop: EventLoop<ConnState>;
  readonly #offload: Offload | null;
  readonly #onError: (error: unknown) => void;
  #calls = 0;
  #errors = 0;
  #inFlight = 0;
  #offloaded = 0;
  #cancelled = 0;
  #runaway = 0;
  readonly #runawayWarning: number;
  /** The onError report pending for each runaway handler (runawayWarning). */
  readonly #runaways = new Map<CallContext, WheelTimer>();
  /** The connection whose read batch is being decoded: its replies share a region of its output. */
  #batch: ConnState | null = null;
  /** Connections with calls in flight that have a deadline (see #watchDeadlines). */
  readonly #watched = new Set<ConnState>();
  #sweep: NodeJS.Timeout | null = null;
  readonly #middleware: ServerMiddleware[] = [];
  readonly #latency: boolean;
  /** shutdown() was called: register() refuses, $health answers "draining". */
  #shutdown = false;
  /** Methods registered as idempotent, announced in the hello. */
  readonly #idempotent: string[] = [];
  readonly #registry: RegistryOptions | undefined;
  /** The registry entry, once listen() registered it. */
  #registration: Promise<Registration> | null = null;

  constructor(options: ServerOptions = {}) {
    this.framing = checkFraming(options.framing);
    const max = checkBytes('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    if (max > 2 ** 32 - 1) throw new InvalidOptionError('maxMessageSize', max, 'an integer from 1 to 2^32-1');
    this.maxMessageSize = max;
    this.#maxInFlight = checkCount('maxInFlight', options.maxInFlight, 1024);
    this.#runawayWarning = checkMs('runawayWarning', options.runawayWarning, DEFAULT_RUNAWAY_WARNING);
    this.#latency = checkBoolean('latency', options.latency, false);
    checkFunction('onError', options.onError);
    this.#onError = options.onError ?? warnRpcError;
    this.#registry = checkRegistry(options.registry);
    this.#offload = options.workers ? new Offload(options.workers) : null;
    const transport = options.transport ?? {};
    this.#loop = new EventLoop<ConnState>(this.#onRequest, {
      ...transport,
      // Defaults with ??, not by spread order: a key present but undefined (`{ readTimeout: o.readTimeout }`)
      // must keep the default. A whole message must fit in the input buffer.
      maxInboundBytes: transport.maxInboundBytes ?? Math.max(max + 4 + 64 * 1024, 8 * 1024 * 1024),
      // Hostile-input defaults: a message must arrive within 30 s of its first byte (slow-loris),
      // and a connection with no traffic for 5 minutes is closed. Both can be changed via `transport`.
      readTimeout: transport.readTimeout ?? DEFAULT_READ_TIMEOUT,
      idleTimeout: transport.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
      // A client that stops reading its replies is cut off after 30 s instead of holding buffers.
      writeTimeout: transport.writeTimeout ?? DEFAULT_WRITE_TIMEOUT,
      maxConnections: transport.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      onPrepare: (conn) => {
        const st = new ConnState(conn, new MessageReader(this.framing, this.maxMessageSize));
        st.onFlushed = () => this.#resume(st);
        st.onMessage = (m) => this.#onMessage(st, m);
        st.onCancel = (ctx, code) => this.#abandon(st, ctx, code);
        // Handlers still running learn that nobody waits for them any more.
        conn.addCloseCallback(() => {
          for (const ctx of st.calls.values()) ctx.cancel('ERR_CONN_CLOSED');
        });
        return st;
      },
      onError: (err) => this.#onError(err),
      // Shutdown: a client that speaks the extensions is told to go ("$/drain"); it sends no new call
      // here and closes the connection once its calls are answered, so calls it sent before it heard
      // are still read and answered. Other peers are drained by the loop (reading stops).
      onShutdown: (st, conn) => {
        if (!st.extPeer || st.failed !== null || conn.writer.closed) return false;
        try {
          writeMessage(conn.writer, this.framing, [2, DRAIN, []], this.maxMessageSize);
        } catch {
          return false;
        }
        conn.writer.flush().catch(() => {});
        return true;
      },
      // A peer's FIN: a plain MessagePack-RPC peer may half-close and still read its replies, so its
      // calls go on; our client ends a connection only once it no longer waits for any of them.
      onDisconnect: (st, conn) => {
        if (st.extPeer) for (const ctx of st.calls.values()) ctx.cancel('ERR_CONN_CLOSED');
        transport.onDisconnect?.(st, conn);
      },
    });
  }

  /**
   * Registers a handler. It may be sync or async; its return value is the result, a thrown error
   * becomes the response's error ({ name, message, code, data }). `this` in the handler is the call's
   * CallContext. With `{ offload: true }`, `handler` is the name of an export of the workers module,
   * run in the worker pool. With an object of handlers, registers each of its methods (a service:
   * the client calls it through `client.service<typeof handlers>()`).
   */
  register<S extends ServiceHandlers>(handlers: S, options?: ServiceOptions<S>): this;
  register(method: string, handler: Handler, options?: Omit<RegisterOptions, 'offload'>): this;
  register(method: string, exportName: string, options: RegisterOptions & { offload: true }): this;
  register(method: string | ServiceHandlers, handler?: Handler | string | ServiceOptions<ServiceHandlers>, options: RegisterOptions = {}): this {
    if (this.#shutdown) throw new RpcClosedError('server');
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
        this.#checkName(name);
      }
      const idempotent = opts.idempotent ?? [];
      for (const name of names) this.register(name, service[name]!, { validate: validators[name], idempotent: idempotent.includes(name) });
      return this;
    }
    this.#checkName(method);
    checkFunction('validate', options.validate);
    if (checkBoolean('idempotent', options.idempotent, false) && !this.#idempotent.includes(method)) this.#idempotent.push(method);
    const validate = options.validate;
    if (options.offload) {
      if (this.#offload === null) throw new InvalidOptionError('offload', true, `a server with a workers option to offload ${method}`);
      if (typeof handler !== 'string') throw new InvalidOptionError('handler', handler, 'the name of an export of the workers module (offloaded)');
      const name = handler;
      // The call's signal goes to piscina: a cancelled call leaves the queue, or its worker is stopped.
      this.#set(method, null, name, validated(method, validate, (ctx, params) => this.#runOffloaded(method, name, params, ctx.signal)));
    } else {
      if (typeof handler !== 'function') throw new InvalidOptionError('handler', handler, 'a function');
      const fn = handler as Handler;
      this.#set(method, fn, null, validated(method, validate, (ctx, params) => fn.apply(ctx, params)));
    }
    return this;
  }

  /**
   * Adds a middleware around every call (and notification) of registered methods, in onion order:
   * the first added runs outermost. `fn(ctx, next)` sees `ctx.method`, `ctx.params`, `ctx.metadata`,
   * ...; `next()` resolves with the result or rejects with the error of the rest of the chain.
   * Returning without calling next() answers the call with the value returned; a throw, with the error.
   */
  use(fn: ServerMiddleware): this {
    if (this.#shutdown) throw new RpcClosedError('server');
    if (typeof fn !== 'function') throw new InvalidOptionError('middleware', fn, 'a function (ctx, next)');
    this.#middleware.push(fn);
    for (const m of this.#methods.values()) m.invoke = this.#wrap(m.core);
    return this;
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

  #checkName(method: unknown): void {
    if (typeof method !== 'string' || method === '') throw new InvalidOptionError('method', method, 'a non-empty string');
    if (method.startsWith(RESERVED_PREFIX)) throw new InvalidOptionError('method', method, `a name not starting with "${RESERVED_PREFIX}" (reserved for the wire extensions)`);
    if (method === HEALTH) throw new InvalidOptionError('method', method, `a name other than "${HEALTH}" (every server answers it)`);
  }

  /** Resolves with the address: the socket path for `{ path }`, else the TCP address (its port when `port` was 0). */
  listen(options: ListenOptions & { path: string }): Promise<string>;
  listen(options?: ListenOptions & { path?: undefined }): Promise<AddressInfo>;
  /** Options not known to be one or the other. */
  listen(options?: ListenOptions): Promise<AddressInfo | string>;
  listen(options: ListenOptions = {}): Promise<AddressInfo | string> {
    const listening = this.#loop.listen(options);
    const registry = this.#registry;
    if (registry === undefined) return listening;
    // Registered once listening: the promise resolves when the entry is in etcd (clients can find the server).
    return listening.then(async (a) => {
      const host = typeof a === 'string' ? a : a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.address;
      const address = typeof a === 'string' ? a : formatHostPort(host, a.port);
      this.#registration ??= registerServer(registry, address, this.#onError);
      await this.#registration;
      return a;
    });
  }

  /** Serves connections of an existing net or tls server. */
  serve(server: Server): this {
    this.#loop.serve(server);
    return this;
  }

  address(): AddressInfo | string | null {
    return this.#loop.address();
  }

  stats(): ServerStats {
    const methods: Record<string, MethodStats> = {};
    for (const [name, m] of this.#methods) methods[name] = { calls: m.calls, errors: m.errors, latency: m.latency };
    return { connections: this.#loop.connections, calls: this.#calls, errors: this.#errors, inFlight: this.#inFlight, offloaded: this.#offloaded, cancelled: this.#cancelled, runaway: this.#runaway, methods, transport: this.#loop.stats() };
  }

  /**
   * Stops accepting and drains: our clients are told to go ("$/drain") and close their connections
   * once the calls they sent are answered (calls still on the wire are read and answered meanwhile);
   * other peers' connections stop reading, their calls are answered, and they close. Then the worker
   * pool stops. Bounded by `timeout` or `signal`: what is left then is cut.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    // Not async: the loop throws InvalidOptionError for bad options synchronously, as documented.
    const was = this.#shutdown;
    this.#shutdown = true;
    let closed: Promise<void>;
    try {
      closed = this.#loop.shutdown(options);
    } catch (err) {
      this.#shutdown = was;
      throw err;
    }
    // Out of the registry first, so that watching clients stop picking this server while it drains.
    const registration = this.#registration;
    this.#registration = null;
    if (registration !== null) {
      const deregistered = registration.then((r) => r.close(), () => {});
      closed = Promise.all([closed, deregistered]).then(() => {});
    }
    return closed.then(() => this.#offload?.close());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  // ---- per connection ----

  readonly #onRequest = (st: ConnState, conn: Connection<ConnState>): void | Promise<void> => {
    // At maxInFlight the input waits (reading pauses at maxInboundBytes); #complete re-dispatches it.
    if (st.failed !== null) {
      // After malformed input nothing more is decoded: the rest is dropped while the calls decoded
      // before it finish; the last reply's flush ends the connection (ConnState.end).
      conn.reader.skip(conn.reader.length);
      return;
    }
    if (st.paused) return;
    const w = conn.writer;
    st.now = 0;
    // The replies of this batch go on in one region of the output (writeResponse's keep).
    this.#batch = st;
    try {
      st.messages.read(conn.reader, st.onMessage);
    } catch (err) {
      this.#batch = null;
      try {
        endResponses();
      } catch {
        // The output is closed: the answers below find it so and send nothing.
      }
      // Oversized or malformed input: this connection only. The calls decoded before it are still
      // answered (those of this batch and those in flight), then the connection closes.
      this.#onError(err);
      st.failed = err;
      conn.reader.skip(conn.reader.length);
      // The peer learns why: its request is answered with the error before the close (in the peer's
      // framing for a framing mismatch), when the request's id could be read.
      const id = (err as { requestId?: number }).requestId;
      if (id !== undefined) {
        const framing = err instanceof FramingMismatchError ? err.peerFraming : this.framing;
        try {
          // `closing`: the client sends no more calls on this connection (they would be lost).
          writeMessage(w, framing, [1, id, { ...errorObject(err), closing: true }, null], this.maxMessageSize);
        } catch {
          // The writer closed: nothing to tell.
        }
      }
      // With no calls in flight it ends now (closeWrite() flushes this batch's replies first).
      if (st.inFlight === 0) st.end();
      else if (w.mallocLength > 0) return w.flush();
      return;
    }
    this.#batch = null;
    endResponses();
    // Synchronous replies of this batch leave in one send. Only output waiting for the peer returns a
    // promise (backpressure: no more input is read until it drains); a send that went to the socket
    // returns nothing, so the transport goes on to the next input without a microtask. A closed
    // connection throws ConnClosedError here, which the transport reports and closes with, as it did
    // for the rejected flush.
    if (w.mallocLength > 0 && !w.send()) return w.drained();
  };

  /** Returns false to stop decoding when the connection has maxInFlight calls running. */
  #onMessage(st: ConnState, m: Message): boolean {
    if (m[0] === REQUEST) {
      const id = m[1];
      const name = m[2];
      const method = this.#methods.get(name);
      if (method === undefined) {
        if (name === HELLO) {
          st.extPeer = true;
          this.#reply(st, id, null, helloResult(this.#idempotent));
          // A client that says hello while the server drains is told to go at once.
          if (this.#shutdown) writeMessage(st.conn.writer, this.framing, [2, DRAIN, []], this.maxMessageSize);
        } else if (name === HEALTH) {
          this.#reply(st, id, null, { status: this.#shutdown ? 'draining' : 'serving' });
        } else {
          this.#calls++;
          this.#reply(st, id, new MethodNotFoundError(name), null);
        }
        return true;
      }
      this.#calls++;
      const params = m[3];
      let metadata = NO_METADATA;
      let deadline = Infinity;
      if (m.length === 5) {
        const ext = m[4];
        // One clock read per read batch: the deadline is the caller's timeout from about when it arrived.
        if (typeof ext === 'number') deadline = (st.now || (st.now = Date.now())) + ext;
        else {
          metadata = ext.metadata;
          if (ext.timeout !== undefined) deadline = (st.now || (st.now = Date.now())) + ext.timeout;
        }
      }
      const ctx = new CallContext(name, id, params, metadata, deadline, st.peer, st.attributes);
      method.calls++;
      const t0 = method.latency === null ? 0 : performance.now();
      let r: unknown;
      try {
        r = serverCallChannel.hasSubscribers ? traced(serverCallChannel, { method: name, params, context: ctx }, () => method.invoke(ctx, params)) : method.invoke(ctx, params);
      } catch (err) {
        method.errors++;
        if (t0 !== 0) record(method.latency!, t0);
        this.#reply(st, id, thrownValue(err), null);
        return true;
      }
      if (!isThenable(r)) {
        if (t0 !== 0) record(method.latency!, t0);
        this.#reply(st, id, null, r);
        return true;
      }
      st.inFlight++;
      this.#inFlight++;
      st.calls.set(id, ctx);
      st.conn.hold();
      // A cancel (client, deadline, close) frees the slot at once, whether or not the handler stops.
      ctx[kWatch](st.onCancel);
      if (deadline !== Infinity && st.deadlines++ === 0) this.#watchDeadlines(st);
      r.then(
        (v) => {
          if (t0 !== 0) record(method.latency!, t0);
          this.#complete(st, ctx, null, v);
        },
        (err) => {
          method.errors++;
          if (t0 !== 0) record(method.latency!, t0);
          this.#complete(st, ctx, thrownValue(err), null);
        },
      );
      // Also while replies wait for the peer to read them: nobody awaits the flush of async replies,
      // and a peer that sends async calls without reading would make the output grow without bound.
      if (st.inFlight >= this.#maxInFlight || st.conn.writer.waiting) {
        st.paused = true;
        return false;
      }
      return true;
    }
    if (m[0] === NOTIFICATION) {
      const name = m[1];
      const method = this.#methods.get(name);
      if (method === undefined) {
        if (name === CANCEL) this.#onCancel(st, m[2]);
        else {
          this.#calls++;
          // Nobody answers a notification: the server's onError is the only place a typo shows.
          this.#onError(new MethodNotFoundError(name, 'notification'));
        }
        return true;
      }
      this.#calls++;
      method.calls++;
      const onError = (err: unknown) => {
        method.errors++;
        this.#onError(thrownValue(err));
      };
      try {
        const ctx = new CallContext(name, -1, m[2], NO_METADATA, Infinity, st.peer, st.attributes);
        const r = serverCallChannel.hasSubscribers ? traced(serverCallChannel, { method: name, params: m[2], context: ctx }, () => method.invoke(ctx, m[2])) : method.invoke(ctx, m[2]);
        if (isThenable(r)) r.then(undefined, onError);
      } catch (err) {
        onError(err);
      }
    }
    // Responses are not expected by a server: ignored.
    return true;
  }

  /** [2, "$/cancel", [id]]: the client gave up on call `id`; its handler's signal aborts, its reply is not sent. */
  #onCancel(st: ConnState, params: unknown[]): void {
    const ctx = st.calls.get(params[0] as number);
    // Unknown: finished already, or never seen.
    ctx?.cancel('ERR_RPC_CANCELLED');
  }

  #runOffloaded(method: string, name: string, params: unknown[], signal: AbortSignal): Promise<unknown> {
    this.#offloaded++;
    return this.#offload!.run(method, name, params, signal);
  }

  /**
   * A running call was cancelled: it leaves the in-flight counts now, its reply will be dropped, and
   * its handler, if it ignores the signal, runs on as a runaway until it returns.
   */
  #abandon(st: ConnState, ctx: CallContext, code: CancelCode): void {
    st.inFlight--;
    this.#inFlight--;
    if (ctx.deadline !== Infinity) st.deadlines--;
    if (st.calls.get(ctx.id) === ctx) st.calls.delete(ctx.id);
    this.#cancelled++;
    this.#runaway++;
    if (this.#runawayWarning > 0) {
      const ms = this.#runawayWarning;
      this.#runaways.set(ctx, defaultWheel.after(ms, (c: CallContext) => {
        this.#runaways.delete(c);
        this.#onError(new RunawayHandlerError(c.method, ms, code));
      }, ctx));
    }
    // No reply to flush: the connection need not stay open (drain, half-close) for it.
    st.conn.unhold();
    if (st.failed !== null && st.inFlight === 0 && st.unflushed === 0) st.end();
    this.#resume(st);
  }

  #complete(st: ConnState, ctx: CallContext, err: unknown, result: unknown): void {
    if (ctx[kAbandoned]) {
      // Its slot went when it was cancelled; the result is dropped.
      this.#runaway--;
      const w = this.#runaways.get(ctx);
      if (w !== undefined) {
        w.cancel();
        this.#runaways.delete(ctx);
      }
      return;
    }
    st.inFlight--;
    this.#inFlight--;
    if (ctx.deadline !== Infinity) st.deadlines--;
    const id = ctx.id;
    if (st.calls.get(id) === ctx) st.calls.delete(id);
    ctx.finish();
    // A cancelled call's reply would be dropped by the client: it is not sent.
    if (ctx.cancelled) this.#cancelled++;
    else if (!st.conn.writer.closed) this.#reply(st, id, err, result);
    st.unflushed++;
    if (!st.flushQueued) {
      st.flushQueued = true;
      queueMicrotask(st.flush);
    }
    this.#resume(st);
  }

  /**
   * The connection has calls in flight with a deadline: the sweep, every DEADLINE_SWEEP ms while any
   * connection has one, cancels those past it. One clock read and a look at each such call per sweep
   * instead of a timer per call (most calls end long before a sweep sees them).
   */
  #watchDeadlines(st: ConnState): void {
    this.#watched.add(st);
    this.#sweep ??= setInterval(this.#sweepDeadlines, DEADLINE_SWEEP).unref();
  }

  readonly #sweepDeadlines = (): void => {
    const now = Date.now();
    for (const st of this.#watched) {
      if (st.deadlines === 0) {
        this.#watched.delete(st);
        continue;
      }
      // A cancel frees the slot now (#abandon deletes the call from the map being walked: allowed).
      for (const ctx of st.calls.values()) if (ctx.deadline <= now) ctx.cancel('ERR_RPC_DEADLINE');
    }
    if (this.#watched.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  };

  /** Input left undecoded while the connection was at its limit (calls in flight, or output waiting) is dispatched again. */
  #resume(st: ConnState): void {
    if (st.paused && st.inFlight < this.#maxInFlight && !st.conn.writer.waiting) {
      st.paused = false;
      st.conn.redispatch();
    }
  }

  /** Encodes a response at the writer's tail (flushed by the caller). */
  #reply(st: ConnState, id: number, err: unknown, result: unknown): void {
    if (err !== null && err !== undefined) this.#errors++;
    const w = st.conn.writer;
    try {
      writeResponse(w, this.framing, id, err != null ? errorObject(err) : null, err != null ? null : result, this.maxMessageSize, this.#batch === st);
    } catch (e) {
      if (w.closed) return;
      let why = e;
      if (err != null && (err as { data?: unknown }).data !== undefined) {
        // The error's data could not be encoded (too large, or not serializable): the error goes without it.
        try {
          writeMessage(w, this.framing, [1, id, errorObject(err, `data not sent: ${(e as Error).message}`), null], this.maxMessageSize);
          return;
        } catch (e2) {
          if (w.closed) return;
          why = e2;
        }
      }
      // The result (or the error itself) could not be encoded: answer with that error.
      if (err == null) this.#errors++;
      const what = err == null ? 'the result' : 'the error';
      const detail = why instanceof UnencodableValueError ? why.detail : String((why as Error)?.message ?? why);
      writeMessage(w, this.framing, [1, id, errorObject(why instanceof MessageTooLargeError ? why : new UnencodableValueError(`${what}: ${detail}`)), null], this.maxMessageSize);
    }
  }
}

/** The handler behind a params check (validate), if there is one. */
function validated(method: string, validate: ((params: unknown[]) => void) | undefined, invoke: Method['invoke']): Method['invoke'] {
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
function record(h: RecordableHistogram, t0: number): void {
  h.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
}

export function createServer(options: ServerOptions = {}): RpcServer {
  return new RpcServer(options);
}
