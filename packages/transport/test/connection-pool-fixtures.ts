// Fixtures for the ConnectionPool tests: real sockets on 127.0.0.1 port 0, never mocks.
// (Not a test file: it defines no tests.)
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { ConnectionPool, type Connection, type ConnectionPoolOptions, type ConnectionPoolStats, type OnRequest } from '../src/index.js';
import { serve, until, type Served } from './helpers.js';
import assert from 'node:assert/strict';

/** Raw echo for an EventLoop: whatever arrives goes straight back (zero-copy: slice + append). */
export const echoRaw: OnRequest<any> = (_ctx, conn) => {
  const n = conn.reader.length;
  if (n === 0) return;
  conn.writer.append(conn.reader.slice(n));
  return conn.writer.flush();
};

/** An EventLoop raw echo server on 127.0.0.1:0, with its "host:port" address. */
export async function loopEcho(): Promise<Served<unknown> & { address: string }> {
  const s = await serve(echoRaw);
  return { ...s, address: `127.0.0.1:${s.port}` };
}

/**
 * A plain `net` echo server whose sockets the test controls, to close or reset them behind the
 * pool's back. `accepted` holds the server side of every connection, in accept order.
 */
export class NetEcho {
  readonly server: net.Server;
  readonly accepted: net.Socket[] = [];
  port = 0;

  private constructor(echo: boolean) {
    this.server = net.createServer({ allowHalfOpen: false }, (s) => {
      s.on('error', () => {}); // resets are the point of some tests
      s.setNoDelay(true);
      if (echo) s.on('data', (d) => s.write(d));
      else s.resume();
      this.accepted.push(s);
    });
  }

  /** `echo: false`: a server that accepts and never says a word (a TLS handshake to it never completes). */
  static async listen(options: { echo?: boolean; port?: number } = {}): Promise<NetEcho> {
    const e = new NetEcho(options.echo ?? true);
    e.server.listen(options.port ?? 0, '127.0.0.1');
    await once(e.server, 'listening');
    e.port = (e.server.address() as AddressInfo).port;
    return e;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The server side of a client connection (waits for the accept, which may trail the client's connect). */
  async peerOf(conn: Connection<any>): Promise<net.Socket> {
    let found: net.Socket | undefined;
    await until(() => (found = this.accepted.find((s) => s.remotePort === conn.localPort)) !== undefined, 'the server to accept the connection');
    return found!;
  }

  /** Server sides not yet closed. */
  open(): net.Socket[] {
    return this.accepted.filter((s) => !s.destroyed);
  }

  close(): Promise<void> {
    for (const s of this.accepted) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A port nothing listens on (a dial to it is refused). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Writes `msg`, waits for its echo and returns it: proof that the connection is alive. */
export async function roundTrip(conn: Connection<any>, msg: string, ms = 2000): Promise<string> {
  const n = Buffer.byteLength(msg);
  conn.writer.writeString(msg);
  await conn.writer.flush();
  await conn.reader.waitFor(n, { timeout: ms });
  const s = conn.reader.readString(n);
  conn.reader.release();
  return s;
}

/** All six counters at once, so that every step checks the whole picture. */
export function assertStats(pool: ConnectionPool<any>, expected: ConnectionPoolStats, what?: string): void {
  assert.deepEqual(pool.stats(), expected, what);
}

/** Resolves once the connection is fully closed (every close callback ran). */
export function closedOf(conn: Connection<any>): Promise<void> {
  return new Promise((resolve) => conn.addCloseCallback(() => resolve()));
}

/** The error's `code`, for assert.rejects predicates. */
export function hasCode(code: string, cls?: abstract new (...args: any[]) => Error): (err: unknown) => boolean {
  return (err: unknown) => {
    if (cls !== undefined) assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code, String(err));
    return true;
  };
}

/** A NetEcho server and a pool with `options`, both closed when the test ends. */
export async function netPool(t: TestContext, options?: ConnectionPoolOptions<any>): Promise<{ srv: NetEcho; pool: ConnectionPool<any> }> {
  const srv = await NetEcho.listen();
  const pool = new ConnectionPool<any>(options);
  t.after(async () => {
    await pool.close();
    await srv.close();
  });
  return { srv, pool };
}

/** A loopEcho server and a pool with `options`, both closed when the test ends. */
export async function loopPool(t: TestContext, options?: ConnectionPoolOptions<any>): Promise<{ srv: Awaited<ReturnType<typeof loopEcho>>; pool: ConnectionPool<any> }> {
  const srv = await loopEcho();
  const pool = new ConnectionPool<any>(options);
  t.after(async () => {
    await pool.close();
    await srv.loop.shutdown({ timeout: 100 });
  });
  return { srv, pool };
}
