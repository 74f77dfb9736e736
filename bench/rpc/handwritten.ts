// The hand-written baseline of bench/rpc: MessagePack-RPC over `net` as a competent Node developer
// writes it without a transport library. A 4-byte big-endian length prefix, msgpackr pack/unpack
// (standard MessagePack, useRecords: false, the same encoding nocopy-rpc uses), `[0, id, method,
// params]` / `[1, id, error, result]`, a Map of pending ids on the client, Buffer.concat accumulation
// on both sides (skipped when nothing is left over, as anyone would), one socket.write per message,
// TCP_NODELAY on both ends. No batching of replies, no buffer pooling, no per-call timers.
// createBatchingServer is the same server as a competent developer tunes it: every message of a chunk
// decoded, and the replies of a chunk gathered into one Buffer and one socket.write.
import net from 'node:net';
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const EMPTY: Buffer = Buffer.alloc(0);

/** One length-prefixed frame holding `msg`, ready for a single socket.write. */
function frame(msg: unknown): Buffer {
  const body = packr.pack(msg);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/**
 * Splits the accumulated input into frames and calls `onMessage` for each decoded message; returns
 * the incomplete tail. Binary fields of a message are views into the input: they are used before the
 * callback returns.
 */
function parse(acc: Buffer, onMessage: (m: unknown[]) => void): Buffer {
  let off = 0;
  while (acc.length - off >= 4) {
    const len = acc.readUInt32BE(off);
    if (acc.length - off - 4 < len) break;
    onMessage(unpackr.unpack(acc.subarray(off + 4, off + 4 + len)) as unknown[]);
    off += 4 + len;
  }
  return off === acc.length ? EMPTY : acc.subarray(off);
}


export type Handler = (...params: any[]) => unknown;

/** A server answering `[0, id, method, params]` with `[1, id, error, result]`. */
/** The response message [1, id, error, result]; an error as { name, message }. */
function response(id: number, err: unknown, result: unknown): unknown[] {
  const e = err == null ? null : { name: (err as Error).name ?? 'Error', message: (err as Error).message ?? String(err) };
  return [1, id, e, e === null ? result ?? null : null];
}

/** Calls the handler a request [0, id, method, params] names and answers through `reply`, sync or async. */
function dispatch(handlers: Map<string, Handler>, m: unknown[], reply: (id: number, err: unknown, result: unknown) => void): void {
  if (m[0] !== 0) return;
  const id = m[1] as number;
  const fn = handlers.get(m[2] as string);
  if (fn === undefined) return reply(id, new Error(`no such method: ${String(m[2])}`), null);
  let r: unknown;
  try {
    r = fn(...(m[3] as unknown[]));
  } catch (err) {
    return reply(id, err, null);
  }
  if (r instanceof Promise) r.then((v) => reply(id, null, v), (err) => reply(id, err, null));
  else reply(id, null, r);
}

export function createHandwrittenServer(handlers: Map<string, Handler>): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    let acc: Buffer = EMPTY;
    const reply = (id: number, err: unknown, result: unknown) => {
      if (!socket.writable) return;
      socket.write(frame(response(id, err, result)));
    };
    const onMessage = (m: unknown[]) => dispatch(handlers, m, reply);
    socket.on('data', (chunk: Buffer) => {
      acc = parse(acc.length === 0 ? chunk : Buffer.concat([acc, chunk]), onMessage);
    });
    socket.on('error', () => socket.destroy());
  });
}

/**
 * The batching variant: the replies to the messages of one 'data' chunk leave in one socket.write
 * (one Buffer of length-prefixed frames). Async results, which finish later, are written one by one.
 */
export function createBatchingServer(handlers: Map<string, Handler>): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    let acc: Buffer = EMPTY;
    let batch: Buffer[] | null = null;
    const send = (id: number, err: unknown, result: unknown) => {
      const body = packr.pack(response(id, err, result));
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32BE(body.length, 0);
      if (batch !== null) batch.push(head, body);
      else if (socket.writable) socket.write(Buffer.concat([head, body]));
    };
    const onMessage = (m: unknown[]) => dispatch(handlers, m, send);
    socket.on('data', (chunk: Buffer) => {
      batch = [];
      acc = parse(acc.length === 0 ? chunk : Buffer.concat([acc, chunk]), onMessage);
      const out = batch;
      batch = null;
      if (out.length > 0 && socket.writable) socket.write(Buffer.concat(out));
    });
    socket.on('error', () => socket.destroy());
  });
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** A client over a few connections, calls spread round robin, matched to responses by id. */
export class HandwrittenClient {
  readonly #sockets: net.Socket[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #rr = 0;

  static async connect(port: number, host: string, connections: number): Promise<HandwrittenClient> {
    const c = new HandwrittenClient();
    await Promise.all(Array.from({ length: connections }, () => c.#dial(port, host)));
    return c;
  }

  #dial(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      let acc: Buffer = EMPTY;
      socket.on('data', (chunk: Buffer) => {
        acc = parse(acc.length === 0 ? chunk : Buffer.concat([acc, chunk]), this.#onMessage);
      });
      socket.once('connect', () => {
        this.#sockets.push(socket);
        resolve();
      });
      socket.on('error', (err) => {
        reject(err);
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      });
    });
  }

  readonly #onMessage = (m: unknown[]): void => {
    if (m[0] !== 1) return;
    const id = m[1] as number;
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (m[2] != null) p.reject(new Error((m[2] as { message?: string }).message ?? String(m[2])));
    else p.resolve(m[3]);
  };

  call(method: string, ...params: unknown[]): Promise<unknown> {
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    const socket = this.#sockets[this.#rr++ % this.#sockets.length]!;
    socket.write(frame([0, id, method, params]));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  close(): void {
    for (const s of this.#sockets) s.destroy();
  }
}
