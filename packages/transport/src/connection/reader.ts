// conn.reader: the connection's input. The LinkBuffer reading methods (views valid until release(),
// which runs after each onRequest call settles), plus the read waits: reader.waitFor(n) and
// reader.waitUntil(delim) wait for input instead of onRequest. One wait at a time per connection; it
// takes the input while it is pending.
import type { Delimiter, LinkBuffer } from '@nocopy/linkbuffer';
import { AbortError, ConcurrentReadError, ConnClosedError, InboundLimitError, InvalidOptionError, ReadTimeoutError } from '../errors.js';
import { RESOLVED } from '../util/thenable.js';
import { dispatch } from './dispatch.js';
import { updateReading } from './receive.js';
import { releaseInput } from './send.js';
import { CLOSING, type ConnState, LIMIT_PAUSED, PEER_ENDED, READY, RUNNING, type Waiter, canDispatch } from './state.js';

export interface WaitOptions {
  /** Overrides the connection's read timeout for this wait, in ms (0 = none). */
  timeout?: number;
  /** Rejects the wait with an AbortError (code ABORT_ERR); the connection stays open. */
  signal?: AbortSignal;
}

/**
 * The input side of a connection: nocopy reads of what has arrived (they never wait, and throw
 * ShortBufferError past what is there) and two waits. See @nocopy/linkbuffer for each read method.
 */
export interface Reader {
  /** Readable bytes. */
  readonly length: number;
  readonly closed: boolean;
  next(n: number): Buffer;
  peek(n: number): Buffer;
  skip(n: number): void;
  until(delim: Delimiter): Buffer | null;
  indexOf(delim: Delimiter, from?: number): number;
  readString(n: number, encoding?: BufferEncoding): string;
  readBinary(n: number): Buffer;
  readByte(): number;
  readUint8(): number;
  readInt8(): number;
  readUint16BE(): number;
  readUint16LE(): number;
  readInt16BE(): number;
  readInt16LE(): number;
  readUint32BE(): number;
  readUint32LE(): number;
  readInt32BE(): number;
  readInt32LE(): number;
  readBigUint64BE(): bigint;
  readBigUint64LE(): bigint;
  readBigInt64BE(): bigint;
  readBigInt64LE(): bigint;
  peekUint8(offset?: number): number;
  peekUint16BE(offset?: number): number;
  peekUint16LE(offset?: number): number;
  peekUint32BE(offset?: number): number;
  peekUint32LE(offset?: number): number;
  /** The next `n` bytes as a LinkBuffer sharing their memory (close() it when done). */
  slice(n: number): LinkBuffer;
  /** The readable bytes as views, one per node. */
  views(): Buffer[];
  /**
   * Gives back the memory of what was consumed; earlier views become invalid. Memory that output
   * flushed before may reference goes back once the socket has written that output.
   */
  release(): void;
  /**
   * Resolves when at least `n` bytes are readable (at once if they already are). Rejects with
   * ReadTimeoutError after the read timeout, ConnClosedError if the connection closes first,
   * InboundLimitError if `n` exceeds maxInboundBytes. Consumes nothing.
   */
  waitFor(n: number, options?: WaitOptions): Promise<void>;
  /**
   * Resolves with the bytes up to and including `delim`, consumed as by until() (a view valid until
   * release()), once it has arrived. Rejects like waitFor(); a delimiter not found within
   * maxInboundBytes rejects with InboundLimitError and closes the connection.
   */
  waitUntil(delim: Delimiter, options?: WaitOptions): Promise<Buffer>;
}

const kInput = Symbol('nocopy.readerInput');

/** The LinkBuffer behind a connection's reader (for the writer's append()). */
export function bufferOf(r: Reader): LinkBuffer | null {
  return r instanceof ConnectionReader ? r[kInput] : null;
}

export class ConnectionReader implements Reader {
  /** @internal */
  readonly [kInput]: LinkBuffer;
  readonly #state: ConnState<any>;

  constructor(state: ConnState<any>) {
    this[kInput] = state.input;
    this.#state = state;
  }

  get length(): number {
    return this[kInput].length;
  }
  get closed(): boolean {
    return this[kInput].closed;
  }
  next(n: number): Buffer { return this[kInput].next(n); }
  peek(n: number): Buffer { return this[kInput].peek(n); }
  skip(n: number): void { this[kInput].skip(n); }
  until(delim: Delimiter): Buffer | null { return this[kInput].until(delim); }
  indexOf(delim: Delimiter, from?: number): number { return this[kInput].indexOf(delim, from); }
  readString(n: number, encoding?: BufferEncoding): string { return this[kInput].readString(n, encoding); }
  readBinary(n: number): Buffer { return this[kInput].readBinary(n); }
  readByte(): number { return this[kInput].readByte(); }
  readUint8(): number { return this[kInput].readUint8(); }
  readInt8(): number { return this[kInput].readInt8(); }
  readUint16BE(): number { return this[kInput].readUint16BE(); }
  readUint16LE(): number { return this[kInput].readUint16LE(); }
  readInt16BE(): number { return this[kInput].readInt16BE(); }
  readInt16LE(): number { return this[kInput].readInt16LE(); }
  readUint32BE(): number { return this[kInput].readUint32BE(); }
  readUint32LE(): number { return this[kInput].readUint32LE(); }
  readInt32BE(): number { return this[kInput].readInt32BE(); }
  readInt32LE(): number { return this[kInput].readInt32LE(); }
  readBigUint64BE(): bigint { return this[kInput].readBigUint64BE(); }
  readBigUint64LE(): bigint { return this[kInput].readBigUint64LE(); }
  readBigInt64BE(): bigint { return this[kInput].readBigInt64BE(); }
  readBigInt64LE(): bigint { return this[kInput].readBigInt64LE(); }
  peekUint8(offset?: number): number { return this[kInput].peekUint8(offset); }
  peekUint16BE(offset?: number): number { return this[kInput].peekUint16BE(offset); }
  peekUint16LE(offset?: number): number { return this[kInput].peekUint16LE(offset); }
  peekUint32BE(offset?: number): number { return this[kInput].peekUint32BE(offset); }
  peekUint32LE(offset?: number): number { return this[kInput].peekUint32LE(offset); }
  slice(n: number): LinkBuffer { return this[kInput].slice(n); }
  views(): Buffer[] { return this[kInput].views(); }
  release(): void {
    // Kept past the write of output flushed from it (send.ts).
    if (!this[kInput].closed) releaseInput(this.#state);
  }

  waitFor(n: number, options?: WaitOptions): Promise<void> {
    if ((n >>> 0) !== n) return Promise.reject(new InvalidOptionError('n', n, 'an integer from 0 to 2^32-1'));
    if (this[kInput].length >= n) return RESOLVED;
    return wait(this.#state, n, null, options) as Promise<void>;
  }

  waitUntil(delim: Delimiter, options?: WaitOptions): Promise<Buffer> {
    const b = this[kInput];
    if (b.closed) return Promise.reject(new ConnClosedError('connection closed'));
    let found: Buffer | null;
    try {
      found = b.until(delim);
    } catch (err) {
      return Promise.reject(err);
    }
    if (found !== null) return Promise.resolve(found);
    return wait(this.#state, 0, delim, options) as Promise<Buffer>;
  }
}

export function wait(core: ConnState<any>, need: number, delim: Delimiter | null, options?: WaitOptions): Promise<unknown> {
  if (core.waiter !== null) return Promise.reject(new ConcurrentReadError());
  if (core.has(CLOSING | PEER_ENDED)) {
    return Promise.reject(new ConnClosedError(core.has(PEER_ENDED) ? 'the peer closed the connection' : 'connection closed', { cause: core.conn.error }));
  }
  const limit = core.opts.maxInboundBytes;
  if (need > limit) return Promise.reject(new InboundLimitError(limit, need));
  const signal = options?.signal ?? null;
  if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
  return new Promise((resolve, reject) => {
    const w: Waiter = { need, delim, resolve, reject, timer: null, signal, onAbort: null };
    core.waiter = w;
    const ms = options?.timeout ?? core.opts.readTimeout;
    if (ms > 0) w.timer = setTimeout(() => settleWaiter(core, w, new ReadTimeoutError(ms)), ms);
    if (signal !== null) {
      w.onAbort = () => settleWaiter(core, w, new AbortError(signal.reason));
      signal.addEventListener('abort', w.onAbort, { once: true });
    }
    // A wait asks for more input: a socket paused at the input limit reads again.
    if (core.has(LIMIT_PAUSED)) {
      core.state &= ~LIMIT_PAUSED;
      updateReading(core);
    }
  });
}

/** New input arrived while a wait is pending: does it satisfy it? */
export function checkWaiter(core: ConnState<any>, w: Waiter): void {
  const input = core.input;
  if (w.delim === null) {
    if (input.length >= w.need) settleWaiter(core, w, undefined, undefined);
    return;
  }
  const found = input.until(w.delim);
  if (found !== null) {
    settleWaiter(core, w, undefined, found);
  } else if (input.length >= core.opts.maxInboundBytes) {
    const err = new InboundLimitError(core.opts.maxInboundBytes);
    settleWaiter(core, w, err);
    core.conn.close(err);
  }
}

export function settleWaiter(core: ConnState<any>, w: Waiter, error: unknown, value?: unknown): void {
  if (core.waiter !== w) return;
  core.waiter = null;
  if (w.timer !== null) clearTimeout(w.timer);
  if (w.onAbort !== null) w.signal!.removeEventListener('abort', w.onAbort);
  if (error !== undefined) w.reject(error);
  else w.resolve(value);
  // Input that arrived for nobody goes to the handler once the waiter is gone.
  if ((core.state & (READY | RUNNING | CLOSING)) === READY && core.onRequest !== null && core.input.length > 0) {
    queueMicrotask(() => {
      if (canDispatch(core)) dispatch(core);
    });
  }
}
