// A Connection owns one socket, an input LinkBuffer (reader) and an output LinkBuffer (writer), and
// runs the callback order of DESIGN section 4: at most one onRequest at a time, close callbacks once,
// in reverse order, after a running onRequest settled. Socket listeners are shared named functions
// that find their connection through a symbol, not closures per connection.
import type { Socket } from 'node:net';
import type { Delimiter, LinkBuffer } from '@nocopy/linkbuffer';
import { ConnectionReader, type WaitOptions } from './reader.js';
import { ConnectionWriter } from './writer.js';
import {
  AbortError,
  ConcurrentReadError,
  ConnClosedError,
  IdleTimeoutError,
  InboundLimitError,
  ReadTimeoutError,
  WriteTimeoutError,
} from './errors.js';
import { kBudget, kConnection, kDestroy, kDrain, kIdle, kOnData, kOnRead, kReport, kSend, kStart, kWait } from './symbols.js';
import type { InboundAccount, InboundBudget } from './inbound-budget.js';
import { createWarner } from './warnings.js';
import { connectionCloseChannel, connectionErrorChannel, connectionOpenChannel } from './diagnostics.js';
import { type CloseCallback, type OnRequest, type ResolvedConnectionOptions, checkMs } from './options.js';

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY_WRITE = Buffer.alloc(0);

// Symbols for the socket event entry points, private to this module.
const kOnDrain = Symbol('nocopy.onDrain');
const kOnEnd = Symbol('nocopy.onEnd');
const kOnError = Symbol('nocopy.onError');
const kOnClose = Symbol('nocopy.onClose');
const kOnTimeout = Symbol('nocopy.onTimeout');


interface Waiter {
  need: number;
  delim: Delimiter | null;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
  signal: AbortSignal | null;
}

interface DrainWaiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

type SocketWithConn = Socket & { [kConnection]?: Connection<any> };

export class Connection<C = unknown> {
  /** Input: the LinkBuffer Reader plus waitFor/waitUntil. Views are valid until release(), which runs after each onRequest settles. */
  readonly reader: ConnectionReader;
  /** Output: the LinkBuffer Writer; flush() sends. */
  readonly writer: ConnectionWriter;
  /** What onPrepare (and onConnect, if it returned one) produced. */
  ctx: C;
  /** The error that closed the connection, if any. */
  error: unknown = undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  /** The underlying socket: an escape hatch (TLS peer certificate, socket options). Do not read from it. */
  readonly socket: Socket;
  /** How input arrives: 'onread' straight into pooled nodes, or 'link' (Node's chunks, see README: read path). */
  readonly readMode: 'onread' | 'link';

  readonly #opts: ResolvedConnectionOptions<C>;
  #onRequest: OnRequest<C> | null;
  readonly #onFinish: ((conn: Connection<C>) => void) | null;
  #active = true;
  #closing = false;
  #ownClose = false;
  #socketClosed = false;
  #finished = false;
  #ready = false;
  #running = false;
  #peerEnded = false;
  #writeEnded = false;
  #holds = 0;
  #releaseAfterWrite = false;
  #disconnectPending = false;
  #partialSince = 0;
  #partialTimer: NodeJS.Timeout | null = null;
  /** Unconsumed input reached maxInboundBytes: reading waits for the handler to consume. */
  #limitPaused = false;
  /** Reading paused by the EventLoop's total input budget. */
  #budgetPaused = false;
  /** Whether the socket is paused now (the sum of the reasons, see #updateReading). */
  #readPaused = false;
  #account: InboundAccount | null = null;
  #draining = false;
  #received = 0;
  #before = 0;
  // #received when the running onRequest call began: input that arrived during the call is new to it.
  #seen = 0;
  #waiter: Waiter | null = null;
  #inflight: LinkBuffer[] = [];
  #drainWaiters: DrainWaiter[] = [];
  #writeTimer: NodeJS.Timeout | null = null;
  #closeCallbacks: CloseCallback<C>[] = [];
  // Bound once per connection, not per request.
  readonly #onSettled: () => void;
  readonly #onRejected: (err: unknown) => void;
  readonly #onWritten: (err?: Error | null) => void;

  constructor(
    socket: Socket,
    opts: ResolvedConnectionOptions<C>,
    onRequest: OnRequest<C> | null,
    ctx: C,
    onFinish: ((conn: Connection<C>) => void) | null = null,
    reader: ConnectionReader | null = null,
  ) {
    this.socket = socket;
    // A copy: the per-connection setters must not change other connections' options.
    this.#opts = { ...opts };
    this.#onRequest = onRequest;
    this.ctx = ctx;
    this.#onFinish = onFinish;
    // A reader made before the socket (onread mode reads straight into its pooled nodes) is adopted.
    if (reader !== null) reader[kConnection] = this;
    this.readMode = reader !== null ? 'onread' : 'link';
    this.reader = reader ?? new ConnectionReader(this, opts.pool);
    this.writer = new ConnectionWriter(this, opts.pool);
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.remoteFamily = socket.remoteFamily;
    this.#onSettled = () => this.#afterRequest();
    this.#onRejected = (err) => {
      this.#report(err);
      this.close(err);
      this.#afterRequest();
    };
    this.#onWritten = (err) => {
      this.#inflight.shift()?.close();
      if (this.#releaseAfterWrite && this.#inflight.length === 0 && !this.#running && !this.reader.closed) {
        this.#releaseAfterWrite = false;
        this.reader.release();
      }
      if (err) this.#fail(err);
    };
    (socket as SocketWithConn)[kConnection] = this;
    // Errors and close are observed from the start, even before onPrepare returns.
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** False from the moment the peer closes (FIN or reset), the socket fails, or close() is called. Synchronous. */
  isActive(): boolean {
    return this.#active;
  }

  /** Closed and every close callback has run. */
  get closed(): boolean {
    return this.#finished;
  }

  setReadTimeout(ms: number): void {
    this.#opts.readTimeout = checkMs('readTimeout', ms, 0);
  }

  setWriteTimeout(ms: number): void {
    this.#opts.writeTimeout = checkMs('writeTimeout', ms, 0);
  }

  /** 0 turns the idle timeout off. */
  setIdleTimeout(ms: number): void {
    this.#opts.idleTimeout = checkMs('idleTimeout', ms, 0);
    if (!this.#closing) this.socket.setTimeout(ms);
  }

  /** Replaces the handler; input already waiting is dispatched to it. */
  setOnRequest(onRequest: OnRequest<C> | null): void {
    this.#onRequest = onRequest;
    if (onRequest !== null && this.#ready && !this.#running && !this.#closing && this.reader.length > 0 && this.#waiter === null) {
      this.#dispatch();
    }
  }

  /**
   * Runs `cb(conn)` once the connection is gone, after a running onRequest settled. Callbacks run in
   * reverse order of registration; one that throws is reported and the rest still run. A callback
   * added after close runs at once.
   */
  addCloseCallback(cb: CloseCallback<C>): void {
    if (this.#finished) {
      this.#runCallback(cb);
      return;
    }
    this.#closeCallbacks.push(cb);
  }

  /**
   * Closes the connection: isActive() turns false at once and pending waits reject with ConnClosedError.
   * Without an error it is graceful: output already flushed to the socket is still sent, then the FIN.
   * With an error it aborts: the socket is destroyed and queued output is dropped; `conn.error` keeps
   * the error. Idempotent. onDisconnect is not called for our own close.
   */
  close(error?: unknown): void {
    this.#ownClose = true;
    if (this.#closing) {
      // A peer-closed connection keeps unread input readable until the user closes it.
      if (this.#finished && !this.reader.closed) this.reader.close();
      return;
    }
    this.#beginClose(error);
  }

  /**
   * Half-close: sends everything written (a flush), then a FIN. Reading goes on until the peer
   * closes too, which closes the connection. Rejects with ConnClosedError if it can no longer send.
   */
  async closeWrite(): Promise<void> {
    if (this.#writeEnded) return;
    await this.writer.flush();
    if (this.#writeEnded) return;
    this.#writeEnded = true;
    // With both FINs exchanged the socket closes itself, and kOnClose finishes the connection.
    this.socket.end();
  }

  /**
   * Marks work that outlives onRequest (an async call answered later, as the RPC server does): a
   * draining shutdown and a peer's half-close keep the connection open until the matching unhold().
   */
  hold(): void {
    this.#holds++;
  }

  unhold(): void {
    if (this.#holds === 0 || --this.#holds > 0 || this.#running || this.#closing) return;
    if ((this.#draining && this.reader.length === 0) || (this.#peerEnded && this.#closeOnPeerEnd())) {
      this.#beginClose(undefined);
    } else if (this.reader.length > 0) {
      // Input left while holds were outstanding goes to the handler again: it may complete now, and
      // if it cannot, #continue puts it under the read timeout (an async call followed by a partial
      // message must still be cut off: slow-loris, found by fuzzing). In a microtask, so that code
      // doing unhold() then setOnRequest(next) hands the input to `next`.
      queueMicrotask(this.#redispatch);
    }
  }

  readonly #redispatch = (): void => {
    if (this.#running || this.#closing || !this.#ready || this.#holds > 0) return;
    if (this.reader.length > 0 && this.#onRequest !== null && this.#waiter === null) this.#dispatch();
  };

  /** The peer sent its FIN (or the connection failed): no more input will arrive. */
  get peerEnded(): boolean {
    return this.#peerEnded;
  }

  /** Whether the output side has been half-closed with closeWrite(). */
  get writeEnded(): boolean {
    return this.#writeEnded;
  }

  /** After the peer's FIN and the last handler: close, unless half-open connections stay writable. */
  #closeOnPeerEnd(): boolean {
    return !this.#opts.allowHalfOpen || this.#writeEnded;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#finished) return;
    const done = new Promise<void>((resolve) => this.addCloseCallback(() => resolve()));
    this.close();
    await done;
  }

  // ---- lifecycle (used by EventLoop and Dialer) ----

  /** Starts reading and runs onConnect; onRequest is dispatched only after onConnect settles. */
  [kStart](onConnect?: (ctx: C, conn: Connection<C>) => C | void | Promise<C | void>): void {
    if (this.#closing) return;
    const s = this.socket;
    s.on('data', onSocketData);
    s.on('end', onSocketEnd);
    s.on('drain', onSocketDrain);
    s.on('timeout', onSocketTimeout);
    // Sockets of a pauseOnConnect server (and adopted ones, see adopt.ts) start paused.
    if (s.readableFlowing === false && !this.#readPaused) s.resume();
    if (this.#opts.idleTimeout > 0) s.setTimeout(this.#opts.idleTimeout);
    if (connectionOpenChannel.hasSubscribers) connectionOpenChannel.publish({ connection: this });
    if (onConnect === undefined) {
      this.#setReady();
      return;
    }
    let r: C | void | Promise<C | void>;
    try {
      r = onConnect(this.ctx, this);
    } catch (err) {
      this.#report(err);
      this.close(err);
      return;
    }
    if (isThenable(r)) {
      r.then(
        (v) => {
          if (v !== undefined) this.ctx = v;
          this.#setReady();
        },
        (err) => {
          this.#report(err);
          this.close(err);
        },
      );
    } else {
      if (r !== undefined) this.ctx = r as C;
      this.#setReady();
    }
  }

  /** Shutdown: stop reading new input, answer what was received, then close. */
  [kDrain](): void {
    if (this.#closing) return;
    this.#draining = true;
    this.#updateReading();
    if (this[kIdle]()) this.close();
  }

  /**
   * No handler running, no input waiting for one, no flush waiting to hand output to the socket.
   * Output already queued in the socket does not count: close() sends it before the FIN. (Requiring
   * an empty socket queue left such a connection open, with nothing to close it, until the shutdown
   * deadline destroyed it and its unsent reply.)
   */
  [kIdle](): boolean {
    return !this.#running && this.#ready && this.#holds === 0 && this.#drainWaiters.length === 0 && this.reader.length === 0;
  }

  /** Shutdown deadline: drop whatever is left. */
  [kDestroy](error?: unknown): void {
    if (!this.#closing) this.#beginClose(error);
    this.socket.destroy();
  }

  /** Accepted connections share their EventLoop's input budget. */
  [kBudget](budget: InboundBudget): void {
    this.#account = budget.open({
      budgetPause: () => {
        this.#budgetPaused = true;
        this.#updateReading();
      },
      budgetResume: () => {
        this.#budgetPaused = false;
        this.#updateReading();
      },
      budgetEvict: (err) => {
        this.#report(err);
        this.close(err);
      },
    });
  }

  /**
   * Pauses or resumes the socket from the reasons to stop reading: this connection's input limit,
   * the loop's input budget, and a draining shutdown once no partial message is left to complete
   * (a request the peer sent before shutdown began is still read to its end).
   */
  #updateReading(): void {
    if (this.#closing) return;
    const pause = this.#limitPaused || this.#budgetPaused || (this.#draining && this.reader.length === 0);
    if (pause === this.#readPaused) return;
    this.#readPaused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  /** Tells the budget what this connection buffers now. */
  #charge(): void {
    const a = this.#account;
    if (a !== null) a.set(this.#closing ? 0 : this.reader.length);
  }

  // ---- input ----

  [kOnData](chunk: Buffer): void {
    if (this.#closing) return;
    this.reader.link(chunk);
    this.#onInput(chunk.length);
  }

  /** onread mode: `n` bytes landed in the region the reader malloc'd for the socket. */
  [kOnRead](n: number): void {
    const reader = this.reader;
    if (this.#closing || reader.closed) return;
    reader.mallocAck(n);
    reader.flush();
    this.#onInput(n);
  }

  #onInput(n: number): void {
    const reader = this.reader;
    this.#received += n;
    const w = this.#waiter;
    if (w !== null) this.#checkWaiter(w);
    else if (this.#ready && !this.#running && this.#onRequest !== null) this.#dispatch();
    if (!this.#limitPaused && !this.#closing && reader.length >= this.#opts.maxInboundBytes) {
      this.#limitPaused = true;
      this.#updateReading();
    }
    // Input kept past this read moves out of Node's chunks into pooled memory (see #continue).
    if (reader.length !== 0 && !this.#closing) reader.compact();
    if (this.#account !== null) this.#charge();
  }

  #setReady(): void {
    if (this.#closing) return;
    this.#ready = true;
    if (this.#disconnectPending) {
      this.#disconnectPending = false;
      this.#callOnDisconnect();
    }
    if (this.#onRequest !== null && this.reader.length > 0 && this.#waiter === null && !this.#running) this.#dispatch();
    else if (this.#peerEnded && !this.#running && this.#holds === 0 && this.#closeOnPeerEnd()) this.#beginClose(undefined);
  }

  /** Calls onRequest while it makes progress on the input; a sync handler loops here, an async one resumes in #afterRequest. */
  #dispatch(): void {
    this.#running = true;
    for (;;) {
      this.#before = this.#received - this.reader.length;
      this.#seen = this.#received;
      let r: void | Promise<void>;
      try {
        r = this.#onRequest!(this.ctx, this);
      } catch (err) {
        this.#report(err);
        this.close(err);
        r = undefined;
      }
      if (isThenable(r)) {
        r.then(this.#onSettled, this.#onRejected);
        return;
      }
      if (!this.#continue()) return;
    }
  }

  #afterRequest(): void {
    if (this.#continue()) this.#dispatch();
  }

  /** After an onRequest settled: release its views, then decide whether to call it again. */
  #continue(): boolean {
    const reader = this.reader;
    // Views of this call's input stay valid until output written from them has been sent: a reply
    // that references input (writeBinary above 4 KiB) must not see that memory reused mid-write.
    if (!reader.closed) {
      if (this.#inflight.length === 0) reader.release();
      else this.#releaseAfterWrite = true;
    }
    if (this.#account !== null) this.#charge();
    if (this.#closing) {
      this.#running = false;
      this.#maybeFinish();
      return false;
    }
    // Input left for a later call (a partial message) is copied out of the socket's chunks into
    // pooled blocks: kept in Node's chunks, it fragmented the process heap, and a flood of partial
    // messages left its memory held by the process long after the connections were gone.
    if (!reader.closed && reader.length !== 0) reader.compact();
    const progressed = this.#received - reader.length !== this.#before;
    // Input that arrived while an async call ran may be what it was missing: the call saw none of it,
    // so it is called again (else a request completed during the call would wait for yet more data).
    const arrived = this.#received !== this.#seen;
    const left = reader.length;
    if ((progressed || arrived) && left > 0 && this.#onRequest !== null && this.#waiter === null) return true;
    this.#running = false;
    const limit = this.#opts.maxInboundBytes;
    // Stuck at the limit with nothing in flight: the handler waits for more than the limit allows.
    // With holds outstanding, reading just stays paused: the pending work re-dispatches the input.
    if (!progressed && !arrived && left >= limit && this.#holds === 0) {
      const err = new InboundLimitError(limit);
      this.#report(err);
      this.close(err);
      return false;
    }
    if (this.#holds === 0 && ((this.#draining && left === 0) || (this.#peerEnded && this.#closeOnPeerEnd()))) {
      this.#beginClose(undefined);
      return false;
    }
    if (this.#limitPaused && left < limit) this.#limitPaused = false;
    this.#updateReading();
    // Slow-loris: input the handler cannot complete yet must complete within the read timeout.
    // (Not while holds are outstanding: then the input waits for our own work, not for the peer.)
    if (left > 0 && this.#holds === 0 && this.#opts.readTimeout > 0) {
      if (this.#partialSince === 0 || progressed) this.#partialSince = Date.now();
      if (this.#partialTimer === null) this.#partialTimer = setTimeout(this.#onPartialTimer, this.#opts.readTimeout).unref();
    } else {
      this.#partialSince = 0;
    }
    return false;
  }

  /** One timer per connection, re-armed only when it fires: no timer churn per read batch. */
  readonly #onPartialTimer = (): void => {
    this.#partialTimer = null;
    if (this.#partialSince === 0 || this.#closing) return;
    const ms = this.#opts.readTimeout;
    // While a handler runs (e.g. its flush waits for a peer that does not read) or reading is paused,
    // the partial input waits for us, not for the peer: the clock restarts. (It used to run on, and a
    // peer that stopped reading was cut off with ERR_READ_TIMEOUT instead of the write timeout, or
    // with none set, a slow but honest reader sending a large upload; found by the fault tests.)
    if (this.#running || this.#limitPaused) this.#partialSince = Date.now();
    const left = this.#partialSince + ms - Date.now();
    if (left > 0) {
      this.#partialTimer = setTimeout(this.#onPartialTimer, left).unref();
      return;
    }
    const err = new ReadTimeoutError(ms);
    this.close(err);
  };

  [kWait](need: number, delim: Delimiter | null, options?: WaitOptions): Promise<unknown> {
    if (this.#waiter !== null) return Promise.reject(new ConcurrentReadError());
    if (this.#closing || this.#peerEnded) {
      return Promise.reject(new ConnClosedError(this.#peerEnded ? 'the peer closed the connection' : 'connection closed', { cause: this.error }));
    }
    const limit = this.#opts.maxInboundBytes;
    if (need > limit) return Promise.reject(new InboundLimitError(limit, need));
    const signal = options?.signal ?? null;
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    return new Promise((resolve, reject) => {
      const w: Waiter = { need, delim, resolve, reject, timer: null, signal };
      this.#waiter = w;
      const ms = options?.timeout ?? this.#opts.readTimeout;
      if (ms > 0) {
        w.timer = setTimeout(() => this.#settleWaiter(w, new ReadTimeoutError(ms)), ms);
      }
      if (signal !== null) signal.addEventListener('abort', this.#onWaitAbort, { once: true });
      if (this.#limitPaused) {
        this.#limitPaused = false;
        this.#updateReading();
      }
    });
  }

  readonly #onWaitAbort = (): void => {
    const w = this.#waiter;
    if (w !== null) this.#settleWaiter(w, new AbortError(w.signal?.reason));
  };

  #checkWaiter(w: Waiter): void {
    const reader = this.reader;
    if (w.delim === null) {
      if (reader.length >= w.need) this.#settleWaiter(w, undefined, undefined);
      return;
    }
    const found = reader.until(w.delim);
    if (found !== null) {
      this.#settleWaiter(w, undefined, found);
    } else if (reader.length >= this.#opts.maxInboundBytes) {
      const err = new InboundLimitError(this.#opts.maxInboundBytes);
      this.#settleWaiter(w, err);
      this.close(err);
    }
  }

  #settleWaiter(w: Waiter, error: unknown, value?: unknown): void {
    if (this.#waiter !== w) return;
    this.#waiter = null;
    if (w.timer !== null) clearTimeout(w.timer);
    if (w.signal !== null) w.signal.removeEventListener('abort', this.#onWaitAbort);
    if (error !== undefined) w.reject(error);
    else w.resolve(value);
    // Input that arrived for nobody goes to the handler once the waiter is gone.
    if (!this.#running && this.#ready && !this.#closing && this.#onRequest !== null && this.reader.length > 0) {
      queueMicrotask(() => {
        if (!this.#running && this.#waiter === null && !this.#closing && this.reader.length > 0 && this.#onRequest !== null) this.#dispatch();
      });
    }
  }

  // ---- output ----

  [kSend](): Promise<void> {
    const writer = this.writer;
    const s = this.socket;
    if (writer.closed || !s.writable) {
      return Promise.reject(new ConnClosedError('connection closed', { cause: this.error }));
    }
    writer.publish();
    if (writer.length === 0) return RESOLVED;
    if (this.#drainWaiters.length === 0 && !(s.writableNeedDrain && s.writableLength >= this.#opts.maxOutboundBytes)) {
      this.#write();
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      this.#drainWaiters.push({ resolve, reject });
      const ms = this.#opts.writeTimeout;
      if (ms > 0 && this.#writeTimer === null) {
        this.#writeTimer = setTimeout(() => {
          this.#writeTimer = null;
          const err = new WriteTimeoutError(ms);
          this.#rejectDrainWaiters(err);
          this.close(err);
        }, ms);
      }
    });
  }

  /** Hands every readable output node to the socket as a view, in one corked write. */
  #write(): void {
    const writer = this.writer;
    const n = writer.length;
    const views = writer.views();
    const s = this.socket;
    const last = views.length - 1;
    if (last === 0) {
      s.write(views[0]!);
    } else {
      s.cork();
      for (let i = 0; i <= last; i++) s.write(views[i]!);
      s.uncork();
    }
    if (s.writableLength === 0) {
      // The kernel took every byte synchronously (Node's try-write): the nodes are free at once,
      // with no slice and no write callback (the common case on a socket without backpressure).
      writer.skip(n);
      writer.release();
      return;
    }
    // Still queued: the nodes stay referenced by a slice until a trailing empty write's callback,
    // which Node runs after every write before it.
    this.#inflight.push(writer.slice(n));
    s.write(EMPTY_WRITE, this.#onWritten);
  }

  [kOnDrain](): void {
    if (this.#writeTimer !== null) {
      clearTimeout(this.#writeTimer);
      this.#writeTimer = null;
    }
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    if (!this.writer.closed && this.writer.length > 0) this.#write();
    for (const w of waiters) w.resolve();
    // Shutdown: a drained flush may have been this connection's last work (e.g. a flush another
    // connection started, as a proxy does). Checked after the waiters' continuations ran.
    if (this.#draining) queueMicrotask(this.#closeIfDrained);
  }

  readonly #closeIfDrained = (): void => {
    if (this.#draining && !this.#closing && this[kIdle]()) this.close();
  };

  #rejectDrainWaiters(err: unknown): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  // ---- close ----

  [kOnEnd](): void {
    this.#peerEnded = true;
    if (this.#active) {
      this.#active = false;
      this.#callOnDisconnect();
    }
    const w = this.#waiter;
    if (w !== null) this.#settleWaiter(w, new ConnClosedError('the peer closed the connection'));
    if (this.#closing) return;
    // Half-close: what the peer sent before its FIN is still handled; we close after that.
    if (this.#ready && !this.#running) {
      if (this.#onRequest !== null && this.reader.length > 0) this.#dispatch();
      else if (this.#holds === 0 && this.#closeOnPeerEnd()) this.#beginClose(undefined);
    }
  }

  [kOnError](err: Error): void {
    if (this.error === undefined) this.error = err;
    if (connectionErrorChannel.hasSubscribers) connectionErrorChannel.publish({ connection: this, error: err });
    if (this.#active) {
      this.#active = false;
      this.#callOnDisconnect();
    }
    this.#beginClose(err);
  }

  [kOnClose](): void {
    this.#socketClosed = true;
    if (!this.#closing) {
      if (this.#active) {
        this.#active = false;
        this.#callOnDisconnect();
      }
      this.#beginClose(undefined);
    }
    this.#maybeFinish();
  }

  [kOnTimeout](): void {
    const err = new IdleTimeoutError(this.#opts.idleTimeout);
    this.close(err);
  }

  #beginClose(error: unknown): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#active = false;
    // Input of a closing connection no longer counts: nothing will consume it.
    if (this.#account !== null) this.#account.set(0);
    if (error !== undefined && this.error === undefined) this.error = error;
    const w = this.#waiter;
    if (w !== null) this.#settleWaiter(w, new ConnClosedError('connection closed', { cause: error }));
    if (this.#writeTimer !== null) {
      clearTimeout(this.#writeTimer);
      this.#writeTimer = null;
    }
    if (this.#partialTimer !== null) {
      clearTimeout(this.#partialTimer);
      this.#partialTimer = null;
    }
    this.#rejectDrainWaiters(new ConnClosedError('connection closed', { cause: error }));
    const s = this.socket;
    s.setTimeout(0);
    if (!s.destroyed) {
      if (error !== undefined || s.writableLength === 0 || !s.writable) {
        s.destroy();
      } else {
        // Flushed output still queued in the socket is sent before the FIN; bounded by a linger timer.
        s.end();
        s.once('finish', destroySocket);
        const linger = this.#opts.writeTimeout > 0 ? this.#opts.writeTimeout : 5000;
        setTimeout(destroySocket.bind(s), linger).unref();
      }
    }
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#finished || !this.#socketClosed || this.#running) return;
    this.#finished = true;
    // Unread input stays readable after a peer close until the user closes, when there is no handler to take it.
    if (this.#ownClose || this.#onRequest !== null || this.reader.length === 0) this.reader.close();
    this.writer.close();
    for (const b of this.#inflight) b.close();
    this.#inflight.length = 0;
    const cbs = this.#closeCallbacks;
    this.#closeCallbacks = [];
    for (let i = cbs.length - 1; i >= 0; i--) this.#runCallback(cbs[i]!);
    if (connectionCloseChannel.hasSubscribers) connectionCloseChannel.publish({ connection: this, error: this.error });
    this.#onFinish?.(this);
  }

  #runCallback(cb: CloseCallback<C>): void {
    try {
      const r = cb(this);
      if (isThenable(r)) r.then(undefined, (err: unknown) => this.#report(err));
    } catch (err) {
      this.#report(err);
    }
  }

  #callOnDisconnect(): void {
    const fn = this.#opts.onDisconnect;
    if (fn === undefined) return;
    // A peer that leaves before onConnect settled is reported once the connection is ready.
    if (!this.#ready) {
      this.#disconnectPending = true;
      return;
    }
    try {
      fn(this.ctx, this);
    } catch (err) {
      this.#report(err);
    }
  }

  #fail(err: Error): void {
    if (!this.#closing) this[kOnError](err);
  }

  /** For the EventLoop: an error from a hook it runs itself (onPrepare). */
  [kReport](err: unknown): void {
    this.#report(err);
  }

  /** Errors from user code: to onError, else the diagnostics channel, else a process warning. Never a crash. */
  #report(err: unknown): void {
    const hook = this.#opts.onError;
    if (connectionErrorChannel.hasSubscribers) connectionErrorChannel.publish({ connection: this, error: err });
    if (hook !== undefined) {
      try {
        hook(err, this);
      } catch {
        // An onError that throws has nowhere further to report to.
      }
    } else if (!connectionErrorChannel.hasSubscribers) {
      warnHandlerError(err);
    }
  }
}

const warnHandlerError = createWarner({ code: 'NOCOPY_HANDLER_ERROR' });

function isThenable<T>(v: unknown): v is PromiseLike<T> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

function onSocketData(this: SocketWithConn, chunk: Buffer): void {
  this[kConnection]![kOnData](chunk);
}
function onSocketEnd(this: SocketWithConn): void {
  this[kConnection]![kOnEnd]();
}
function onSocketError(this: SocketWithConn, err: Error): void {
  this[kConnection]![kOnError](err);
}
function onSocketClose(this: SocketWithConn): void {
  this[kConnection]![kOnClose]();
}
function onSocketDrain(this: SocketWithConn): void {
  this[kConnection]![kOnDrain]();
}
function onSocketTimeout(this: SocketWithConn): void {
  this[kConnection]![kOnTimeout]();
}
function destroySocket(this: Socket): void {
  this.destroy();
}
