// The RPC server's state per peer (PeerState): the calls in flight by id, the pause at maxInFlight,
// where replies are written and how they leave. A peer is a session (../sessions/peer.ts) over any
// transport the session layer carries. The server (server.ts) fills in the callbacks once, so that
// the hot path calls bound functions rather than making closures per message. Also the deadline
// sweep of the calls in flight.
import type { ShutdownOptions } from '@nocopy/transport';
import type { Framing, Message } from './protocol.js';
import type { ReplyTarget } from './reply.js';
import type { CallContext, CancelCode, Peer } from './context.js';

/** The server's hook for its ways in: the session peers of ../sessions/ (its own listen(), the endpoints, WebSocket). */
export const kPeers = Symbol('nocopy.rpc.peers');

/** What a way in gets of the server (see kPeers). */
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
  /**
   * Tells the peer to go ("$/drain") when it is our client: it sends no new call and closes once its
   * calls are answered. True when it was told (it closes by itself); false for any other peer.
   */
  drain(st: PeerState): boolean;
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
