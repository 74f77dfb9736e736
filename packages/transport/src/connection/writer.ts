// conn.writer: the connection's output. The LinkBuffer writing methods (nothing is sent until a
// flush), and the sends: flush() as a promise, send() and drained() for code that avoids one.
import { LinkBuffer } from '@nocopy/linkbuffer';
import { type Reader, bufferOf } from './reader.js';
import { drained, flush, queued, send } from './send.js';
import { type ConnState, OUT_WAITING } from './state.js';

/**
 * The output side of a connection. Write with the LinkBuffer writing methods (see
 * @nocopy/linkbuffer), then send:
 *
 * - `flush()` sends everything written: every node goes to the socket as a view, in one corked write
 *   (one writev), and returns to the pool once the socket has written it. It resolves at once unless
 *   the socket already holds maxOutboundBytes; then it waits for the peer to take them, bounded by the
 *   write timeout (WriteTimeoutError; the connection closes). It rejects with ConnClosedError once the
 *   connection can no longer send. Resolving means the socket took the bytes, not that they arrived.
 * - `send()` is the same without a promise: true when the bytes went to the socket, false when they
 *   wait for the peer (then `drained()` resolves when they have gone). It throws ConnClosedError.
 */
export interface Writer {
  /** Bytes written and not yet sent. */
  readonly mallocLength: number;
  /** Contiguous bytes the next malloc() can return without a new node. */
  readonly mallocCapacity: number;
  readonly closed: boolean;
  /** Output waits for the peer (past maxOutboundBytes): send() returns false until it has drained. */
  readonly waiting: boolean;
  /** Bytes sent and not yet written by the kernel (waiting for the peer, or in the socket's queue). */
  readonly queued: number;
  malloc(n: number): Buffer;
  mallocAck(n: number): void;
  writeByte(b: number): void;
  writeString(s: string, encoding?: BufferEncoding): number;
  writeBinary(b: Uint8Array): void;
  writeDirect(p: Uint8Array, remainCap: number): void;
  /** Moves all of `other`'s readable bytes here without copying (a connection's reader included). */
  append(other: LinkBuffer | Reader): void;
  writeUint8(v: number): void;
  writeInt8(v: number): void;
  writeUint16BE(v: number): void;
  writeUint16LE(v: number): void;
  writeInt16BE(v: number): void;
  writeInt16LE(v: number): void;
  writeUint32BE(v: number): void;
  writeUint32LE(v: number): void;
  writeInt32BE(v: number): void;
  writeInt32LE(v: number): void;
  writeBigUint64BE(v: bigint): void;
  writeBigUint64LE(v: bigint): void;
  writeBigInt64BE(v: bigint): void;
  writeBigInt64LE(v: bigint): void;
  flush(): Promise<void>;
  send(): boolean;
  drained(): Promise<void>;
}

const kOutput = Symbol('nocopy.writerOutput');

export class ConnectionWriter implements Writer {
  /** @internal */
  readonly [kOutput]: LinkBuffer;
  readonly #state: ConnState<any>;

  constructor(state: ConnState<any>) {
    this[kOutput] = state.output;
    this.#state = state;
  }

  get mallocLength(): number {
    return this[kOutput].mallocLength;
  }
  get mallocCapacity(): number {
    return this[kOutput].mallocCapacity;
  }
  get closed(): boolean {
    return this[kOutput].closed;
  }
  get waiting(): boolean {
    return this.#state.has(OUT_WAITING);
  }
  get queued(): number {
    return queued(this.#state);
  }
  malloc(n: number): Buffer { return this[kOutput].malloc(n); }
  mallocAck(n: number): void { this[kOutput].mallocAck(n); }
  writeByte(b: number): void { this[kOutput].writeByte(b); }
  writeString(s: string, encoding?: BufferEncoding): number { return this[kOutput].writeString(s, encoding); }
  writeBinary(b: Uint8Array): void { this[kOutput].writeBinary(b); }
  writeDirect(p: Uint8Array, remainCap: number): void { this[kOutput].writeDirect(p, remainCap); }
  writeUint8(v: number): void { this[kOutput].writeUint8(v); }
  writeInt8(v: number): void { this[kOutput].writeInt8(v); }
  writeUint16BE(v: number): void { this[kOutput].writeUint16BE(v); }
  writeUint16LE(v: number): void { this[kOutput].writeUint16LE(v); }
  writeInt16BE(v: number): void { this[kOutput].writeInt16BE(v); }
  writeInt16LE(v: number): void { this[kOutput].writeInt16LE(v); }
  writeUint32BE(v: number): void { this[kOutput].writeUint32BE(v); }
  writeUint32LE(v: number): void { this[kOutput].writeUint32LE(v); }
  writeInt32BE(v: number): void { this[kOutput].writeInt32BE(v); }
  writeInt32LE(v: number): void { this[kOutput].writeInt32LE(v); }
  writeBigUint64BE(v: bigint): void { this[kOutput].writeBigUint64BE(v); }
  writeBigUint64LE(v: bigint): void { this[kOutput].writeBigUint64LE(v); }
  writeBigInt64BE(v: bigint): void { this[kOutput].writeBigInt64BE(v); }
  writeBigInt64LE(v: bigint): void { this[kOutput].writeBigInt64LE(v); }

  append(other: LinkBuffer | Reader): void {
    // instanceof first: the `in` test walks the prototype chain on every call (a slice per frame).
    const src = other instanceof LinkBuffer ? other : 'waitFor' in other ? bufferOf(other) : other;
    if (src === null) throw new TypeError('append() takes a LinkBuffer or a connection reader');
    // A reader with a region malloc'd for the next socket read gives its readable bytes as a slice
    // (zero copy), leaving the region where the socket expects it.
    if (src.mallocLength === 0) this[kOutput].append(src);
    else this[kOutput].append(src.slice(src.length));
  }

  flush(): Promise<void> {
    return flush(this.#state);
  }
  send(): boolean {
    return send(this.#state);
  }
  drained(): Promise<void> {
    return drained(this.#state);
  }
}
