// The state of one connection: one object, read and changed by plain functions in the files that each
// handle one concern of it (they import each other; no table of callbacks between them):
// receive.ts (input arriving, pausing and resuming the socket), reader.ts (conn.reader and its waits),
// dispatch.ts (the onRequest loop), partial-timeout.ts (partial input must complete in time), send.ts
// (sending, drain waits, input held for output), writer.ts (conn.writer), lifecycle.ts (closing and
// close callbacks), socket-events.ts (the socket's listeners), pooled-reads.ts (libuv reads into
// pooled memory). Connection (connection.ts) is the public face over it.
import type { Socket } from 'node:net';
import type { Delimiter, LinkBuffer } from '@nocopy/linkbuffer';
import type { Connection } from './connection.js';
import type { InboundAccount } from '../inbound-budget.js';
import type { CloseCallback, OnRequest, ResolvedConnectionOptions } from '../options.js';

// One state value: these bits, never several booleans.
/** onConnect has settled: onRequest may be called. */
export const READY = 1 << 0;
/** An onRequest call is in progress. */
export const RUNNING = 1 << 1;
/** isActive() is false. */
export const INACTIVE = 1 << 2;
/** The peer's FIN arrived (or the socket failed): no more input. */
export const PEER_ENDED = 1 << 3;
/** closeWrite() sent our FIN. */
export const WRITE_ENDED = 1 << 4;
/** A shutdown is draining this connection. */
export const DRAINING = 1 << 5;
/** Closing has begun; no more handler calls. */
export const CLOSING = 1 << 6;
/** The socket emitted 'close'. */
export const SOCKET_CLOSED = 1 << 7;
/** Finished: close callbacks have run. */
export const FINISHED = 1 << 8;
/** close() was called by the user (not only by the peer or an error). */
export const OWN_CLOSE = 1 << 9;
/** The peer left before onConnect settled: onDisconnect runs once the connection is ready. */
export const DISCONNECT_PENDING = 1 << 10;
/** `opts` is this connection's own copy (a per-connection setter ran); else the EventLoop's, shared. */
export const OWN_OPTS = 1 << 11;
/** Reading paused: unconsumed input reached maxInboundBytes. */
export const LIMIT_PAUSED = 1 << 12;
/** Reading paused by the EventLoop's total input budget. */
export const BUDGET_PAUSED = 1 << 13;
/** The socket is paused now (the sum of the reasons above and a draining shutdown). */
export const READ_PAUSED = 1 << 14;
/** Sent output waits for the socket's 'drain' (past maxOutboundBytes): send() returns false. */
export const OUT_WAITING = 1 << 15;

export interface Waiter {
  need: number;
  delim: Delimiter | null;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
  signal: AbortSignal | null;
  onAbort: (() => void) | null;
}

export interface DrainWaiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

// The lists below start as this one frozen empty list, shared, and get their own on the first push:
// most connections never use them, and 8,000 idle connections held 5 empty lists each (idle memory
// per connection is a target). Frozen, so a push that forgot to make its own list throws.
const NONE: readonly never[] = Object.freeze([]);
/** The shared empty list a ConnState's lists start as (see `own`). */
export function none<T>(): T[] {
  return NONE as never[];
}
/** `list`, or a new list in its place when it is the shared empty one. */
export function own<T>(list: T[]): T[] {
  return (list as unknown) === NONE ? [] : list;
}

export class ConnState<C = unknown> {
  readonly conn: Connection<C>;
  readonly socket: Socket;
  /** The EventLoop's or dialer's options, shared until a per-connection setter copies them (ownOpts). */
  opts: ResolvedConnectionOptions<C>;
  /** The reader's and the writer's buffers. */
  readonly input: LinkBuffer;
  readonly output: LinkBuffer;
  readonly onFinish: ((conn: Connection<C>) => void) | null;
  onRequest: OnRequest<C> | null;
  state = 0;
  holds = 0;
  /** Bytes received since the connection opened. */
  received = 0;
  /** Bytes consumed when the running onRequest call began. */
  before = 0;
  /** `received` when the running call began: input that arrived during the call is new to it. */
  seen = 0;
  partialSince = 0;
  partialTimer: NodeJS.Timeout | null = null;
  waiter: Waiter | null = null;
  /** Output batches the socket still holds (slices), released at its write callbacks. */
  inflight: LinkBuffer[] = none();
  /** Batches handed to the socket with a write callback, and how many of those callbacks have run. */
  batches = 0;
  written = 0;
  /**
   * Consumed input that output not yet written may reference (writeBinary of a view), each piece
   * with the batch whose write callback frees it: `heldUntil[i]` pairs with `held[i]`, ascending.
   */
  held: LinkBuffer[] = none();
  heldUntil: number[] = none();
  drainWaiters: DrainWaiter[] = none();
  writeTimer: NodeJS.Timeout | null = null;
  closeCallbacks: CloseCallback<C>[] = none();
  account: InboundAccount | null = null;
  // Bound once per connection, not per request (set by the modules that use them).
  /** The reactions to a handler's pending promise; made at the first one (dispatch.ts). */
  onSettled: (() => void) | null = null;
  onRejected: ((err: unknown) => void) | null = null;
  /** The socket's write callback for a batch it queued; made at the first such batch (send.ts). */
  onWritten: ((err?: Error | null) => void) | null = null;

  constructor(
    conn: Connection<C>,
    socket: Socket,
    opts: ResolvedConnectionOptions<C>,
    input: LinkBuffer,
    output: LinkBuffer,
    onRequest: OnRequest<C> | null,
    onFinish: ((conn: Connection<C>) => void) | null,
  ) {
    this.conn = conn;
    this.socket = socket;
    this.opts = opts;
    this.input = input;
    this.output = output;
    this.onRequest = onRequest;
    this.onFinish = onFinish;
    // Bytes that arrived before the connection existed (onread: see pooled-reads.ts).
    this.received = input.length;
  }

  has(bits: number): boolean {
    return (this.state & bits) !== 0;
  }

  /** The options, as this connection's own copy (for a per-connection setter). */
  ownOpts(): ResolvedConnectionOptions<C> {
    if ((this.state & OWN_OPTS) === 0) {
      this.opts = { ...this.opts };
      this.state |= OWN_OPTS;
    }
    return this.opts;
  }
}

/**
 * Whether onRequest may be called now: the connection is ready, open, no call is running, no wait
 * takes the input, there is a handler, and input is waiting. The one place this is decided.
 */
export function canDispatch(core: ConnState<any>): boolean {
  return (core.state & (READY | RUNNING | CLOSING)) === READY && core.onRequest !== null && core.waiter === null && core.input.length > 0;
}

/** After the peer's FIN and the last handler: close, unless half-open connections stay writable. */
export function closesOnPeerEnd(core: ConnState<any>): boolean {
  return !core.opts.allowHalfOpen || core.has(WRITE_ENDED);
}

