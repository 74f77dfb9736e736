// Shared fixtures for the transport tests: real sockets on 127.0.0.1 port 0, never mocks.
// (Node's runner also loads this file when given the whole directory; it defines no tests.)
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import type { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop, type EventLoopOptions, type ListenOptions, type OnRequest } from '../src/index.js';

export { sleep };

/** `payload` behind a 4-byte big-endian length. */
export function frame(payload: Uint8Array | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(4 + p.length);
  out.writeUInt32BE(p.length, 0);
  out.set(p, 4);
  return out;
}

/** `n` deterministic pseudo-random bytes for `seed` (so every byte of an echo can be verified). */
export function pattern(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Length-prefixed echo: every complete frame goes back unchanged. The header is written into pooled
 * memory (so pool stats see the traffic); the payload is zero-copy (slice() shares the input nodes,
 * append() moves them to the output). A partial frame is left for the next call.
 */
export const echoFrames: OnRequest<any> = (_ctx, conn) => {
  const r = conn.reader;
  const w = conn.writer;
  let echoed = false;
  while (r.length >= 4) {
    const n = r.peekUint32BE();
    if (r.length < 4 + n) break;
    w.writeUint32BE(r.readUint32BE());
    if (n > 0) w.append(r.slice(n));
    echoed = true;
  }
  if (echoed) return w.flush();
};

/** Rejects with a clear message when `p` has not settled after `ms` (a liveness bound, never an assertion on speed). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

/** Polls `cond` until true (liveness bound `ms`). */
export async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A promise with its resolve function, for gates the test opens. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface Served<C> {
  loop: EventLoop<C>;
  port: number;
}

/** An EventLoop listening on 127.0.0.1:0. */
export async function serve<C = unknown>(
  onRequest: OnRequest<C>,
  options: EventLoopOptions<C> = {},
  listen: ListenOptions = {},
): Promise<Served<C>> {
  const loop = new EventLoop<C>(onRequest, options);
  const addr = (await loop.listen(listen)) as AddressInfo;
  return { loop, port: addr.port };
}

/** Every block taken from `pool` is back (and the pool was used at all, so the check means something). */
export function assertAllBack(pool: BlockPool, what = 'pool'): void {
  const s = pool.stats();
  assert.ok(s.hits + s.misses > 0, `${what}: never used`);
  assert.equal(s.blocksOutstanding, 0, `${what}: blocksOutstanding`);
  assert.equal(s.bytesOutstanding, 0, `${what}: bytesOutstanding`);
}

/**
 * A plain `net` client that buffers what it receives, for exact reads. `read(n)` resolves with exactly
 * `n` bytes, or rejects if the socket closes first.
 */
export class RawClient {
  readonly socket: net.Socket;
  /** Resolves when the socket has closed; `hadError` as in the 'close' event. */
  readonly closed: Promise<boolean>;
  /** The error the socket saw, if any. */
  error: Error | undefined;
  /** Bytes received in total. */
  received = 0;
  /** The peer sent its FIN. */
  ended = false;
  #chunks: Buffer[] = [];
  #length = 0;
  #wake: (() => void) | null = null;
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (hadError: boolean) => {
        this.#isClosed = true;
        this.#notify();
        resolve(hadError);
      });
    });
  }

  static async connect(target: number | string, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    const socket =
      typeof target === 'number'
        ? net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false })
        : net.connect({ path: target, allowHalfOpen: options.allowHalfOpen ?? false });
    const client = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return client;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#length;
  }

  /** Resolves at the write callback. */
  write(data: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  async read(n: number, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.#length < n) {
      if (this.#isClosed || this.ended) {
        throw new Error(`socket closed with ${this.#length} of ${n} bytes`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms with ${this.#length} of ${n} bytes`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    return out;
  }

  /** Reads one length-prefixed frame and returns its payload. */
  async readFrame(ms = 5000): Promise<Buffer> {
    const head = await this.read(4, ms);
    return this.read(head.readUInt32BE(0), ms);
  }

  /** Sends `payload` as a frame and returns the echoed payload. */
  async roundTrip(payload: Uint8Array | string, ms = 5000): Promise<Buffer> {
    this.socket.write(frame(payload));
    return this.readFrame(ms);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
