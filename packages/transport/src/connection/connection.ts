// A Connection owns one socket, its input (reader) and its output (writer), and keeps the callback
// order of the README: at most one onRequest at a time, close callbacks once, in reverse order,
// after a running onRequest settled. This file is the public face over the connection's state
// (state.ts, which lists the file of each concern); the methods call those files' functions.
// The constructor is private (the published types must not let `new Connection()` compile): the
// EventLoop and the dialer make connections through the symbol-keyed factory.
import type { Socket } from 'node:net';
import { LinkBuffer } from '@nocopy/linkbuffer';
import type { InboundBudgetError } from '../errors.js';
import { InboundAccount, type InboundBudget } from '../inbound-budget.js';
import type { CloseCallback, OnRequest, ResolvedConnectionOptions } from '../options.js';
import { isThenable } from '../util/thenable.js';
import { checkMs } from '../util/validate.js';
import { dispatch, setReady } from './dispatch.js';
import { beginClose, close, destroy, drain, isIdle, runCallback } from './lifecycle.js';
import { type Reader, ConnectionReader } from './reader.js';
import { onRead, updateReading } from './receive.js';
import { report } from './report.js';
import { attach, start } from './socket-events.js';
import { BUDGET_PAUSED, CLOSING, ConnState, DRAINING, FINISHED, INACTIVE, PEER_ENDED, RUNNING, WRITE_ENDED, canDispatch, closesOnPeerEnd, own } from './state.js';
import { kBudget, kCreate, kDestroy, kDrain, kIdle, kOnRead, kReport, kStart } from './symbols.js';
import { ConnectionWriter, type Writer } from './writer.js';

/** The Connection's own key to its state (socket-events.ts keys the socket's with another). */
const kState = Symbol('nocopy.connectionState');

export class Connection<C = unknown> {
  /** Input: reads of what has arrived, and waits for more. Views are valid until release(), which runs after each onRequest settles. */
  readonly reader: Reader;
  /** Output: write, then flush() (or send()) to send. */
  readonly writer: Writer;
  /** What onPrepare (and onConnect, if it returned one) produced. */
  ctx: C;
  /** The error that closed the connection, if any. */
  error: unknown = undefined;
  // Getters rather than five fields a connection: the remote ones read Node's copy, made when the
  // connection opens (it outlives the socket); the local one is the listener's when it has one address.
  readonly #local: LocalAddress | null;
  get localAddress(): string | undefined {
    return this.#local?.address;
  }
  get localPort(): number | undefined {
    return this.#local?.port;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }
  /** The underlying socket: an escape hatch (TLS peer certificate, socket options). Do not read from it, write to it, pause or resume it. */
  readonly socket: Socket;
  /** How input arrives: 'onread' straight into pooled nodes, or 'link' (Node's chunks, see README: read path). */
  readonly readMode: 'onread' | 'link';
  /** @internal */
  readonly [kState]: ConnState<C>;


  /** @internal Made by the EventLoop and the dialer only. */
  static [kCreate]<C>(...args: ConnectionArgs<C>): Connection<C> {
    return new Connection<C>(...args);
  }

  /** Connections come from an EventLoop or a dialer. (Private and not internal: stripped, the declaration would be public again.) */
  private constructor(...[socket, opts, onRequest, ctx, onFinish = null, input = null, local = null]: ConnectionArgs<C>) {
    this.socket = socket;
    this.ctx = ctx;
    this.readMode = input !== null ? 'onread' : 'link';
    // The options are shared until a per-connection setter makes this connection its own copy.
    const core = new ConnState<C>(this, socket, opts, input ?? new LinkBuffer({ pool: opts.pool }), new LinkBuffer({ pool: opts.pool }), onRequest, onFinish);
    this[kState] = core;
    this.reader = new ConnectionReader(core);
    this.writer = new ConnectionWriter(core);
    // From the listener when it is bound to one address: every connection then shares its strings
    // instead of keeping its own lookup (8,000 idle connections held one each). Node forgets the
    // local address when the socket closes: a copy, made now.
    const address = local === null ? socket.localAddress : undefined;
    this.#local = local ?? (address === undefined ? null : { address, port: socket.localPort! });
    // Node keeps the peer's address past the close once it has been read: read it while it is there.
    void socket.remoteAddress;
    attach(core);
  }

  /** False from the moment the peer closes (FIN or reset), the socket fails, or close() is called. Synchronous. */
  isActive(): boolean {
    return !this[kState].has(INACTIVE);
  }

  /** Closed and every close callback has run. */
  get closed(): boolean {
    return this[kState].has(FINISHED);
  }

  /** The peer sent its FIN (or the connection failed): no more input will arrive. */
  get peerEnded(): boolean {
    return this[kState].has(PEER_ENDED);
  }

  /** Whether the output side has been half-closed with closeWrite(). */
  get writeEnded(): boolean {
    return this[kState].has(WRITE_ENDED);
  }

  setReadTimeout(ms: number): void {
    this[kState].ownOpts().readTimeout = checkMs('readTimeout', ms, 0);
  }

  setWriteTimeout(ms: number): void {
    this[kState].ownOpts().writeTimeout = checkMs('writeTimeout', ms, 0);
  }

  /** 0 turns the idle timeout off. */
  setIdleTimeout(ms: number): void {
    const core = this[kState];
    core.ownOpts().idleTimeout = checkMs('idleTimeout', ms, 0);
    if (!core.has(CLOSING)) this.socket.setTimeout(ms);
  }

  /** Replaces the handler; input already waiting is dispatched to it. */
  setOnRequest(onRequest: OnRequest<C> | null): void {
    const core = this[kState];
    core.onRequest = onRequest;
    if (canDispatch(core)) dispatch(core);
  }

  /**
   * Calls onRequest again for the input waiting, even though none arrived since the last call
   * (after a handler stopped consuming at a limit of its own, as the RPC server does at maxInFlight).
   * If a call is running, once it settles; nothing happens without waiting input.
   */
  redispatch(): void {
    const core = this[kState];
    if (canDispatch(core)) dispatch(core);
    // A running call is called again when it settles if it made progress; one that did not will
    // find this input when the next bytes arrive, or now if it settles later: mark new input.
    else if (core.has(RUNNING)) core.seen = -1;
  }

  /**
   * Runs `cb(conn)` once the connection is gone, after a running onRequest settled. Callbacks run in
   * reverse order of registration; one that throws is reported and the rest still run. A callback
   * added after close runs at once.
   */
  addCloseCallback(cb: CloseCallback<C>): void {
    const core = this[kState];
    if (core.has(FINISHED)) runCallback(core, cb);
    else (core.closeCallbacks = own(core.closeCallbacks)).push(cb);
  }

  /**
   * Closes the connection: isActive() turns false at once and pending waits reject with ConnClosedError.
   * Without an error it is graceful: output already sent to the socket is still written, then the FIN.
   * With an error it aborts: the socket is destroyed and queued output is dropped, unless `graceful`
   * (the error is kept, and what was sent still goes out first, as for a protocol error after replies).
   * `conn.error` keeps the error. Idempotent. onDisconnect is not called for our own close.
   */
  close(error?: unknown, options?: { graceful?: boolean }): void {
    close(this[kState], error, options?.graceful ?? false);
  }

  /**
   * Half-close: sends everything written (a flush), then a FIN. Reading goes on until the peer
   * closes too, which closes the connection. Rejects with ConnClosedError if it can no longer send.
   */
  async closeWrite(): Promise<void> {
    const core = this[kState];
    if (core.has(WRITE_ENDED)) return;
    await this.writer.flush();
    if (core.has(WRITE_ENDED)) return;
    core.state |= WRITE_ENDED;
    // With both FINs exchanged the socket closes itself, and its 'close' finishes the connection.
    this.socket.end();
  }

  /**
   * Marks work that outlives onRequest (an async call answered later, as the RPC server does): a
   * draining shutdown and a peer's half-close keep the connection open until the matching unhold().
   */
  hold(): void {
    this[kState].holds++;
  }

  unhold(): void {
    const core = this[kState];
    if (core.holds === 0 || --core.holds > 0 || core.has(RUNNING | CLOSING)) return;
    if ((core.has(DRAINING) && core.input.length === 0) || (core.has(PEER_ENDED) && closesOnPeerEnd(core))) {
      beginClose(core, undefined);
    } else if (core.input.length > 0) {
      // Input left while holds were outstanding goes to the handler again: it may complete now, and
      // if it cannot, the read deadline applies (an async call followed by a partial message must
      // still be cut off). In a microtask, so that unhold() then setOnRequest(next) hands it to `next`.
      queueMicrotask(() => {
        if (core.holds === 0 && canDispatch(core)) dispatch(core);
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const core = this[kState];
    if (core.has(FINISHED)) return;
    const done = new Promise<void>((resolve) => this.addCloseCallback(() => resolve()));
    this.close();
    await done;
  }

  // ---- for the EventLoop and the dialer ----

  /** @internal Starts reading and runs onConnect; onRequest is dispatched only after onConnect settles. */
  [kStart](onConnect?: (ctx: C, conn: Connection<C>) => C | void | Promise<C | void>): void {
    const core = this[kState];
    if (core.has(CLOSING)) return;
    start(core);
    if (onConnect === undefined) {
      setReady(core);
      return;
    }
    let r: C | void | Promise<C | void>;
    try {
      r = onConnect(this.ctx, this);
    } catch (err) {
      report(core, err);
      this.close(err);
      return;
    }
    if (isThenable(r)) {
      r.then(
        (v) => {
          if (v !== undefined) this.ctx = v;
          setReady(core);
        },
        (err) => {
          report(core, err);
          this.close(err);
        },
      );
    } else {
      if (r !== undefined) this.ctx = r as C;
      setReady(core);
    }
  }

  /** @internal onread mode: `n` bytes landed in the region the reader malloc'd for the socket. */
  [kOnRead](n: number): void {
    onRead(this[kState], n);
  }

  /** @internal Shutdown: stop reading new input, answer what was received, then close. */
  [kDrain](): void {
    drain(this[kState]);
  }

  /** @internal No work left (see lifecycle.ts isIdle). */
  [kIdle](): boolean {
    return isIdle(this[kState]);
  }

  /** @internal Shutdown deadline: drop whatever is left; resolves when the socket has closed. */
  [kDestroy](error?: unknown): Promise<void> {
    return destroy(this[kState], error);
  }

  /** @internal An error from a hook the EventLoop runs itself (onPrepare). */
  [kReport](err: unknown): void {
    report(this[kState], err);
  }

  /** @internal Accepted connections share their EventLoop's input budget. */
  [kBudget](budget: InboundBudget): void {
    const core = this[kState];
    core.account = new ConnectionAccount(budget, core);
  }
}

/** What a connection is made of: the EventLoop's (or dialer's) options and handler, the input buffer already read into (onread), the listener's address. */
type ConnectionArgs<C> = [
  socket: Socket,
  opts: ResolvedConnectionOptions<C>,
  onRequest: OnRequest<C> | null,
  ctx: C,
  onFinish?: ((conn: Connection<C>) => void) | null,
  input?: LinkBuffer | null,
  local?: LocalAddress | null,
];

/** An accepted connection's local address, known from its listener. */
export interface LocalAddress {
  readonly address: string;
  readonly port: number;
}

/** The connection's share of the budget, and the budget's handle on it: one object, no closures. */
class ConnectionAccount extends InboundAccount {
  readonly #core: ConnState<any>;
  constructor(budget: InboundBudget, core: ConnState<any>) {
    super(budget);
    this.#core = core;
  }
  budgetPause(): void {
    this.#core.state |= BUDGET_PAUSED;
    updateReading(this.#core);
  }
  budgetResume(): void {
    this.#core.state &= ~BUDGET_PAUSED;
    updateReading(this.#core);
  }
  budgetEvict(err: InboundBudgetError): void {
    report(this.#core, err);
    this.#core.conn.close(err);
  }
}
