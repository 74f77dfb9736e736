// Shared fixtures for the proxy tests: real sockets on 127.0.0.1 port 0, plain `net` upstreams and
// clients, a private BlockPool per proxy so that leaks show up in its stats. (Not a test file.)
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { BlockPool } from '@nocopy/linkbuffer';
import { createProxy, type TcpProxy, type ProxyOptions, type ProxyErrorInfo } from '../src/index.js';

// The raw client, the seeded PRNG and the dead port are test-kit's, as in every other test project.
export { RawClient, deadPort, rng, sleep, within, until } from '@nocopy/test-kit';
import { RawClient, rng, until, within } from '@nocopy/test-kit';

/** `n` pseudo-random bytes for `seed`. */
export function pattern(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  const r = rng(seed);
  let i = 0;
  for (; i + 4 <= n; i += 4) out.writeUInt32LE((r() * 4294967296) >>> 0, i);
  for (; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

// A period that is no power of two, so that a reordered or dropped chunk cannot line up again.
const PERIOD = 1_000_003;
const PERIODIC = pattern(PERIOD, 7);

/** Byte `i` of the endless test stream is PERIODIC[i % PERIOD]. Returns bytes [from, from + n). */
export function streamBytes(from: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  while (at < n) {
    const off = (from + at) % PERIOD;
    const k = Math.min(PERIOD - off, n - at);
    PERIODIC.copy(out, at, off, off + k);
    at += k;
  }
  return out;
}

/** Checks received chunks against the endless test stream, without keeping them. */
export class StreamVerifier {
  /** Bytes that matched the stream (counting stops at the first difference). */
  bytes = 0;
  /** Every byte received, matching or not. */
  received = 0;
  mismatchAt = -1;
  feed(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.mismatchAt >= 0) return;
    let at = 0;
    while (at < chunk.length) {
      const off = (this.bytes + at) % PERIOD;
      const k = Math.min(PERIOD - off, chunk.length - at);
      if (PERIODIC.compare(chunk, at, at + k, off, off + k) !== 0) {
        this.mismatchAt = this.bytes + at;
        return;
      }
      at += k;
    }
    this.bytes += chunk.length;
  }

  /**
   * Empty when exactly `expected` bytes of the stream arrived, else what went wrong: where the first
   * difference is and how many bytes arrived (bytes missing at the end read "received N of M, no
   * difference before"), which tells a loss after a FIN from a reused buffer or a reordering.
   */
  check(expected: number, what: string): string {
    if (this.mismatchAt < 0 && this.received === expected) return '';
    const at = this.mismatchAt >= 0 ? `first difference at byte ${this.mismatchAt}` : `no difference in the ${this.bytes} bytes received`;
    return `${what}: received ${this.received} of ${expected} bytes, ${at}`;
  }
}

/** Writes `total` bytes of the test stream to `socket` in chunks, honouring its backpressure. */
export async function pump(socket: net.Socket, total: number, chunk = 256 * 1024, progress?: { sent: number; waiting: boolean }): Promise<void> {
  let sent = 0;
  while (sent < total) {
    if (socket.destroyed) throw new Error(`socket destroyed after ${sent} of ${total} bytes`);
    const k = Math.min(chunk, total - sent);
    const ok = socket.write(streamBytes(sent, k));
    sent += k;
    if (progress) progress.sent = sent;
    if (!ok) {
      if (progress) progress.waiting = true;
      await drainOrClose(socket);
      if (progress) progress.waiting = false;
    }
  }
}

/** Resolves at the socket's next 'drain' or 'close', leaving no listener behind. */
export function drainOrClose(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** A plain `net` server on 127.0.0.1:0 that counts its open sockets. */
export class Upstream {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  accepted = 0;
  port = 0;
  constructor(onSocket: (s: net.Socket) => void, options: net.ServerOpts = { allowHalfOpen: true }) {
    this.server = net.createServer(options, (s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
      onSocket(s);
    });
  }
  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Echoes every byte, and answers the client's FIN with its own once everything is echoed. */
export function echoUpstream(): Promise<Upstream> {
  return new Upstream((s) => {
    s.pipe(s);
  }).listen();
}

export interface ProxyFixture {
  proxy: TcpProxy;
  pool: BlockPool;
  port: number;
  errors: { error: unknown; info: ProxyErrorInfo }[];
}

/** A proxy on 127.0.0.1:0 with a private pool and errors collected instead of logged. */
export async function startProxy(upstream: string, options: Partial<ProxyOptions> = {}): Promise<ProxyFixture> {
  const pool = new BlockPool();
  const errors: ProxyFixture['errors'] = [];
  const proxy = await createProxy({ pool, onError: (error, info) => errors.push({ error, info }), ...options, upstream });
  const addr = proxy.address() as AddressInfo;
  return { proxy, pool, port: addr.port, errors };
}

/**
 * Waits until the proxy holds no connection and every block is back in its pool. `poolUsed: false`
 * for a test in which no byte reaches the proxy: a connection that never reads takes no block (reads
 * of idle connections land in a region shared by all, see transport's onread.ts).
 */
export async function assertDrained(f: ProxyFixture, what = 'proxy', options: { poolUsed?: boolean } = {}): Promise<void> {
  await until(() => {
    const s = f.proxy.stats();
    return s.clients === 0 && s.upstreams === 0 && s.dialing === 0;
  }, `${what}: every connection closed (${JSON.stringify(f.proxy.stats())})`);
  const s = f.pool.stats();
  if (options.poolUsed !== false) assert.ok(s.hits + s.misses > 0, `${what}: pool never used`);
  assert.equal(s.blocksOutstanding, 0, `${what}: blocksOutstanding`);
  assert.equal(s.bytesOutstanding, 0, `${what}: bytesOutstanding`);
}

/** An upstream and a proxy in front of it, closed together (proxy first) by `await using`. */
export interface ProxyRig extends ProxyFixture {
  up: Upstream;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts an upstream (`onSocket` per accepted socket; `'echo'` pipes every byte back) and a proxy to it.
 * The shape of nearly every proxy test, so that each one states only what differs.
 */
export async function proxyRig(
  onSocket: ((s: net.Socket) => void) | 'echo',
  options: Partial<ProxyOptions> = {},
  upstreamOptions?: net.ServerOpts,
): Promise<ProxyRig> {
  const up = onSocket === 'echo' ? await echoUpstream() : await new Upstream(onSocket, upstreamOptions).listen();
  const f = await startProxy(up.address, options);
  return {
    ...f,
    up,
    async [Symbol.asyncDispose]() {
      await f.proxy.shutdown();
      await up.close();
    },
  };
}

/** A client dialled with every received byte checked against the test stream (not kept). */
export function verifiedClient(port: number): { client: RawClient; v: StreamVerifier } {
  const v = new StreamVerifier();
  const client = RawClient.dial(port, { allowHalfOpen: true, keep: false });
  client.socket.on('data', (c: Buffer) => v.feed(c));
  return { client, v };
}

/** The end of a clean exchange: the client socket closes, the proxy drains, no error was reported. */
export async function assertCleanEnd(f: ProxyFixture, client: RawClient, what = 'client close'): Promise<void> {
  await within(client.closed, 10_000, what);
  await assertDrained(f);
  assert.deepEqual(f.errors, []);
}
