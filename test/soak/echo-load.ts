// The transport half of the soak: an EventLoop echo server for length-prefixed frames (a 4-byte
// big-endian length, then the payload), driven by dialed connections (onread and link read modes),
// a ConnectionPool, and raw net sockets that write each frame in random pieces. Faults: a client
// closing mid-call, resets of either end, a slow reader (pauses reading while megabytes come back),
// a truncated frame followed by FIN, and a slow-loris peer (trickles a frame that never completes).
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { ConnectionPool, EventLoop, dialConnection, type Connection, type OnRequest } from '@nocopy/transport';
import { Scope, type Ledger, type SoakContext } from './ledger.js';
import { owner } from './registry.js';
import { chance, payloadSize, pick, rand, randomSlice } from './payload.js';
import { RawConnClosedError, connectRaw, onceQuiet, sleep, within } from './util.js';
import { lengthPrefixedEcho } from '../support.js';
import { frame } from '@nocopy/test-kit';

/** The echo server's read timeout: the slow-loris probe must be cut off after about this long. */
const READ_TIMEOUT = 3000;
/** The echo server's write timeout: a peer that stops reading is cut off after about this long. */
const WRITE_TIMEOUT = 5000;
/** How long a client waits for one echoed frame before the soak calls it lost. */
const REPLY_TIMEOUT = 10_000;
/** Codes a raw socket fails with when the soak closes or resets it, or the server resets it. */
const RAW_CODES = ['ERR_CONN_CLOSED', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED'];

/**
 * Every complete frame goes back unchanged. Small payloads are copied once into pooled output;
 * larger ones go back zero-copy (writeBinary references payloads above 4 KiB).
 */
const echoFrames: OnRequest<unknown> = lengthPrefixedEcho;

/** Each body as a length-prefixed frame; referenced above 4 KiB, not copied: a body is never mutated. */
function writeFrames(w: Connection<any>['writer'], bodies: readonly Buffer[]): void {
  for (const b of bodies) {
    w.writeUint32BE(b.length);
    w.writeBinary(b);
  }
}

/** A frame body of `n` bytes: 8 bytes naming its sender and sequence number, then random bytes. */
function body(id: number, seq: number, n = Math.max(8, payloadSize())): Buffer {
  const b = Buffer.allocUnsafe(n);
  b.writeUInt32BE(id, 0);
  b.writeUInt32BE(seq, 4);
  randomSlice(n - 8).copy(b, 8);
  return b;
}


function mismatch(expected: Buffer, got: Buffer | null, gotLen: number): string {
  const e = `${expected.length} bytes from ${expected.readUInt32BE(0)}#${expected.readUInt32BE(4)}`;
  if (got === null) return `expected ${e}, got a frame of ${gotLen} bytes`;
  const who = got.length >= 8 ? `${got.readUInt32BE(0)}#${got.readUInt32BE(4)}` : '?';
  return `expected ${e}, got ${got.length} bytes from ${who}`;
}

/** A raw net client of the echo server: frames out in random pieces, replies parsed and compared in order. */
class RawEcho {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  isClosed = false;
  #chunks: Buffer[] = [];
  #length = 0;
  #pending: { expect: Buffer; resolve: (r: string | null) => void; reject: (e: unknown) => void }[] = [];
  #error: Error | null = null;
  #writing: Promise<void> = Promise.resolve();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.#onData(c));
    socket.on('error', (e) => (this.#error ??= e));
    this.closed = onceQuiet(socket, 'close').then(() => {
      this.isClosed = true;
      const err = this.#error ?? new RawConnClosedError();
      for (const p of this.#pending.splice(0)) p.reject(err);
    });
  }

  static async connect(port: number, scope: Scope): Promise<RawEcho> {
    const socket = net.connect({ host: '127.0.0.1', port });
    const raw = new RawEcho(socket);
    scope.sockets.add(socket);
    void raw.closed.then(() => scope.sockets.delete(socket));
    try {
      await within(Promise.race([once(socket, 'connect'), raw.closed.then(() => Promise.reject(raw.#error ?? new RawConnClosedError()))]), 5000, 'connect');
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return raw;
  }

  /** Resolves with null when the echo equals `b`, else with a description of the difference. */
  send(b: Buffer): Promise<string | null> {
    if (this.isClosed) return Promise.reject(this.#error ?? new RawConnClosedError());
    const reply = new Promise<string | null>((resolve, reject) => this.#pending.push({ expect: b, resolve, reject }));
    // Frames go out one after another: the pieces of two frames must not interleave.
    const f = frame(b);
    this.#writing = this.#writing.then(() => this.#write(f));
    return reply;
  }

  /** One frame in 1 to 3 pieces, with a turn of the event loop between them. */
  async #write(f: Buffer): Promise<void> {
    const pieces = rand(3);
    let off = 0;
    for (let i = 0; i < pieces && off < f.length; i++) {
      const end = off + rand(f.length - off);
      this.socket.write(f.subarray(off, end));
      off = end;
      await new Promise((r) => setImmediate(r));
      if (this.socket.destroyed) return;
    }
    this.socket.write(f.subarray(off));
  }

  #onData(c: Buffer): void {
    this.#chunks.push(c);
    this.#length += c.length;
    for (;;) {
      if (this.#length < 4) return;
      if (this.#chunks[0]!.length < 4) this.#chunks = [Buffer.concat(this.#chunks, this.#length)];
      const n = this.#chunks[0]!.readUInt32BE(0);
      if (this.#length < 4 + n) return;
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
      const got = all.subarray(4, 4 + n);
      const rest = all.subarray(4 + n);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#length = rest.length;
      const p = this.#pending.shift();
      if (p === undefined) {
        this.#error ??= Object.assign(new Error('an echo frame arrived that nobody sent'), { code: 'ERR_SOAK_UNSOLICITED' });
        this.socket.destroy();
        return;
      }
      p.resolve(got.equals(p.expect) ? null : mismatch(p.expect, got, n));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  async end(): Promise<void> {
    this.socket.end();
    await within(this.closed, 5000, 'the close of a raw echo socket').catch(() => this.socket.destroy());
    await this.closed;
  }
}

export class EchoLoad {
  readonly #ctx: SoakContext;
  loop: EventLoop<unknown> | null = null;
  port = 0;
  readonly dialedScopes: Scope[] = [];
  readonly rawScopes: Scope[] = [];
  readonly pooledScope = new Scope('echo-pooled');
  readonly #pools: ConnectionPool[] = [];
  readonly #workers: Promise<void>[] = [];
  #nextId = 1;

  constructor(ctx: SoakContext) {
    this.#ctx = ctx;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const { ledger } = this.#ctx;
    this.loop = new EventLoop(echoFrames, {
      readTimeout: READ_TIMEOUT,
      writeTimeout: WRITE_TIMEOUT,
      idleTimeout: 30_000,
      maxInboundBytes: 4 * 1024 * 1024,
      onError: (err) => ledger.serverError(err),
    });
    this.port = ((await this.loop.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo).port;
    for (const mode of ['onread', 'onread', 'link', 'link'] as const) {
      const scope = new Scope(`echo-dialed-${mode}-${this.dialedScopes.length}`);
      this.dialedScopes.push(scope);
      this.#workers.push(owner.run(scope, () => this.#dialedWorker(scope, mode)));
    }
    // The 'link' pool allows one connection at a time: its two workers take turns (get() waits, put() hands over).
    for (const mode of ['onread', 'link'] as const) {
      const pool = new ConnectionPool({
        dial: { timeout: 5000, readTimeout: REPLY_TIMEOUT, readMode: mode },
        maxIdlePerAddress: 2,
        idleTimeout: 400,
        maxActivePerAddress: mode === 'link' ? 1 : Infinity,
      });
      this.#pools.push(pool);
      for (let i = 0; i < 2; i++) this.#workers.push(owner.run(this.pooledScope, () => this.#pooledWorker(pool)));
    }
    for (let i = 0; i < 2; i++) {
      const scope = new Scope(`echo-raw-${i}`);
      this.rawScopes.push(scope);
      this.#workers.push(owner.run(scope, () => this.#rawWorker(scope)));
    }
  }

  /** Sends `bodies` on `conn` in one flush, then reads and compares each echo. Counts every frame. */
  async #roundTrip(conn: Connection<any>, bodies: Buffer[], what: string, scopes: Scope[], start: number): Promise<void> {
    const { ledger } = this.#ctx;
    let i = 0;
    try {
      const w = conn.writer;
      writeFrames(w, bodies);
      await w.flush();
      const r = conn.reader;
      for (; i < bodies.length; i++) {
        const b = bodies[i]!;
        await r.waitFor(4);
        const n = r.readUint32BE();
        if (n !== b.length) {
          ledger.done(what, false, () => mismatch(b, null, n));
          throw Object.assign(new Error('framing lost after a length mismatch'), { code: 'ERR_SOAK_DESYNC' });
        }
        await r.waitFor(n);
        const got = r.next(n); // a view, valid until release()
        const ok = got.equals(b);
        ledger.done(what, ok, () => mismatch(b, got, n));
        r.release();
      }
    } catch (err) {
      // This frame and the ones after it got no echo.
      for (; i < bodies.length; i++) ledger.failed(what, err, start, scopes);
      throw err;
    }
  }

  async #dialedWorker(scope: Scope, mode: 'onread' | 'link'): Promise<void> {
    const { ledger } = this.#ctx;
    const id = this.#nextId++;
    let seq = 0;
    let conn: Connection<any> | null = null;
    let rounds = 0;
    await sleep(rand(20));
    while (this.#ctx.running()) {
      const k = 1 + rand(4);
      const start = Date.now();
      try {
        if (conn === null || !conn.isActive()) {
          conn?.close();
          conn = null;
          conn = await dialConnection('tcp', this.address, { readMode: mode, timeout: 5000, readTimeout: REPLY_TIMEOUT });
        }
        const bodies = Array.from({ length: k }, () => body(id, seq++));
        ledger.started += k;
        await this.#roundTrip(conn, bodies, `echo dialed ${mode}`, [scope], start);
        // Connection churn: a clean close now and then.
        if (++rounds % 50 === 0) {
          await within(conn[Symbol.asyncDispose](), 5000, 'a dialed connection to close').catch((err: Error) => ledger.problem(err.message));
          conn = null;
        }
      } catch (err) {
        if (conn === null) {
          // The dial itself failed: counted as a failed call.
          ledger.started++;
          ledger.failed(`echo dial ${mode}`, err, start, [scope]);
        }
        conn?.close();
        conn = null;
        await sleep(10);
      }
    }
    if (conn !== null) await within(conn[Symbol.asyncDispose](), 5000, 'a dialed connection to close').catch((err: Error) => ledger.problem(err.message));
  }

  async #pooledWorker(pool: ConnectionPool): Promise<void> {
    const { ledger } = this.#ctx;
    const id = this.#nextId++;
    let seq = 0;
    const scope = this.pooledScope;
    await sleep(rand(20));
    while (this.#ctx.running()) {
      const start = Date.now();
      let conn: Connection<any> | null = null;
      try {
        conn = await pool.get(this.address, { timeout: 5000 });
        const bodies = Array.from({ length: 1 + rand(2) }, () => body(id, seq++));
        ledger.started += bodies.length;
        await this.#roundTrip(conn, bodies, 'echo pooled', [scope], start);
        pool.put(conn);
      } catch (err) {
        if (conn === null) {
          // get() itself failed: counted as a failed call.
          ledger.started++;
          ledger.failed('echo pool get', err, start, [scope]);
        } else {
          pool.discard(conn);
        }
        await sleep(10);
      }
      // Now and then idle long enough for the pool's sweep to close idle connections.
      if (chance(0.02)) await sleep(450 + rand(300));
    }
  }

  async #rawWorker(scope: Scope): Promise<void> {
    const { ledger } = this.#ctx;
    const id = this.#nextId++;
    let seq = 0;
    let raw: RawEcho | null = null;
    let rounds = 0;
    await sleep(rand(20));
    while (this.#ctx.running()) {
      const start = Date.now();
      const bodies = Array.from({ length: 1 + rand(3) }, () => body(id, seq++));
      ledger.started += bodies.length;
      let i = 0;
      try {
        if (raw === null || raw.isClosed) raw = await RawEcho.connect(this.port, scope);
        const replies = bodies.map((b) => raw!.send(b));
        // Every reply promise gets a handler now: one failing must not leave the others unhandled.
        for (const p of replies) p.catch(() => {});
        for (; i < bodies.length; i++) {
          const diff = await within(replies[i]!, REPLY_TIMEOUT, 'echo');
          ledger.done('echo raw', diff === null, () => diff!);
        }
        if (++rounds % 40 === 0) {
          await raw.end();
          raw = null;
        }
      } catch (err) {
        for (; i < bodies.length; i++) ledger.failed('echo raw', err, start, [scope], []);
        raw?.destroy();
        if (raw !== null) await raw.closed;
        raw = null;
        await sleep(10);
      }
    }
    if (raw !== null) await raw.end();
  }

  // ---- faults ----

  #victim(): { scope: Scope; conn: Connection<any> | null; socket: net.Socket | null } | null {
    const candidates: { scope: Scope; conn: Connection<any> | null; socket: net.Socket | null }[] = [];
    for (const s of [...this.dialedScopes, this.pooledScope]) {
      for (const c of s.conns) if (c.isActive()) candidates.push({ scope: s, conn: c, socket: null });
    }
    for (const s of this.rawScopes) {
      for (const socket of s.sockets) if (!socket.destroyed && socket.remotePort !== undefined) candidates.push({ scope: s, conn: null, socket });
    }
    return candidates.length === 0 ? null : pick(candidates);
  }

  /** A client closes its connection (or destroys its socket) mid-call. */
  async clientClose(): Promise<boolean> {
    const v = this.#victim();
    if (v === null) return false;
    if (v.conn !== null) {
      v.scope.allow(['ERR_CONN_CLOSED'], 500);
      v.conn.close();
    } else {
      v.scope.allow(RAW_CODES, 500);
      v.socket!.destroy();
    }
    return true;
  }

  /** resetAndDestroy() on the client's socket. */
  async resetClientSide(): Promise<boolean> {
    const v = this.#victim();
    if (v === null) return false;
    v.scope.allow(v.conn !== null ? ['ERR_CONN_CLOSED'] : RAW_CODES, 500);
    (v.conn?.socket ?? v.socket!).resetAndDestroy();
    return true;
  }

  /** resetAndDestroy() on the server's socket of a client's connection. */
  async resetServerSide(): Promise<boolean> {
    const v = this.#victim();
    if (v === null) return false;
    const s = v.conn?.socket ?? v.socket!;
    const peer = this.#ctx.registry.peerOf(s.localPort, s.remotePort);
    if (peer === null || !peer.isActive()) return false;
    v.scope.allow(v.conn !== null ? ['ERR_CONN_CLOSED'] : RAW_CODES, 500);
    peer.socket.resetAndDestroy();
    return true;
  }

  /** What one scenario starts with: its own fault scope, a connection id, and its start time. */
  #begin(scopeName: string): { ledger: Ledger; scope: Scope; id: number; start: number } {
    return { ledger: this.#ctx.ledger, scope: new Scope(scopeName), id: this.#nextId++, start: Date.now() };
  }

  /**
   * A reader that stops reading for a while (0.2 to 2 s) after sending 1 to 4 MiB of frames, then
   * reads everything: the server waits under backpressure (input paused, flush waiting) and must
   * deliver every byte. No fault window: any failure here is unexpected.
   */
  async slowReader(): Promise<boolean> {
    const { ledger, scope, id, start } = this.#begin('echo-slow-reader');
    let raw: RawEcho;
    try {
      raw = await RawEcho.connect(this.port, scope);
    } catch (err) {
      ledger.started++;
      ledger.failed('echo slow-reader connect', err, start, [scope]);
      return true;
    }
    raw.socket.pause();
    const bodies: Buffer[] = [];
    const total = (1 + rand(4)) * 1024 * 1024;
    for (let sent = 0, seq = 0; sent < total; seq++) {
      const b = body(id, seq, 256 * 1024 + rand(768 * 1024));
      bodies.push(b);
      sent += b.length;
    }
    ledger.started += bodies.length;
    const replies = bodies.map((b) => raw.send(b));
    for (const p of replies) p.catch(() => {});
    await sleep(200 + rand(1800));
    raw.socket.resume();
    let i = 0;
    try {
      for (; i < bodies.length; i++) {
        const diff = await within(replies[i]!, 20_000, 'echo to a slow reader');
        ledger.done('echo slow-reader', diff === null, () => diff!);
      }
      await raw.end();
    } catch (err) {
      for (; i < bodies.length; i++) ledger.failed('echo slow-reader', err, start, [scope]);
      raw.destroy();
      await raw.closed;
    }
    return true;
  }

  /**
   * Half-close: a dialed connection sends frames, then closeWrite() (FIN). The server must echo every
   * frame, then close; the client reads every echo, then sees the connection closed.
   */
  async halfClose(): Promise<boolean> {
    const { ledger, scope, id, start } = this.#begin('echo-half-close');
    const bodies = Array.from({ length: 1 + rand(5) }, (_, i) => body(id, i));
    ledger.started += bodies.length;
    let conn: Connection<any>;
    try {
      conn = await owner.run(scope, () => dialConnection('tcp', this.address, { timeout: 5000, readTimeout: REPLY_TIMEOUT, readMode: chance(0.5) ? 'onread' : 'link' }));
    } catch (err) {
      for (let i = 0; i < bodies.length; i++) ledger.failed('echo half-close', err, start, [scope]);
      return true;
    }
    let i = 0;
    try {
      const w = conn.writer;
      writeFrames(w, bodies);
      await conn.closeWrite();
      const r = conn.reader;
      for (; i < bodies.length; i++) {
        const b = bodies[i]!;
        await r.waitFor(4);
        const n = r.readUint32BE();
        await r.waitFor(n);
        const got = r.next(n);
        ledger.done('echo half-close', n === b.length && got.equals(b), () => mismatch(b, got, n));
        r.release();
      }
      // Then the server's FIN: a further wait fails with ERR_CONN_CLOSED, and no byte is left over.
      const extra = await r.waitFor(1, { timeout: 5000 }).then(
        () => `${r.length} unexpected bytes after the last echo`,
        (err: unknown) => ((err as { code?: string }).code === 'ERR_CONN_CLOSED' ? null : `the connection was not closed after the last echo: ${(err as Error).message}`),
      );
      if (extra !== null) ledger.problem(`half-close: ${extra}`);
    } catch (err) {
      for (; i < bodies.length; i++) ledger.failed('echo half-close', err, start, [scope]);
    }
    await within(conn[Symbol.asyncDispose](), 5000, 'a half-closed connection to close').catch((err: Error) => ledger.problem(err.message));
    return true;
  }

  /** A raw connection for one hostile-peer scenario (`what`); null, with the reason recorded, when it cannot connect. */
  #probe(what: string): ReturnType<typeof connectRaw> {
    return connectRaw(this.port, (err) => this.#ctx.ledger.problem(`${what} probe: ${err.message}`));
  }

  /**
   * Waits (at most `ms`) for the server to close the probe's connection. When it does not, records
   * that (`what` names the wait), destroys the socket and says false.
   */
  async #serverCloses(probe: { socket: net.Socket; closed: Promise<void> }, ms: number, what: string): Promise<boolean> {
    try {
      await within(probe.closed, ms, what);
      return true;
    } catch (err) {
      this.#ctx.ledger.problem((err as Error).message);
      probe.socket.destroy();
      await probe.closed;
      return false;
    }
  }

  /**
   * A peer that sends frames and never reads: once the server's output backs up, its flush waits
   * until the write timeout, then the server closes the connection (and frees what it held).
   */
  async stalledReader(): Promise<boolean> {
    const probe = await this.#probe('stalled-reader');
    if (probe === null) return false;
    const { socket, closed } = probe;
    socket.pause();
    // The server's side of this connection (a paused client may not notice the close by itself).
    let peer: Connection<any> | null = null;
    for (let i = 0; i < 100 && peer === null; i++) {
      peer = this.#ctx.registry.peerOf(socket.localPort, socket.remotePort);
      if (peer === null) await sleep(10);
    }
    if (peer === null) {
      this.#ctx.ledger.problem('stalled-reader probe: the server-side connection was not found');
      socket.destroy();
      await closed;
      return false;
    }
    const gone = new Promise<void>((resolve) => peer!.addCloseCallback(() => resolve()));
    // 1 MiB frames until the server's output backs up past what the kernel buffers hold (the server's
    // socket then queues more than maxOutboundBytes and its flush() waits), at most 32 MiB.
    // Output queued up to maxOutboundBytes with no flush waiting is not under the write timeout (the
    // idle timeout covers it): keep sending until frames arrive while the queue is full, so that a
    // flush() waits.
    const f = frame(randomSlice(1024 * 1024 - 4));
    let sent = 0;
    let sentWhileFull = 0;
    while (sent < 32 && sentWhileFull < 2 && !peer.closed) {
      if (socket.writableLength < 2 * f.length) {
        if (peer.socket.writableLength >= 1024 * 1024) sentWhileFull++;
        socket.write(f);
        sent++;
      }
      await sleep(5);
    }
    const began = Date.now();
    try {
      await within(gone, WRITE_TIMEOUT + 10_000, 'the server to close a connection whose peer never reads');
      const took = Date.now() - began;
      const code = (peer.error as { code?: string } | undefined)?.code;
      if (took < WRITE_TIMEOUT - 1000) this.#ctx.ledger.problem(`a peer that does not read was cut off after ${took} ms, before the write timeout of ${WRITE_TIMEOUT} ms`);
      if (code !== 'ERR_WRITE_TIMEOUT') this.#ctx.ledger.problem(`a peer that does not read was cut off with ${code ?? 'no error'}, not ERR_WRITE_TIMEOUT`);
    } catch (err) {
      this.#ctx.ledger.problem(`${(err as Error).message} (${sent} MiB sent, server socket queue ${peer.socket.writableLength} bytes)`);
    }
    socket.destroy();
    await closed;
    return true;
  }

  /** Half a frame, then FIN: the server must close the connection once it handled the input. */
  async truncated(): Promise<boolean> {
    const probe = await this.#probe('truncated-frame');
    if (probe === null) return false;
    const { socket } = probe;
    const n = 1000 + rand(100_000);
    const partial = Buffer.allocUnsafe(4 + rand(n));
    partial.writeUInt32BE(n, 0);
    socket.end(partial);
    socket.resume();
    await this.#serverCloses(probe, 5000, 'the server to close a connection whose peer sent half a frame and FIN');
    return true;
  }

  /**
   * Slow-loris: a frame header and then one byte every 300 ms, never completing. The server must
   * close the connection about READ_TIMEOUT after the partial frame began (not much sooner, nor
   * much later, since each trickled byte counts as traffic for the idle timeout).
   */
  async slowLoris(): Promise<boolean> {
    const probe = await this.#probe('slow-loris');
    if (probe === null) return false;
    const { socket } = probe;
    const header = Buffer.alloc(5);
    header.writeUInt32BE(64 * 1024, 0);
    socket.write(header);
    socket.resume();
    const began = Date.now();
    const trickle = setInterval(() => {
      if (!socket.destroyed && socket.writable) socket.write(Buffer.from([0x55]));
    }, 300);
    const cut = await this.#serverCloses(probe, READ_TIMEOUT + 5000, 'the server to cut off a slow-loris peer');
    clearInterval(trickle);
    const took = Date.now() - began;
    if (cut && took < READ_TIMEOUT - 500) this.#ctx.ledger.problem(`slow-loris peer cut off after ${took} ms, before the read timeout of ${READ_TIMEOUT} ms`);
    return true;
  }

  // ---- end ----

  async stop(): Promise<void> {
    const { ledger } = this.#ctx;
    await within(Promise.all(this.#workers), 30_000, 'the echo workers to finish').catch((err: Error) => ledger.problem(err.message));
    for (const pool of this.#pools) {
      const st = pool.stats();
      if (st.active !== 0 || st.waiting !== 0) ledger.problem(`echo pool: ${st.active} connections still in use and ${st.waiting} get() calls waiting after the workers finished`);
      await within(pool.close(), 10_000, 'the echo pool to close').catch((err: Error) => ledger.problem(err.message));
    }
    const loop = this.loop;
    if (loop !== null) {
      await within(loop.shutdown({ timeout: 5000 }), 15_000, 'the echo server shutdown').catch((err: Error) => ledger.problem(err.message));
      const st = loop.stats();
      if (st.connections !== 0) ledger.problem(`echo server: ${st.connections} connections left after shutdown`);
      this.loop = null;
    }
  }
}
