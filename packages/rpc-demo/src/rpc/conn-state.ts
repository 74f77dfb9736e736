// The RPC server's state per peer (PeerState), and per connection (ConnState, the EventLoop's ctx):
// the message decoder, the calls in flight by id, the flush of async replies, the pause at maxInFlight, and the graceful end after
// malformed input. The server (server.ts) fills in the callbacks once, so that the hot path calls
// bound functions rather than making closures per message.
import { inCheckPhase } from '@nocopy/transport/util';
import type { Connection, ShutdownOptions } from '@nocopy/transport';
import type { Framing, Message, MessageReader } from './protocol.js';
import type { ReplyTarget } from './reply.js';
import { type CallContext, type CancelCode, NO_PEER, type Peer } from './context.js';

/** How long a connection ended for malformed input waits for the peer to close after our FIN. */
const FAILED_LINGER = 2000;

/** The server's hook for other ways in (the WebSocket sessions of ../websocket/endpoint.ts). */
export const kPeers = Symbol('nocopy.rpc.peers');

/** What a way in other than the EventLoop gets of the server (see kPeers). */
export interface PeerHooks {
  /** Sets up a new peer's callbacks; its calls are cancelled by closed(). */
  open(st: PeerState): void;
  /** One decoded message; false: the peer is at its limit, decode no more until st.redispatch(). */
  message(st: PeerState, m: Message): boolean;
  /** The peer is gone: its calls are cancelled. */
  closed(st: PeerState): void;
  /** A report for the server's onError. */
  error(err: unknown): void;
  /**
   * The peer's input did not decode (dropped by the caller): the peer is told why when its request id
   * was read, and ends once the calls decoded before are answered.
   */
  refused(st: PeerState, err: unknown): void;
  /** Tells the peer to go ("$/drain") when it is our client: it sends no new call and closes once its calls are answered. */
  drain(st: PeerState): void;
  /** Stopped (and awaited) by the server's shutdown, bounded by its options. */
  attach(stop: (options: ShutdownOptions) => Promise<void>): void;
  readonly maxMessageSize: number;
}

/**
 * What the server keeps per peer, whatever carries it (a connection, a WebSocket session): the calls
 * in flight, the pause at maxInFlight, and where replies are written (`out`) and how they leave.
 */
export abstract class PeerState {
  /** Bound once: the per-message callback of the decoder. */
  onMessage: (m: Message) => boolean = () => true;
  /** Bound once: a running call was cancelled (CallContext's kWatch hook). */
  onCancel: (ctx: CallContext, code: CancelCode) => void = () => {};
  /** Called when a flush of async replies settled: decoding paused for output may resume. */
  onFlushed: (() => void) | null = null;
  inFlight = 0;
  /** Calls in flight (in `calls`) with a deadline: the server's sweep looks at this peer while there are any. */
  deadlines = 0;
  /** Async calls in flight by msgid: a cancel aborts their signal, the peer's close too. */
  readonly calls = new Map<number, CallContext>();
  readonly attributes = new Map<string, unknown>();
  /** The peer sent the extensions' hello (it is our client, or speaks like it). */
  extPeer = false;
  /** Date.now() read once for the read batch being decoded (0: not yet). */
  now = 0;
  /** Async replies written but not yet flushed; their holds are released after the flush. */
  unflushed = 0;
  paused = false;
  /** The decode error (malformed or oversized input) that ends this peer once its calls are answered. */
  failed: unknown = null;
  /**
   * A peer whose replies leave by another way than `out` (a session's send()): answers call `id` and
   * returns true when the answer sent is an error. Null: replies are encoded at `out`.
   */
  reply: ((id: number, err: unknown, result: unknown) => boolean) | null = null;
  abstract readonly peer: Peer;
  /** Where replies are encoded. */
  abstract readonly out: ReplyTarget;
  abstract readonly framing: Framing;
  /** Each reply leaves by itself (sendOut() after each): one WebSocket message per reply. */
  abstract readonly eachReply: boolean;
  /** The peer is gone: handlers still running learn that nobody waits for them any more. */
  cancelCalls(): void {
    for (const ctx of this.calls.values()) ctx.cancel('ERR_CONN_CLOSED');
  }
  /** Replies wait for the peer to read them: decoding pauses. */
  abstract readonly waiting: boolean;
  /** A call in flight keeps the peer open (a drain waits for it). */
  abstract hold(): void;
  abstract unhold(): void;
  /** Input left undecoded at the pause is decoded again. */
  abstract redispatch(): void;
  /** An async reply was written at `out` (its call held the peer): it leaves soon, then the hold goes. */
  abstract queueFlush(): void;
  /** What was written at `out` leaves now. */
  abstract sendOut(): void;
  /** After a decode error, once every call decoded before it is answered. */
  abstract end(): void;
}

export class ConnState extends PeerState {
  /** The server's per-request callback, set once: the EventLoop's onRequest calls it. */
  onRequest: (st: ConnState, conn: Connection<ConnState>) => void | Promise<void> = () => {};
  readonly conn: Connection<ConnState>;
  readonly messages: MessageReader;
  readonly peer: Peer;
  readonly out: ReplyTarget;
  readonly framing: Framing;
  readonly eachReply = false;
  #flushQueued = false;
  #ended = false;
  readonly #flush: () => void;

  constructor(conn: Connection<ConnState>, messages: MessageReader) {
    super();
    this.conn = conn;
    this.out = conn.writer;
    this.framing = messages.framing;
    this.messages = messages;
    this.peer = conn.remoteAddress === undefined ? NO_PEER : Object.freeze({ address: conn.remoteAddress, port: conn.remotePort });
    this.#flush = () => {
      this.#flushQueued = false;
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

  get waiting(): boolean {
    return this.conn.writer.waiting;
  }

  hold(): void {
    this.conn.hold();
  }

  unhold(): void {
    this.conn.unhold();
  }

  redispatch(): void {
    this.conn.redispatch();
  }

  sendOut(): void {
    this.conn.writer.flush().catch(() => {});
  }

  /**
   * The reply leaves with the others that were written in this event-loop iteration, in one flush in
   * the check phase (the batcher every layer shares).
   */
  queueFlush(): void {
    this.unflushed++;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      inCheckPhase(this.#flush);
    }
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

/**
 * The deadlines of calls in flight: while any connection has a call with one, a sweep every
 * `period` ms cancels those past it. One clock read and a look at each such call per sweep instead
 * of a timer per call (most calls end long before a sweep sees them).
 */
export class DeadlineSweep {
  readonly #period: number;
  readonly #watched = new Set<PeerState>();
  #timer: NodeJS.Timeout | null = null;

  constructor(period: number) {
    this.#period = period;
  }

  watch(st: PeerState): void {
    this.#watched.add(st);
    this.#timer ??= setInterval(this.#sweep, this.#period).unref();
  }

  readonly #sweep = (): void => {
    const now = Date.now();
    for (const st of this.#watched) {
      if (st.deadlines === 0) {
        this.#watched.delete(st);
        continue;
      }
      // A cancel frees the slot now (the server's abandon deletes the call from the map being walked: allowed).
      for (const ctx of st.calls.values()) if (ctx.deadline <= now) ctx.cancel('ERR_RPC_DEADLINE');
    }
    if (this.#watched.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  };
}
