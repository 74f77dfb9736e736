// The MessagePack-RPC server: a session server (../sessions/) whose sessions are its peers, over TCP,
// TLS or a Unix socket (listen, serve), and over WebSocket through its endpoint. The stream codec
// decodes every complete message of a read in one pass; the server runs the handlers and answers.
// Many calls are in flight per peer, answered as they finish (out of order). Replies produced while
// one read is handled leave in one write; replies of async handlers that finish in one event-loop
// turn leave in one write per peer. The method table is methods.ts, the state per peer
// peer-state.ts, the encoding fallbacks of a reply reply.ts.
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkBoolean, checkBytes, checkCount, checkFunction, checkMs, createWarner, formatHostPort, isThenable } from '@nocopy/transport/util';
import { InvalidOptionError, ServerFront, defaultWheel, type WheelTimer, type ListenOptions, type SessionServer, type ShutdownOptions } from '@nocopy/transport';
import { FramingMismatchError, MethodNotFoundError, RpcClosedError, RunawayHandlerError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE, type Framing, type Message, NOTIFICATION, REQUEST, checkFraming, writeMessage } from './protocol.js';
import { Offload } from './offload.js';
import { CallContext, type CancelCode, kAbandoned, kWatch } from './context.js';
import { errorObject, thrownValue } from './wire-errors.js';
import { type RegistryOptions, checkRegistry, registerServer } from './registry.js';
import type { Registration } from '@nocopy/transport/etcd';
import type { ServiceHandlers } from './service.js';
import type { ServerMiddleware } from './middleware.js';
import { serverCallChannel, traced } from './tracing.js';
import { DRAIN, HEALTH, HELLO, CANCEL, NO_METADATA, helloResult } from './extensions.js';
import { type Handler, MethodTable, type RegisterOptions, type ServiceOptions, record } from './methods.js';
import { DeadlineSweep, type PeerHooks, type PeerState, kPeers } from './peer-state.js';
import { streamSessions } from '../sessions/stream.js';
import type { PeerInput, PeerOutput } from '../sessions/peer.js';
import { writeReply } from './reply.js';
import { DEFAULT_RUNAWAY_WARNING, type ServerOptions, type ServerStats } from './server-options.js';

export { kPeers, type PeerHooks } from './peer-state.js';
export type { Handler, MethodStats, RegisterOptions, ServiceOptions } from './methods.js';
export { DEFAULT_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_WRITE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_RUNAWAY_WARNING, type RpcTransportOptions, type ServerOptions, type ServerStats } from './server-options.js';

/** The default onError: a process warning (code NOCOPY_RPC_ERROR), at most 10 per 10 s. */
const warnRpcError = createWarner({ code: 'NOCOPY_RPC_ERROR' });

/** How often the deadlines of the calls in flight are checked, in ms: a call past its deadline frees its slot within this. */
const DEADLINE_SWEEP = 50;

export class RpcServer extends ServerFront {
  readonly framing: Framing;
  readonly maxMessageSize: number;
  readonly #maxInFlight: number;
  readonly #methods: MethodTable;
  readonly #sessions: SessionServer<PeerInput, PeerOutput>;
  readonly #offload: Offload | null;
  readonly #onError: (error: unknown) => void;
  #calls = 0;
  #errors = 0;
  #inFlight = 0;
  #cancelled = 0;
  #runaway = 0;
  readonly #runawayWarning: number;
  /** The onError report pending for each runaway handler (runawayWarning). */
  readonly #runaways = new Map<CallContext, WheelTimer>();
  readonly #deadlines = new DeadlineSweep(DEADLINE_SWEEP);
  /** shutdown() was called: register() refuses, $health answers "draining". */
  #shutdown = false;
  readonly #registry: RegistryOptions | undefined;
  /** The registry entry, once listen() registered it. */
  #registration: Promise<Registration> | null = null;
  /** The other ways in (session and WebSocket endpoints), stopped with the server. */
  readonly #attached: ((options: ShutdownOptions) => Promise<void>)[] = [];

  constructor(options: ServerOptions = {}) {
    const framing = checkFraming(options.framing);
    const max = checkBytes('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    if (max > 2 ** 32 - 1) throw new InvalidOptionError('maxMessageSize', max, 'an integer from 1 to 2^32-1');
    const maxInFlight = checkCount('maxInFlight', options.maxInFlight, 1024);
    const runawayWarning = checkMs('runawayWarning', options.runawayWarning, DEFAULT_RUNAWAY_WARNING);
    const latency = checkBoolean('latency', options.latency, false);
    checkFunction('onError', options.onError);
    const onError = options.onError ?? warnRpcError;
    const registry = checkRegistry(options.registry);
    // The sessions exist before `this` does (ServerFront stands on their EventLoop): the hooks reach
    // the server once it is made, and only when a connection comes. Made before the worker pool, so
    // that bad transport options throw before any thread starts.
    const hooks = {} as PeerHooks;
    const sessions = streamSessions(hooks, framing, max, options.transport);
    const offload = options.workers ? new Offload(options.workers) : null;
    super(sessions.eventLoop);
    this.#sessions = sessions;
    this.framing = framing;
    this.maxMessageSize = max;
    this.#maxInFlight = maxInFlight;
    this.#runawayWarning = runawayWarning;
    this.#onError = onError;
    this.#registry = registry;
    this.#offload = offload;
    this.#methods = new MethodTable(latency, offload);
    Object.assign(hooks, this[kPeers]());
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
    this.#methods.register(method, handler, options);
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
    this.#methods.use(fn);
    return this;
  }

  /** Resolves with the address: the socket path for `{ path }`, else the TCP address (its port when `port` was 0). */
  override listen(options: ListenOptions & { path: string }): Promise<string>;
  override listen(options?: ListenOptions & { path?: undefined }): Promise<AddressInfo>;
  /** Options not known to be one or the other. */
  override listen(options?: ListenOptions): Promise<AddressInfo | string>;
  override listen(options: ListenOptions = {}): Promise<AddressInfo | string> {
    const listening = super.listen(options);
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

  stats(): ServerStats {
    return { connections: this.#sessions.eventLoop.connections, calls: this.#calls, errors: this.#errors, inFlight: this.#inFlight, offloaded: this.#methods.offloaded, cancelled: this.#cancelled, runaway: this.#runaway, methods: this.#methods.stats(), transport: this.#sessions.stats() };
  }

  /**
   * Stops accepting and drains: our clients are told to go ("$/drain") and close their connections
   * once the calls they sent are answered (calls still on the wire are read and answered meanwhile);
   * other peers' connections stop reading, their calls are answered, and they close. Session and
   * WebSocket endpoints attached to the server stop too. Then the worker pool stops. Bounded by `timeout` or
   * `signal`: what is left then is cut. Called again, it returns the same promise.
   */
  override shutdown(options: ShutdownOptions = {}): Promise<void> {
    return super.shutdown(options);
  }

  protected stopServer(options: ShutdownOptions): Promise<void> {
    // Not async: bad options throw InvalidOptionError synchronously, as documented.
    this.#shutdown = true;
    let closed: Promise<void>;
    try {
      closed = this.#sessions.shutdown(options);
    } catch (err) {
      this.#shutdown = false;
      throw err;
    }
    const others = this.#attached.map((stop) => stop(options));
    // Out of the registry first, so that watching clients stop picking this server while it drains.
    const registration = this.#registration;
    this.#registration = null;
    if (registration !== null) others.push(registration.then((r) => r.close(), () => {}));
    if (others.length > 0) closed = Promise.all([closed, ...others]).then(() => {});
    return closed.then(() => this.#offload?.close());
  }

  /** @internal For the ways in (see PeerHooks): the session peers (../sessions/, ../websocket/). */
  [kPeers](): PeerHooks {
    return {
      open: (st) => this.#open(st),
      message: (st, m) => {
        st.now = 0;
        return this.#onMessage(st, m);
      },
      closed: (st) => st.cancelCalls(),
      error: (err) => this.#onError(err),
      refused: (st, err) => this.#refuse(st, err),
      drain: (st) => st.extPeer && st.failed === null && !st.out.closed && this.#notice(st, DRAIN),
      attach: (stop) => {
        this.#attached.push(stop);
      },
      maxMessageSize: this.maxMessageSize,
    };
  }

  // ---- per peer ----

  /** A new peer's callbacks, bound once. */
  #open(st: PeerState): void {
    st.onFlushed = () => this.#resume(st);
    st.onMessage = (m) => this.#onMessage(st, m);
    st.onCancel = (ctx, code) => this.#abandon(st, ctx, code);
  }

  /** A notification to the peer ([2, name, []]) that leaves now; false when it could not be written. */
  #notice(st: PeerState, name: string): boolean {
    try {
      writeMessage(st.out, st.framing, [2, name, []], this.maxMessageSize);
    } catch {
      return false;
    }
    st.sendOut();
    return true;
  }

  /**
   * Oversized or malformed input (already dropped by the caller): this peer only. The calls decoded
   * before it are still answered (those of this batch and those in flight), then the peer ends.
   */
  #refuse(st: PeerState, err: unknown): void {
    this.#onError(err);
    st.failed = err;
    // The peer learns why: its request is answered with the error before the close (in the peer's
    // framing for a framing mismatch), when the request's id could be read.
    const id = (err as { requestId?: number }).requestId;
    if (id !== undefined) {
      const framing = err instanceof FramingMismatchError ? err.peerFraming : st.framing;
      try {
        // `closing`: the client sends no more calls on this connection (they would be lost).
        writeMessage(st.out, framing, [1, id, { ...errorObject(err), closing: true }, null], this.maxMessageSize);
      } catch {
        // The writer closed: nothing to tell.
      }
    }
    // With no calls in flight it ends now (the end sends what was written first).
    if (st.inFlight === 0) st.end();
    else st.sendOut();
  }

  /** Returns false to stop decoding when the connection has maxInFlight calls running. */
  #onMessage(st: PeerState, m: Message): boolean {
    if (m[0] === REQUEST) {
      const id = m[1];
      const name = m[2];
      const method = this.#methods.get(name);
      if (method === undefined) {
        if (name === HELLO) {
          st.extPeer = true;
          this.#reply(st, id, null, helloResult(this.#methods.idempotent));
          // A client that says hello while the server drains is told to go at once (with this batch's replies).
          if (this.#shutdown) {
            writeMessage(st.out, st.framing, [2, DRAIN, []], this.maxMessageSize);
            st.sendOut();
          }
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
      st.hold();
      // A cancel (client, deadline, close) frees the slot at once, whether or not the handler stops.
      ctx[kWatch](st.onCancel);
      if (deadline !== Infinity && st.deadlines++ === 0) this.#deadlines.watch(st);
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
      if (st.inFlight >= this.#maxInFlight || st.waiting) {
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
  #onCancel(st: PeerState, params: unknown[]): void {
    const ctx = st.calls.get(params[0] as number);
    // Unknown: finished already, or never seen.
    ctx?.cancel('ERR_RPC_CANCELLED');
  }

  /**
   * A running call was cancelled: it leaves the in-flight counts now, its reply will be dropped, and
   * its handler, if it ignores the signal, runs on as a runaway until it returns.
   */
  #abandon(st: PeerState, ctx: CallContext, code: CancelCode): void {
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
    st.unhold();
    if (st.failed !== null && st.inFlight === 0) st.end();
    this.#resume(st);
  }

  #complete(st: PeerState, ctx: CallContext, err: unknown, result: unknown): void {
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
    else if (!st.out.closed) this.#reply(st, id, err, result);
    st.queueFlush();
    this.#resume(st);
  }

  /** Input left undecoded while the connection was at its limit (calls in flight, or output waiting) is dispatched again. */
  #resume(st: PeerState): void {
    if (st.paused && st.inFlight < this.#maxInFlight && !st.waiting) {
      st.paused = false;
      st.redispatch();
    }
  }

  /** Answers call `id`: through the peer's own way (a session's send()), or encoded at its output and sent now. */
  #reply(st: PeerState, id: number, err: unknown, result: unknown): void {
    const direct = st.reply;
    if (direct !== null) {
      if (direct(id, err, result)) this.#errors++;
      return;
    }
    if (writeReply(st.out, st.framing, id, err, result, this.maxMessageSize, false)) this.#errors++;
    st.sendOut();
  }
}

export function createServer(options: ServerOptions = {}): RpcServer {
  return new RpcServer(options);
}
