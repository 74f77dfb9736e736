// A Session is a connection seen as messages (getty's Session, tao's conn): its codec decodes the
// input into onMessage calls, send() encodes and batches output per tick, and its timers (cron,
// heartbeat, idle, after/every) live on the timing wheel (timers.ts). Order of callbacks: listener.ts.
import type { Connection } from '../connection/connection.js';
import type { FrameReader } from '../framing/codec.js';
import type { SessionLink } from './link.js';
import { ConnClosedError, HeartbeatTimeoutError, IdleTimeoutError, InboundBudgetError, InboundLimitError, MalformedMessageError, ReadTimeoutError, SessionRejectedError, WriteTimeoutError } from '../errors.js';
import { checkFunction } from '../util/validate.js';
import { Attributes } from './attributes.js';
import type { SessionConfig } from './config.js';
import { Counter64 } from './counter.js';
import type { WheelTimer } from './timing-wheel.js';
import { SessionTimers } from './timers.js';
import { RESOLVED, isThenable, noop, rejected } from '../util/thenable.js';
import { goneSignal } from './gone.js';
import { formatHostPort } from '../util/address.js';
import { inCheckPhase } from '../util/check-phase.js';

export interface SessionStats {
  bytesIn: bigint;
  bytesOut: bigint;
  messagesIn: bigint;
  messagesOut: bigint;
}

export type SessionCloseCallback<In, Out> = (session: Session<In, Out>) => void | Promise<void>;

/** @internal The server or client a session belongs to. */
export interface SessionOwner<In, Out> {
  /** onOpen accepted the session. */
  [kOpened]?(session: Session<In, Out>): void;
  /** onClose and the close callbacks have run. */
  [kFinished](session: Session<In, Out>): void;
}

export const kOpened = Symbol('nocopy.sessionOpened');
export const kFinished = Symbol('nocopy.sessionFinished');

let nextId = 1;

export const kOpen = Symbol('nocopy.sessionOpen');
export const kInput = Symbol('nocopy.sessionInput');
export const kFail = Symbol('nocopy.sessionFail');
export const kTouch = Symbol('nocopy.sessionTouch');
export const kLink = Symbol('nocopy.sessionLink');
export const kStale = Symbol('nocopy.sessionStale');
export const kTrack = Symbol('nocopy.sessionTrack');

export class Session<In = unknown, Out = In> {
  /** Unique in this process, increasing. */
  readonly id: number;
  /** The underlying TCP, TLS or Unix connection (its socket, timeouts, reader and writer); undefined over UDP and WebSocket. */
  readonly connection: Connection<any> | undefined;
  /** 'tcp' (TLS and Unix sockets included), 'udp' or 'websocket'. */
  readonly transport: 'tcp' | 'udp' | 'websocket';
  /** "ip:port" ("[v6]:port"); undefined for Unix sockets. */
  readonly localAddress: string | undefined;
  readonly remoteAddress: string | undefined;
  /** Typed per-session values (see AttributeKey), cleared after onClose. */
  readonly attributes = new Attributes();
  /** When input or output last happened (Date.now() ms), or updateActive() was called. */
  lastActive: number;
  /** When the last input arrived (Date.now() ms); the heartbeat timeout counts from it. */
  lastRead: number;
  /** What closed the session (see onClose), once it is closing. */
  closeReason: unknown = undefined;

  readonly #cfg: SessionConfig<In, Out>;
  readonly #bytesIn = new Counter64();
  readonly #bytesOut = new Counter64();
  readonly #messagesIn = new Counter64();
  readonly #messagesOut = new Counter64();
  /** The application's after()/every(), the cron, heartbeat and idle timers. */
  readonly #timers: SessionTimers<In, Out>;
  readonly #closeCallbacks: SessionCloseCallback<In, Out>[] = [];
  /** Listener calls (onOpen, onMessage, onCron) that returned a promise not yet settled. */
  #busy = 0;
  /** onMessage promises not yet settled (maxInFlight > 1). */
  #inflight = 0;
  #flushQueued = false;
  /** Messages encoded and not yet counted as sent. */
  #unsent = 0;
  /** In the input loop: replies are sent after it (inCheckPhase). */
  #inInput = false;
  #closing = false;
  #connGone = false;
  #finished = false;
  readonly #owner: SessionOwner<In, Out>;
  readonly #link: SessionLink;
  /** Message transports cut a datagram or WebSocket message after each encode. */
  readonly #perMessage: boolean;

  /** @internal Made by the session server and client of each transport. */
  constructor(link: SessionLink, cfg: SessionConfig<In, Out>, owner: SessionOwner<In, Out>, transport: 'tcp' | 'udp' | 'websocket' = 'tcp') {
    this.id = nextId++;
    this.#link = link;
    this.transport = transport;
    this.connection = transport === 'tcp' ? (link as Connection<any>) : undefined;
    this.#perMessage = link.endMessage !== undefined;
    this.#cfg = cfg;
    this.#owner = owner;
    this.localAddress = link.localAddress === undefined ? undefined : formatHostPort(link.localAddress, link.localPort ?? 0);
    this.remoteAddress = link.remoteAddress === undefined ? undefined : formatHostPort(link.remoteAddress, link.remotePort ?? 0);
    this.lastActive = this.lastRead = Date.now();
    this.#timers = new SessionTimers(this, cfg);
    link.addCloseCallback(this.#onConnClosed);
  }

  /** True until the session starts closing (either side, or an error). */
  isActive(): boolean {
    return !this.#closing && this.#link.isActive();
  }

  /** The idle timeout in ms (the session options' idleTimeout; 0: none). */
  get idleTimeout(): number {
    return this.#cfg.idleTimeout;
  }

  #gone: AbortController | null = null;

  /**
   * Aborted (with ConnClosedError) as soon as the transport is gone: the socket closed (a reset, an
   * error, a close), the WebSocket closed, the UDP session ended. Unlike onClose it does not wait for
   * an onMessage still running, which can pass it on to stop work nobody will read. A peer's FIN
   * alone does not abort it: the peer may still read.
   */
  get signal(): AbortSignal {
    return (this.#gone ??= goneSignal(this.#link, this.connection, this.#connGone)).signal;
  }

  /** onClose and the close callbacks have run. */
  get closed(): boolean {
    return this.#finished;
  }

  updateActive(): void {
    this.lastActive = Date.now();
  }

  stats(): SessionStats {
    return {
      bytesIn: this.#bytesIn.value,
      bytesOut: this.#bytesOut.value,
      messagesIn: this.#messagesIn.value,
      messagesOut: this.#messagesOut.value,
    };
  }

  /**
   * Encodes `message` and sends it with every other message sent in this tick, in one flush. The
   * promise resolves at once, unless the socket already holds maxOutboundBytes: then it waits for
   * the peer, bounded by the connection's writeTimeout (WriteTimeoutError closes the session). It
   * rejects with ConnClosedError once the session is closing; an unawaited rejection is not an
   * unhandled one. The codec's encode errors throw synchronously (a bug, not a network event).
   */
  send(message: Out): Promise<void> {
    if (this.#closing || !this.#link.isActive()) return rejected(new ConnClosedError('the session is closed'));
    const w = this.#link.writer;
    this.#cfg.codec.encode(message, w, this);
    this.#unsent++;
    if (this.#perMessage) {
      // One datagram or WebSocket message per message: sent now, counted now.
      this.#countOut();
      this.#link.endMessage!();
      if (!w.waiting) return RESOLVED;
      const p = w.flush();
      p.catch(noop);
      return p;
    }
    if (w.waiting) {
      this.#countOut();
      const p = w.flush();
      p.catch(noop);
      return p;
    }
    // Inside the input loop, the output goes after every loop of this event-loop turn (inCheckPhase); elsewhere a microtask sends it.
    if (!this.#flushQueued && !this.#inInput) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
    return RESOLVED;
  }

  /** Counts what was written since the last count (bytes and messages), at each send to the socket. */
  #countOut(): void {
    this.#bytesOut.add(this.#link.writer.mallocLength);
    this.#messagesOut.add(this.#unsent);
    this.#unsent = 0;
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const w = this.#link.writer;
    // Not isActive(): what send() accepted before the peer's FIN still goes; a closed link throws below.
    if (w.mallocLength === 0) return;
    this.lastActive = Date.now();
    this.#countOut();
    try {
      w.send();
    } catch {
      // Closed meanwhile: the close reports why.
    }
  };

  /**
   * Closes the session: what send() accepted still goes out, then the FIN. `reason` reaches
   * onClose; an Error reason is also kept as the connection's error. Idempotent.
   */
  close(reason?: unknown): void {
    if (this.#closing) return;
    this.#closing = true;
    this.closeReason = reason;
    this.#timers.cancel();
    // What send() accepted goes out before the FIN (queued for a microtask or for the input loop's end).
    if (this.#link.writer.mallocLength > 0) this.#flush();
    this.#link.close(reason instanceof Error ? reason : undefined, { graceful: true });
  }

  /** Calls `fn(session)` once after `ms` (timing-wheel resolution); cancelled when the session closes. */
  after(ms: number, fn: (session: this) => void): WheelTimer {
    return this.#timer(ms, fn, false);
  }

  /** Calls `fn(session)` every `ms` until cancelled or the session closes. */
  every(ms: number, fn: (session: this) => void): WheelTimer {
    return this.#timer(ms, fn, true);
  }

  #timer(ms: number, fn: (s: this) => void, periodic: boolean): WheelTimer {
    if (this.#closing) throw new ConnClosedError('the session is closed');
    return this.#timers.add(this, ms, fn, periodic);
  }

  /**
   * @internal A timer is due: false while the session is active. Once it began closing (the peer's
   * FIN while an onMessage still runs makes the link inactive before the connection closes), every
   * timer goes and none fires again.
   */
  [kStale](): boolean {
    if (!this.#closing && this.#link.isActive()) return false;
    this.#timers.cancel();
    return true;
  }

  /**
   * Runs `cb(session)` after onClose; callbacks run last added first, each isolated (a throw or
   * rejection is reported, the rest still run). Added after the session finished, it runs at once.
   */
  addCloseCallback(cb: SessionCloseCallback<In, Out>): void {
    checkFunction('cb', cb);
    if (this.#finished) this.#runCallback(cb);
    else this.#closeCallbacks.push(cb);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#finished) return;
    const done = new Promise<void>((resolve) => this.addCloseCallback(() => resolve()));
    this.close();
    await done;
  }

  // ---- for the server, the client and the input loop ----

  /** @internal An error about this session: to onError, else a warning. */
  #reportError(err: unknown): void {
    const onError = this.#cfg.listener.onError;
    if (onError === undefined) {
      this.#cfg.warn(err);
      return;
    }
    try {
      onError.call(this.#cfg.listener, this, err);
    } catch (e) {
      this.#cfg.warn(e);
    }
  }

  /** @internal Reports `err` and closes the session with it. */
  [kFail](err: unknown): void {
    if (this.#closing) return;
    this.#reportError(err);
    this.close(err);
  }

  /** @internal Runs onOpen; on success starts the timers. May return a promise the connection waits for. */
  [kOpen](): void | Promise<void> {
    const l = this.#cfg.listener;
    if (l.onOpen === undefined) {
      this.#started();
      return;
    }
    let r: void | boolean | Promise<void | boolean>;
    try {
      r = l.onOpen(this);
    } catch (err) {
      this[kFail](new SessionRejectedError({ cause: err }));
      return;
    }
    if (!isThenable(r)) {
      if (r === false) this[kFail](new SessionRejectedError());
      else this.#started();
      return;
    }
    this.#busy++;
    return Promise.resolve(r).then(
      (v) => {
        this.#settle();
        if (v === false) this[kFail](new SessionRejectedError());
        else this.#started();
      },
      (err: unknown) => {
        this.#settle();
        this[kFail](new SessionRejectedError({ cause: err }));
      },
    );
  }

  #started(): void {
    if (this.#closing || !this.#link.isActive()) return;
    this.#owner[kOpened]?.(this);
    this.#timers.start();
  }

  /** @internal The connection's onRequest: decode and deliver what arrived. */
  [kInput](): void | Promise<void> {
    const reader = this.#link.reader;
    const start = reader.length;
    this.lastActive = this.lastRead = Date.now();
    this.#inInput = true;
    let delivered = 0;
    let r: void | Promise<void> = undefined;
    try {
      r = this.#deliver(reader);
    } finally {
      this.#inInput = false;
      delivered = this.#delivered;
      this.#delivered = 0;
      this.#bytesIn.add(start - reader.length);
      this.#messagesIn.add(delivered);
      if (this.#link.writer.mallocLength > 0 && !this.#flushQueued) {
        this.#flushQueued = true;
        inCheckPhase(this.#flush);
      }
    }
    return r;
  }

  /** Messages delivered by the running input loop. */
  #delivered = 0;

  #deliver(reader: FrameReader): void | Promise<void> {
    const cfg = this.#cfg;
    const codec = cfg.codec;
    const listener = cfg.listener;
    for (;;) {
      if (this.#closing || this.#inflight >= cfg.maxInFlight) return;
      let message: In | undefined;
      try {
        message = codec.decode(reader, this);
      } catch (err) {
        if (this.#perMessage && this.#link.dropMalformed!(err)) {
          reader.skip(reader.length); // the whole datagram goes
          return;
        }
        // A coded error (a string `code`, as every nocopy error and Node's own have) is the codec's word; any other is wrapped.
        this[kFail](typeof (err as { code?: unknown })?.code === 'string' ? err : new MalformedMessageError((err as Error)?.message ?? String(err), { cause: err }));
        return;
      }
      if (message === undefined) return;
      if (this.#perMessage && reader.length > 0) {
        // One datagram or WebSocket message is one message: bytes after it make all of it malformed.
        const err = new MalformedMessageError(`${reader.length} bytes after the message`);
        reader.skip(reader.length);
        if (this.#link.dropMalformed?.(err) !== true) this[kFail](err);
        return;
      }
      this.#delivered++;
      let r: void | Promise<void>;
      try {
        r = listener.onMessage(this, message);
      } catch (err) {
        this[kFail](err);
        return;
      }
      if (!isThenable(r)) {
        if (this.#perMessage) return; // one datagram or WebSocket message is one decode
        continue;
      }
      this.#busy++;
      if (cfg.maxInFlight === 1) {
        // The connection keeps this call running (and its views valid) until the promise settles,
        // then calls again for the input left: messages stay in order, one at a time.
        return Promise.resolve(r).then(this.#settle, this.#settleFailed);
      }
      this.#inflight++;
      this.#link.hold();
      Promise.resolve(r).then(this.#settleOne, this.#settleOneFailed);
      if (this.#perMessage) return;
    }
  }

  readonly #settle = (): void => {
    if (--this.#busy === 0 && this.#connGone) this.#finish();
  };

  readonly #settleFailed = (err: unknown): void => {
    this[kFail](err);
    this.#settle();
  };

  readonly #settleOne = (): void => {
    this.#inflight--;
    this.#link.unhold();
    // Stopped at maxInFlight with input waiting: take it now.
    if (!this.#closing) this.#link.redispatch();
    this.#settle();
  };

  readonly #settleOneFailed = (err: unknown): void => {
    this[kFail](err);
    this.#inflight--;
    this.#link.unhold();
    this.#settle();
  };

  /**
   * @internal A listener call (onCron) returned a promise: the session's onClose waits for it, a
   * rejection closes the session; `done` runs when it settles, before either.
   */
  [kTrack](r: PromiseLike<unknown>, done: () => void): void {
    this.#busy++;
    Promise.resolve(r).then(
      () => {
        done();
        this.#settle();
      },
      (err: unknown) => {
        done();
        this[kFail](err);
        this.#settle();
      },
    );
  }

  /** @internal The transport under the session (codecs of a transport look at it). */
  get [kLink](): SessionLink {
    return this.#link;
  }

  /** @internal Input that is not a message (a WebSocket pong) still shows the peer is there. */
  [kTouch](): void {
    this.lastActive = this.lastRead = Date.now();
  }

  readonly #onConnClosed = (): void => {
    this.#connGone = true;
    if (this.#gone?.signal.aborted === false) this.#gone.abort(new ConnClosedError('the session is gone'));
    if (!this.#closing) {
      this.#closing = true;
      const err = this.#link.error;
      this.closeReason = err;
      this.#timers.cancel();
      // One rule for every transport: a timeout or limit of this end that closed the link reaches
      // onError before onClose, as the session's own (heartbeat, idle) do. A peer's close or reset
      // is no error of ours: onClose alone says why.
      if (err instanceof ReadTimeoutError || err instanceof WriteTimeoutError || err instanceof IdleTimeoutError || err instanceof HeartbeatTimeoutError || err instanceof InboundLimitError || err instanceof InboundBudgetError) this.#reportError(err);
    }
    if (this.#busy === 0) this.#finish();
  };

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const l = this.#cfg.listener;
    if (l.onClose !== undefined) {
      try {
        l.onClose(this, this.closeReason);
      } catch (err) {
        this.#cfg.warn(err);
      }
    }
    const cbs = this.#closeCallbacks;
    for (let i = cbs.length - 1; i >= 0; i--) this.#runCallback(cbs[i]!);
    cbs.length = 0;
    this.attributes.clear();
    this.#owner[kFinished](this);
  }

  #runCallback(cb: SessionCloseCallback<In, Out>): void {
    try {
      const r = cb(this);
      if (isThenable(r)) Promise.resolve(r).catch((err: unknown) => this.#cfg.warn(err));
    } catch (err) {
      this.#cfg.warn(err);
    }
  }
}
