// A fault-injecting peer for tests: a raw TCP socket that misbehaves on purpose (half a frame then a
// reset, a half-close mid-stream, a stall), aborted TLS handshakes, and an RPC server in a child
// process that can be SIGKILLed with calls in flight. Loopback only; everything it starts stops by
// itself (sockets are destroyed by the tests, the child exits when our stdin pipe closes or after
// its lifetime).
// (Not a test file: it defines no tests.)
import net from 'node:net';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { captureClientHello, within } from '@nocopy/test-kit';

/** A raw TCP peer. It records what it receives; every fault method leaves the socket in a known state. */
export class FaultPeer {
  readonly socket: net.Socket;
  /** Resolves when the socket has closed (by us or by the server). */
  readonly closed: Promise<void>;
  /** The server sent its FIN. */
  ended = false;
  isClosed = false;
  /** The socket error, if any (ECONNRESET when the server resets us). */
  error: Error | undefined;
  readonly #chunks: Buffer[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
    socket.on('end', () => (this.ended = true));
    socket.on('error', (err) => (this.error = err));
    // Not events.once(): that rejects on 'error', and a reset is an expected way to end here.
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      });
    });
  }

  /**
   * Connects to 127.0.0.1:port. After our own end() we still read what the server sends; the
   * server's FIN ends our side too (not half-open), so `closed` means the server is done with us.
   */
  static async connect(port: number): Promise<FaultPeer> {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: false });
    const peer = new FaultPeer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return peer;
  }

  /** Everything received so far. */
  received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Resolves at the write callback (the bytes are in the kernel). */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Writes `bytes` in pieces cut at `cuts` (offsets), waiting `gapMs` between pieces (0: the next
   * macrotask; negative: all pieces in one corked batch). Stops quietly if the server closes us.
   */
  async writePieces(bytes: Uint8Array, cuts: readonly number[], gapMs: number): Promise<void> {
    const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
    points.push(bytes.length);
    const s = this.socket;
    if (gapMs < 0) s.cork();
    let at = 0;
    for (const p of points) {
      if (s.destroyed || !s.writable) break;
      s.write(bytes.subarray(at, p));
      at = p;
      if (gapMs >= 0) await new Promise((r) => (gapMs === 0 ? setImmediate(r) : setTimeout(r, gapMs)));
    }
    if (gapMs < 0 && !s.destroyed) s.uncork();
  }

  /**
   * The end of a fuzzed exchange: writes `bytes` cut at `cuts` (each taken modulo its length), `gapMs`
   * apart, then `end`: 'reset' resets the connection; 'end' sends a FIN and waits (3 s at most) for
   * the server to answer what is complete and close, `what` naming that wait; 'stay' leaves it open.
   * True when the peer stays, for the caller to settle.
   */
  async play(bytes: Uint8Array, cuts: readonly number[], gapMs: number, end: 'reset' | 'end' | 'stay', what: string): Promise<boolean> {
    await this.writePieces(bytes, cuts.map((c) => c % Math.max(1, bytes.length)), gapMs);
    if (end === 'reset') this.reset();
    else if (end === 'end') {
      if (!this.socket.destroyed) this.socket.end();
      await within(this.closed, 3000, what);
    }
    return end === 'stay';
  }

  /** Fault: sends the first half of `frame` (at least 1 byte, never all of it), then resets the connection (RST). */
  async halfFrameThenReset(frame: Uint8Array): Promise<void> {
    const half = Math.max(1, Math.min(frame.length - 1, frame.length >> 1));
    await this.write(frame.subarray(0, half));
    this.socket.resetAndDestroy();
    await this.closed;
  }

  /**
   * Fault: sends `bytes` (complete messages and, typically, the start of one more), then half-closes
   * (FIN). We keep reading: a well-behaved server answers what was complete and then closes.
   */
  async halfCloseMidStream(bytes: Uint8Array): Promise<void> {
    await this.write(bytes);
    this.socket.end();
  }

  /**
   * Fault: stops reading (the kernel buffers fill up and the server's writes back up) but keeps the
   * connection open. Optionally sends `bytes` first (without waiting for them to be taken).
   */
  stall(bytes?: Uint8Array): void {
    this.socket.pause();
    if (bytes !== undefined) this.socket.write(bytes, () => {});
  }

  /**
   * Ends a stall: reads again, so that a close by the server (which a paused socket does not notice)
   * is seen; resolves when the socket has closed (or rejects after `ms`).
   */
  async unstall(ms = 2000): Promise<void> {
    this.socket.resume();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the stalled peer's socket did not close within ${ms} ms of reading again`)), ms);
    });
    try {
      await Promise.race([this.closed, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resets the connection (RST) if it is still open. */
  reset(): void {
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---- TLS handshake faults ----


// A real TLS ClientHello (test-kit).
export { captureClientHello };

export type HandshakeSend = 'nothing' | 'partial-hello';
export type HandshakeEnd = 'close' | 'reset' | 'stall';

/**
 * Fault: a raw TCP connection to a TLS port that sends nothing or the first half of a real
 * ClientHello, then closes (FIN), resets (RST), or stalls (keeps the connection, never finishing the
 * handshake: the server's handshake timeout must drop it). Resolves with the peer once it is closed
 * ('close'/'reset' at once; 'stall' when the server drops it, or rejects after `stallMs`).
 */
export async function abortTlsHandshake(port: number, send: HandshakeSend, end: HandshakeEnd, stallMs = 5000): Promise<FaultPeer> {
  const peer = await FaultPeer.connect(port);
  if (send === 'partial-hello') {
    const hello = await captureClientHello();
    await peer.write(hello.subarray(0, hello.length >> 1));
  }
  if (end === 'close') peer.socket.end();
  else if (end === 'reset') peer.reset();
  else {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        peer.destroy();
        reject(new Error(`the TLS server kept a stalled handshake open for ${stallMs} ms`));
      }, stallMs);
    });
    try {
      await Promise.race([peer.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return peer;
  }
  await peer.closed;
  return peer;
}

/**
 * A plain TCP listener that plays a broken server: for each connection it may read the first bytes,
 * then `close` (FIN), `reset` (RST), or `stall` (never answers, never reads). For client-side faults
 * (a dial that meets a dying TLS server, calls to a server that never answers).
 */
export class FaultServer {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  /** Bytes received per connection, in accept order. */
  readonly received: Buffer[][] = [];
  port = 0;

  private constructor(mode: 'close' | 'reset' | 'stall', afterBytes: number) {
    this.server = net.createServer((s) => {
      this.sockets.add(s);
      const got: Buffer[] = [];
      this.received.push(got);
      s.on('error', () => {});
      s.once('close', () => this.sockets.delete(s));
      if (mode === 'stall') {
        s.pause();
        return;
      }
      let n = 0;
      const act = () => (mode === 'close' ? s.end() : s.resetAndDestroy());
      if (afterBytes === 0) return act();
      s.on('data', (chunk: Buffer) => {
        got.push(chunk);
        n += chunk.length;
        if (n >= afterBytes) act();
      });
    });
  }

  static async listen(mode: 'close' | 'reset' | 'stall', afterBytes = 1): Promise<FaultServer> {
    const f = new FaultServer(mode, afterBytes);
    f.server.listen(0, '127.0.0.1');
    await once(f.server, 'listening');
    f.port = (f.server.address() as net.AddressInfo).port;
    return f;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---- an RPC server in a child process ----

// This file runs from test/dist/faults/; the fixture stays in test/faults/fixtures/ (plain JS).
export const RPC_SERVER_FIXTURE = fileURLToPath(new URL('../../faults/fixtures/rpc-server.mjs', import.meta.url));

export interface ChildServer {
  proc: ChildProcess;
  port: number;
  address: string;
  /** Arguments of the `sleep` calls the child has started (the handler saw them). */
  started: string[];
  /** Arguments of the `sleep` calls the child has answered. */
  answered: string[];
  exited: Promise<unknown>;
  /** SIGKILL (no cleanup, no FIN from the server's code: the kernel closes its sockets). */
  kill(): Promise<unknown>;
}

/**
 * Runs test/faults/fixtures/rpc-server.mjs (it imports '@nocopy/rpc-demo' by package name) and
 * resolves once it prints its port. It serves `echo(x)`, `pid()` and `sleep(ms, x)` (answers x after
 * ms; prints "started x" and "answered x"). It exits when our stdin pipe closes, or after
 * `lifetimeMs`, so nothing outlives the test.
 */
export async function spawnRpcServer(options: { port?: number; framing?: 'framed' | 'stream'; lifetimeMs?: number } = {}): Promise<ChildServer> {
  const args = [RPC_SERVER_FIXTURE, String(options.port ?? 0), options.framing ?? 'framed', String(options.lifetimeMs ?? 30_000)];
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(proc, 'exit');
  const started: string[] = [];
  const answered: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child RPC server did not listen within 10 s')), 10_000);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child RPC server exited (${code ?? signal}) before listening`));
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const sp = line.indexOf(' ');
      const what = line.slice(0, sp);
      const arg = line.slice(sp + 1);
      if (what === 'listening') {
        clearTimeout(timer);
        resolve(Number(arg));
      } else if (what === 'started') started.push(arg);
      else if (what === 'answered') answered.push(arg);
    });
  });
  return {
    proc,
    port,
    address: `127.0.0.1:${port}`,
    started,
    answered,
    exited,
    kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
      proc.kill('SIGKILL');
      return exited;
    },
  };
}
