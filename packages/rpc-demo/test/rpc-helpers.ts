// Shared fixtures for the RPC tests: real sockets on 127.0.0.1 port 0, never mocks.
// (Not a test file: it defines no tests.)
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { encode, decodeMultiStream, decode } from '@msgpack/msgpack';
import { createServer, type RpcServer, type ServerOptions } from '../src/rpc/server.js';
import { createClient, type ClientOptions, type RpcClient } from '../src/rpc/client.js';
import type { Framing } from '../src/rpc/protocol.js';

export { sleep, within, until, deferred, type Deferred } from '@nocopy/test-kit';
import { deferred, within } from '@nocopy/test-kit';

export const FRAMINGS: readonly Framing[] = ['framed', 'stream'];

/** The compiled demo handlers module (dist/src/demo/fib.js), for `workers.filename`. */
export const HANDLERS_FILE = fileURLToPath(new URL('../src/demo/fib.js', import.meta.url));





import { frame as lengthPrefixed } from '@nocopy/test-kit';
// outcome(): the settled outcome of a promise, without an unhandled rejection in between.
export { outcome, type Outcome } from '@nocopy/test-kit';

/** Collects unhandled rejections while installed (call the returned stop()). */
export function trackUnhandled(): { list: unknown[]; stop: () => void } {
  const list: unknown[] = [];
  const on = (reason: unknown) => list.push(reason);
  process.on('unhandledRejection', on);
  return { list, stop: () => process.off('unhandledRejection', on) };
}

/**
 * A gate for slow handlers: `wait()` is what the handler awaits; `started` counts the handlers
 * waiting; `open()` lets them all (and later ones) through.
 */
export class Gate {
  started = 0;
  #d = deferred<void>();
  #isOpen = false;
  wait(): Promise<void> {
    this.started++;
    return this.#d.promise;
  }
  open(): void {
    this.#isOpen = true;
    this.#d.resolve();
  }
  get isOpen(): boolean {
    return this.#isOpen;
  }
}

export interface Served {
  server: RpcServer;
  port: number;
  address: string;
  /** Errors the server reported to onError (malformed input, notification failures, transport). */
  errors: unknown[];
}

/** An RpcServer on 127.0.0.1:0. `setup` registers methods. Errors go to `errors` instead of warnings. */
export async function startServer(options: ServerOptions = {}, setup?: (s: RpcServer) => void): Promise<Served> {
  const errors: unknown[] = [];
  const server = createServer({ onError: (e) => errors.push(e), ...options });
  setup?.(server);
  const a = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  return { server, port: a.port, address: `127.0.0.1:${a.port}`, errors };
}

export function client(address: string, options: Omit<ClientOptions, 'address'> = {}): RpcClient {
  return createClient({ address, timeout: 5000, ...options });
}

/** echo, add, asyncAdd, and `notes` that records notifications. */
export function registerBasics(s: RpcServer, notes: unknown[][] = []): void {
  s.register('echo', (x: unknown) => x);
  s.register('add', (a: number, b: number) => a + b);
  s.register('asyncAdd', async (a: number, b: number) => {
    await sleep(0);
    return a + b;
  });
  s.register('note', (...p: unknown[]) => {
    notes.push(p);
  });
}

// ---- raw MessagePack-RPC peers (independent codec: @msgpack/msgpack) ----

/** One message on the wire in `framing`. */
export function rawFrame(framing: Framing, msg: unknown): Buffer {
  const body = encode(msg);
  if (framing === 'stream') return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return lengthPrefixed(body);
}

/** `body` behind a 4-byte big-endian length (test-kit's frame()). */
export { lengthPrefixed };

/**
 * A raw `net` client speaking MessagePack-RPC with @msgpack/msgpack. Decoded messages queue up for
 * next(); `closed` resolves when the server closes the socket.
 */
export class RawPeer {
  readonly socket: net.Socket;
  readonly framing: Framing;
  readonly closed: Promise<void>;
  readonly received: unknown[] = [];
  decodeError: unknown = null;
  #taken = 0;
  #isClosed = false;
  #waiter: (() => void) | null = null;
  #buf = Buffer.alloc(0);

  private constructor(socket: net.Socket, framing: Framing) {
    this.socket = socket;
    this.framing = framing;
    socket.on('error', () => {}); // a reset by the server is the point of some tests
    this.closed = once(socket, 'close').then(() => {
      this.#isClosed = true;
      this.#wake();
    });
    if (framing === 'stream') {
      void (async () => {
        try {
          for await (const m of decodeMultiStream(socket)) this.#push(m);
        } catch (err) {
          this.decodeError = err;
        }
      })();
    } else {
      socket.on('data', (chunk: Buffer) => {
        this.#buf = Buffer.concat([this.#buf, chunk]);
        while (this.#buf.length >= 4) {
          const n = this.#buf.readUInt32BE(0);
          if (this.#buf.length < 4 + n) break;
          this.#push(decode(this.#buf.subarray(4, 4 + n)));
          this.#buf = this.#buf.subarray(4 + n);
        }
      });
    }
  }

  static async connect(port: number, framing: Framing): Promise<RawPeer> {
    const s = net.connect({ port, host: '127.0.0.1' });
    const p = new RawPeer(s, framing);
    await once(s, 'connect');
    return p;
  }

  send(msg: unknown): void {
    this.socket.write(rawFrame(this.framing, msg));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next decoded message (liveness bound 5 s); rejects once the socket closed with none left. */
  async next(): Promise<unknown> {
    const deadline = Date.now() + 5000;
    while (this.#taken >= this.received.length) {
      if (this.#isClosed) throw new Error('raw peer: socket closed with no further message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('raw peer: no message within 5 s');
      const d = deferred<void>();
      this.#waiter = d.resolve;
      await within(d.promise, left, 'a message').catch(() => {});
    }
    return this.received[this.#taken++];
  }

  destroy(): void {
    this.socket.destroy();
  }

  #push(m: unknown): void {
    this.received.push(m);
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }
}
