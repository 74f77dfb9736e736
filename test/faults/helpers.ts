// Shared pieces of the fault and fuzz tests: liveness bounds, framing, an in-process echo server
// with its own BlockPool, a well-behaved raw client, and the check that an error carries a code.
// (Not a test file: it defines no tests.)
import net, { type AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop, type Connection, type EventLoopOptions, type ListenOptions, type OnRequest } from '@nocopy/transport';

export { sleep, within, until } from '../support.js';
import { until } from '../support.js';



/** The settled outcome of a promise, without an unhandled rejection in between. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
export function outcome(p: Promise<unknown>): Promise<Outcome> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The error's stable `code` (a string like ERR_CONN_CLOSED); fails the test if it has none. */
export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  assert.equal(typeof code, 'string', `an error without a string code: ${String(err)}`);
  assert.match(code as string, /^[A-Z][A-Z0-9_]+$/, `not an error code: ${String(code)}`);
  return code as string;
}

/** `payload` behind a 4-byte big-endian length. */
export function frame(payload: Uint8Array | string, length?: number): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(4 + p.length);
  out.writeUInt32BE(length ?? p.length, 0);
  out.set(p, 4);
  return out;
}

/**
 * Length-prefixed echo, as in packages/transport/test/helpers.ts: every complete frame goes back
 * unchanged (the header through pooled memory, the payload zero-copy); a partial frame waits.
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

export interface EchoServer {
  loop: EventLoop<unknown>;
  port: number;
  pool: BlockPool;
  /** conn.error code of every server-side connection that closed with an error ('' for a clean close). */
  closeCodes: string[];
  /** Errors reported to onError. */
  errors: unknown[];
}

/** An EventLoop echo server on 127.0.0.1:0 with its own BlockPool. */
export async function startEcho(options: EventLoopOptions<unknown> = {}, listen: ListenOptions = {}): Promise<EchoServer> {
  const pool = new BlockPool();
  const closeCodes: string[] = [];
  const errors: unknown[] = [];
  const loop = new EventLoop<unknown>(echoFrames, {
    pool,
    onError: (e) => errors.push(e),
    onPrepare: (conn: Connection<unknown>) => {
      conn.addCloseCallback((c) => {
        closeCodes.push(c.error === undefined ? '' : String((c.error as { code?: unknown }).code ?? (c.error as Error).message));
      });
      return undefined;
    },
    ...options,
  });
  const addr = (await loop.listen({ host: '127.0.0.1', port: 0, ...listen })) as AddressInfo;
  return { loop, port: addr.port, pool, closeCodes, errors };
}

/**
 * A plain net client that buffers what it receives. `read(n)` resolves with exactly `n` bytes, or
 * rejects when the socket closes first or `ms` passes.
 */
export class RawClient {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  error: Error | undefined;
  ended = false;
  isClosed = false;
  #chunks: Buffer[] = [];
  #length = 0;
  #wake: (() => void) | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
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
      socket.once('close', () => {
        this.isClosed = true;
        this.#notify();
        resolve();
      });
    });
  }

  static async connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
    const c = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return c;
  }

  /** Everything received and not yet read. */
  get buffered(): number {
    return this.#length;
  }

  take(): Buffer {
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#length = 0;
    return all;
  }

  async read(n: number, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.#length < n) {
      if (this.isClosed || this.ended) throw new Error(`socket closed with ${this.#length} of ${n} bytes`);
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

  /** Sends `payload` as a frame and returns the echoed payload. */
  async roundTrip(payload: Uint8Array | string, ms = 5000): Promise<Buffer> {
    this.socket.write(frame(payload));
    const head = await this.read(4, ms);
    return this.read(head.readUInt32BE(0), ms);
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

/** Waits until the pool has exactly `baseline` bytes outstanding (the blocks of live connections). */
export async function poolBackTo(pool: BlockPool, baseline: number, what: string, ms = 3000): Promise<void> {
  await until(() => pool.stats().bytesOutstanding === baseline, () => `${what}: pool bytesOutstanding ${pool.stats().bytesOutstanding}, baseline ${baseline}`, ms);
}

/** Resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}
