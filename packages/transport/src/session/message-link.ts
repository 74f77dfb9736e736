// The SessionLink of message transports (UDP, WebSocket): input arrives as whole messages, each
// linked into the reader as a view (no copy) and decoded once; output is cut into one datagram or
// WebSocket message per encoded message. Messages that arrive while an async onMessage runs wait
// in a bounded queue, in order.
import { LinkBuffer, type BlockPool, defaultPool } from '@nocopy/linkbuffer';
// Imported: Node's global Buffer is a getter, a call on every use in a hot path.
import { Buffer } from 'node:buffer';
import { MalformedMessageError } from '../errors.js';
import type { SessionLink } from './link.js';
import { type Session, kFail, kInput } from './session.js';
import { isThenable } from '../util/thenable.js';

const EMPTY = Buffer.alloc(0);
/** Messages up to this size are sent as copies; larger ones as slices of the pooled output. */
const COPY_MAX = 4096;

/** Set on a received Buffer that came as a WebSocket text frame. */
export const kText = Symbol('nocopy.wsText');

/**
 * The writer of a message link: what encode() writes to; the session cuts a message after each
 * encode. A message that is one writeBinary() of a Uint8Array is not copied: that array is sent as
 * it is (like socket.write(), the caller must not change it until it has gone).
 */
class MessageWriter {
  readonly buffer: LinkBuffer;
  /** The message being encoded goes as a text frame (WebSocket; see markText). */
  text = false;
  /** The message so far, while it is one Uint8Array given to writeBinary(). */
  #single: Uint8Array | null = null;
  constructor(pool: BlockPool, readonly link: MessageLink) {
    this.buffer = new LinkBuffer({ pool });
  }
  get mallocLength(): number {
    return this.buffer.mallocLength + (this.#single === null ? 0 : this.#single.length);
  }
  get waiting(): boolean {
    return this.link.waiting;
  }
  send(): boolean {
    return !this.link.waiting;
  }
  flush(): Promise<void> {
    return this.link.drained();
  }
  /** The message, when it is exactly one Uint8Array; clears it. */
  takeSingle(): Uint8Array | null {
    const s = this.#single;
    this.#single = null;
    return s;
  }
  #spill(): void {
    const s = this.#single;
    if (s === null) return;
    this.#single = null;
    this.buffer.writeBinary(s);
  }
  writeBinary(b: Uint8Array): void {
    if (this.#single === null && this.buffer.mallocLength === 0) {
      this.#single = b;
      return;
    }
    this.#spill();
    this.buffer.writeBinary(b);
  }
  writeString(s: string, encoding?: BufferEncoding): number { this.#spill(); return this.buffer.writeString(s, encoding); }
  writeUint8(v: number): void { this.#spill(); this.buffer.writeUint8(v); }
  writeUint16BE(v: number): void { this.#spill(); this.buffer.writeUint16BE(v); }
  writeUint16LE(v: number): void { this.#spill(); this.buffer.writeUint16LE(v); }
  writeUint32BE(v: number): void { this.#spill(); this.buffer.writeUint32BE(v); }
  writeUint32LE(v: number): void { this.#spill(); this.buffer.writeUint32LE(v); }
  writeBigUint64BE(v: bigint): void { this.#spill(); this.buffer.writeBigUint64BE(v); }
  writeBigUint64LE(v: bigint): void { this.#spill(); this.buffer.writeBigUint64LE(v); }
}

export interface MessageLinkOptions {
  pool?: BlockPool;
  /** onMessage calls running at once (the session's maxInFlight). */
  maxInFlight: number;
  /** Messages waiting behind a running onMessage at most; past it, overflow() decides. */
  maxQueued: number;
}

export abstract class MessageLink implements SessionLink {
  readonly reader: LinkBuffer;
  readonly writer: MessageWriter;
  error: unknown = undefined;
  abstract readonly localAddress: string | undefined;
  abstract readonly localPort: number | undefined;
  abstract readonly remoteAddress: string | undefined;
  abstract readonly remotePort: number | undefined;
  session: Session<any, any> | null = null;
  /** Messages received while the session could not take them, in order. */
  readonly #queue: Uint8Array[] = [];
  readonly #maxInFlight: number;
  readonly #maxQueued: number;
  readonly #closeCallbacks: (() => void)[] = [];
  /** Run at once when the transport is gone (onGone), not after the input call. */
  readonly #goneCallbacks: (() => void)[] = [];
  #active = true;
  #started = false;
  /** An input call (maxInFlight 1) has not settled. */
  #running = false;
  #holds = 0;
  #gone = false;
  readonly #afterRun = (): void => {
    this.#running = false;
    this.reader.release();
    this.#pump();
  };

  constructor(options: MessageLinkOptions) {
    const pool = options.pool ?? defaultPool;
    this.reader = new LinkBuffer({ pool });
    this.writer = new MessageWriter(pool, this);
    this.#maxInFlight = options.maxInFlight;
    this.#maxQueued = options.maxQueued;
  }

  /**
   * Sends one message (the bytes of one encode); `text`: the codec marked it as text (WebSocket).
   * `done`, when given, must be called once the transport no longer needs `bytes`.
   */
  protected abstract sendMessage(bytes: Buffer, text: boolean, done: (() => void) | null): void;
  /** The message being delivered came as a text frame (WebSocket). */
  currentText = false;
  /** Messages may be text frames (WebSocket): only then is each one looked at for it. */
  protected readonly textFrames: boolean = false;
  /** Output waits for the peer. */
  abstract get waiting(): boolean;
  /** Resolves when output no longer waits (bounded by the write timeout), rejects when closed. */
  abstract drained(): Promise<void>;
  /** Ends the transport side: `graceful` lets queued output go out first. */
  protected abstract closeTransport(error: unknown, graceful: boolean): void;
  /** A message that found the queue full: return true to drop it (counted by the transport), false to wait (the transport pauses). */
  protected abstract overflow(message: Uint8Array): boolean;
  /** The queue of waiting messages emptied (a transport that paused at overflow() resumes). */
  protected queueDrained(): void {}
  /** A message could not be decoded: dropped and counted (true), or the session closes (false). */
  abstract dropMalformed(error: unknown): boolean;

  isActive(): boolean {
    return this.#active;
  }

  /** Input starts once onOpen accepted the session; what arrived before waits in the queue. */
  start(): void {
    this.#started = true;
    this.#pump();
  }

  /** A message from the transport. */
  push(message: Uint8Array): void {
    if (!this.#active) return;
    if (this.#queue.length > 0 || !this.#ready()) {
      if (this.#queue.length >= this.#maxQueued && this.overflow(message)) return;
      this.#queue.push(message);
      return;
    }
    this.#deliver(message);
  }

  /** How many messages wait. */
  get queued(): number {
    return this.#queue.length;
  }

  #ready(): boolean {
    return this.#started && !this.#running && this.#holds < this.#maxInFlight && this.session !== null;
  }

  #pump(): void {
    const had = this.#queue.length;
    while (this.#active && this.#queue.length > 0 && this.#ready()) this.#deliver(this.#queue.shift()!);
    if (had > 0 && this.#queue.length === 0) this.queueDrained();
    if (this.#gone && !this.#running && this.#holds === 0) this.#runCloseCallbacks();
  }

  #deliver(message: Uint8Array): void {
    const reader = this.reader;
    if (this.textFrames) this.currentText = (message as { [kText]?: boolean })[kText] === true;
    reader.link(message);
    const r = this.session![kInput]();
    // One message, one decode: bytes it did not take are a malformed (or incomplete) message.
    if (reader.length > 0 && this.#active) {
      const err = new MalformedMessageError(`${reader.length} bytes of the message were not decoded`);
      reader.skip(reader.length);
      if (!this.dropMalformed(err)) this.session![kFail](err);
    }
    if (isThenable(r)) {
      this.#running = true;
      Promise.resolve(r).then(this.#afterRun, this.#afterRun);
    } else {
      reader.release();
    }
  }

  endMessage(): void {
    const b = this.writer.buffer;
    const single = this.writer.takeSingle();
    if (single !== null) {
      // One Uint8Array given to writeBinary(): sent as it is, no copy, nothing to release.
      const text = this.writer.text;
      this.writer.text = false;
      this.sendMessage(Buffer.isBuffer(single) ? single : Buffer.from(single.buffer, single.byteOffset, single.byteLength), text, null);
      return;
    }
    const n = b.mallocLength;
    b.flush();
    const text = this.writer.text;
    this.writer.text = false;
    if (n === 0 && text === false && b.length === 0) {
      this.sendMessage(EMPTY, false, null);
      return;
    }
    // The transport may hold the bytes until the socket has written them (ws and dgram both do):
    // small messages go as a copy of their own; large ones as a slice that keeps the pooled memory
    // until the send callback closes it.
    if (n <= COPY_MAX) {
      const bytes = b.readBinary(n);
      b.release();
      this.sendMessage(bytes, text, null);
      return;
    }
    const slice = b.slice(n);
    this.sendMessage(slice.next(n), text, () => slice.close());
  }

  hold(): void {
    this.#holds++;
  }

  unhold(): void {
    if (this.#holds > 0) this.#holds--;
    this.#pump();
  }

  redispatch(): void {
    this.#pump();
  }

  close(error?: unknown, options?: { graceful?: boolean }): void {
    if (!this.#active) return;
    this.#active = false;
    if (error !== undefined) this.error = error;
    this.#queue.length = 0;
    this.closeTransport(error, options?.graceful ?? error === undefined);
  }

  /**
   * Cuts the transport now, also when a graceful close already began and waits for the peer (a
   * shutdown deadline): nothing more is sent.
   */
  abort(error?: unknown): void {
    if (this.#active) this.close(error, { graceful: false });
    else if (!this.#gone) this.closeTransport(error, false);
  }

  /** The transport is gone (closed by us or by the peer): close callbacks run once input settled. */
  protected gone(error?: unknown): void {
    if (this.#gone) return;
    if (this.#active) {
      this.#active = false;
      if (error !== undefined) this.error = error;
      this.#queue.length = 0;
    }
    this.#gone = true;
    const now = this.#goneCallbacks.splice(0);
    for (const cb of now) cb();
    if (!this.#running && this.#holds === 0) this.#runCloseCallbacks();
  }

  addCloseCallback(cb: () => void): void {
    this.#closeCallbacks.push(cb);
  }

  onGone(cb: () => void): void {
    if (this.#gone) cb();
    else this.#goneCallbacks.push(cb);
  }

  #runCloseCallbacks(): void {
    const cbs = this.#closeCallbacks.splice(0);
    for (let i = cbs.length - 1; i >= 0; i--) cbs[i]!();
    this.reader.close();
    this.writer.buffer.close();
  }
}
