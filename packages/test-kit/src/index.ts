// Test utilities shared by every nocopy test project. Liveness bounds only: nothing here asserts speed.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Rejects with a clear message when `p` has not settled after `ms` (a liveness bound, never an assertion on speed). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

/** Polls `cond` until true (liveness bound `ms`). */
export async function until(cond: () => boolean, what: string | (() => string), ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(2);
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/** A promise with its resolve and reject functions, for gates a test opens. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** `payload` behind a 4-byte big-endian length (`length` overrides the header, for lying frames). */
export function frame(payload: Uint8Array | string, length?: number): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(4 + p.length);
  out.writeUInt32BE(length ?? p.length, 0);
  out.set(p, 4);
  return out;
}

/** What the frame helpers need of a framing codec and a connection (structural: this package depends on no nocopy package). */
export interface FrameCodecLike<R = any, W = any> {
  decode(reader: R): Buffer | undefined;
  encode(frame: Uint8Array, writer: W): void;
}
export interface FrameConnection {
  reader: { length: number; waitFor(n: number, options?: { timeout?: number }): Promise<void>; release(): void };
  writer: { flush(): Promise<void> };
}

/**
 * An onRequest that echoes every whole frame of `codec` (a partial one waits). A frame the codec
 * refuses ends the connection with that error, after the frames before it have been sent.
 */
export function frameEcho(codec: FrameCodecLike): (ctx: unknown, conn: any) => void | Promise<void> {
  return (_ctx, conn) => {
    let echoed = false;
    for (;;) {
      let f: Buffer | undefined;
      try {
        f = codec.decode(conn.reader);
      } catch (err) {
        if (echoed) conn.writer.send();
        conn.close(err, { graceful: true });
        return;
      }
      if (f === undefined) break;
      codec.encode(f, conn.writer);
      echoed = true;
    }
    if (echoed) return conn.writer.flush();
  };
}

/** Waits for the next whole frame of `codec` on a connection read with waits; returns a copy and releases the input. */
export async function readFrameFrom(codec: FrameCodecLike, conn: FrameConnection, options?: { timeout?: number }): Promise<Buffer> {
  for (;;) {
    const f = codec.decode(conn.reader);
    if (f !== undefined) {
      const out = Buffer.from(f);
      conn.reader.release();
      return out;
    }
    await conn.reader.waitFor(conn.reader.length + 1, options);
  }
}

export interface RawClientOptions {
  /** false: count the bytes received, keep none (for streams of many MiB); read(), take() and data() then see nothing. Default true. */
  keep?: boolean;
}

export interface RawConnectOptions extends RawClientOptions {
  host?: string;
  /** Bind the client side to this loopback alias (e.g. 127.0.0.2), so the server sees another remote address. */
  localAddress?: string;
  /** Default false: the socket ends its side when the peer's FIN arrives. */
  allowHalfOpen?: boolean;
}

/**
 * A plain `net` client that buffers what it receives, for exact reads: `read(n)` resolves with exactly
 * `n` bytes, or rejects when the socket closes first or `ms` passes. `data()` and
 * `waitForReceived()` serve tests that look at a whole stream instead (the proxy's).
 */
export class RawClient {
  readonly socket: net.Socket;
  /** Resolves when the socket has closed, with `hadError` as in the 'close' event. */
  readonly closed: Promise<boolean>;
  /** Resolves when the peer's FIN arrives (never, if the socket closes without one). */
  readonly endReceived: Promise<void>;
  /** The error the socket saw, if any. */
  error: Error | undefined;
  /** Bytes received in total. */
  received = 0;
  /** The peer sent its FIN. */
  ended = false;
  readonly #keep: boolean;
  readonly #connected: Promise<void>;
  #chunks: Buffer[] = [];
  #length = 0;
  #wake: (() => void) | null = null;
  #isClosed = false;

  constructor(socket: net.Socket, options: RawClientOptions = {}) {
    this.socket = socket;
    this.#keep = options.keep ?? true;
    // A socket given already connected (a server's side) has nothing to wait for.
    this.#connected = !socket.connecting
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
    this.#connected.catch(() => {}); // seen by connected(), if anyone asks
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.#keep) {
        this.#chunks.push(chunk);
        this.#length += chunk.length;
      }
      this.#notify();
    });
    this.endReceived = new Promise((resolve) => {
      socket.once('end', () => {
        this.ended = true;
        this.#notify();
        resolve();
      });
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

  /**
   * Starts connecting to a TCP port on loopback (or `host`), or to a Unix socket path, and returns at
   * once: for a test that sends before the connect completes, or expects it to fail (connected()).
   */
  static dial(target: number | string, options: RawConnectOptions = {}): RawClient {
    const allowHalfOpen = options.allowHalfOpen ?? false;
    const socket =
      typeof target === 'number'
        ? net.connect({ port: target, host: options.host ?? '127.0.0.1', localAddress: options.localAddress, allowHalfOpen })
        : net.connect({ path: target, allowHalfOpen });
    if (typeof target === 'number') socket.once('connect', () => socket.setNoDelay(true));
    return new RawClient(socket, options);
  }

  /** Connects (see dial()) and resolves once connected; rejects with the connect error. */
  static connect(target: number | string, options: RawConnectOptions = {}): Promise<RawClient> {
    return RawClient.dial(target, options).connected();
  }

  /** Resolves with this client once connected; rejects with the connect error (ECONNREFUSED, ...). */
  async connected(): Promise<this> {
    await this.#connected;
    return this;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#length;
  }

  /** Everything received and not yet read, left unread (with `keep: false`, empty). */
  data(): Buffer {
    return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
  }

  /** Resolves once `total` bytes have arrived since the connect (liveness bound `ms`). */
  waitForReceived(total: number, ms = 10_000): Promise<void> {
    return until(() => this.received >= total, () => `${total} bytes (have ${this.received})`, ms);
  }

  /** Everything received and not yet read. */
  take(): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#length = 0;
    return all;
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
      if (this.#isClosed || this.ended) throw new Error(`socket closed with ${this.#length} of ${n} bytes`);
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
    const all = this.take();
    if (all.length > n) {
      this.#chunks = [all.subarray(n)];
      this.#length = all.length - n;
    }
    return all.subarray(0, n);
  }

  /**
   * Reads one line: resolves with its text (utf8) without the '\n', or rejects when the socket
   * closes (or the peer ends) first or `ms` passes. For line protocols (greetings, echoes).
   */
  async readLine(ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.data().indexOf(0x0a);
      if (i >= 0) return (await this.read(i + 1, 0)).toString('utf8', 0, i);
      if (this.#isClosed || this.ended) throw new Error(`socket closed with ${this.#length} bytes and no end of line`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms with ${this.#length} bytes and no end of line`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
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

/** A small seeded PRNG (mulberry32): the same `seed` gives the same sequence, so a failing random test can be rerun. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on now (bound, then closed): for a server to start on, or a dial to fail on. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A port nothing listens on (bound once, then closed), for a dial that must be refused: freePort() by its other use. */
export const deadPort = freePort;

export { Dnsmasq, dnsmasqBinary, dnsmasqMissing, type DnsmasqOptions, type DnsmasqSrv } from './dnsmasq.js';
// A real etcd started by a test (startEtcd), and why one cannot be (etcdMissing).
export { startEtcd, etcdMissing, type EtcdServer, type StartEtcdOptions } from './etcd.js';
// Direct probes of IPv6 loopback and loopback multicast, for skips with one named cause.
export { ipv6LoopbackMissing, loopbackMulticastMissing } from './probes.js';
// A promise's outcome and an error's code.
export { outcome, codeOf, errorCode, type Outcome } from './outcome.js';
// Every pool block back.
export { assertAllBack, type PoolLike } from './pool.js';
// The amplification report's MessagePack request.
export { referenceBomb } from './msgpack-bombs.js';
// A real TLS ClientHello.
export { captureClientHello } from './tls-hello.js';

export { startCli, type RunningCli } from './cli.js';

// A fixture compiled against the built packages, its ERROR lines checked (type tests).
export { checkTypeFixture, type TypeFixtureResult } from './type-fixture.js';
