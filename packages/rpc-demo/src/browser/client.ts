// The MessagePack-RPC client for browsers: one WebSocket, one MessagePack-RPC message per WebSocket
// message, calls multiplexed by id, each with an optional timeout and AbortSignal. Replies are
// checked as standard MessagePack (strict.ts) before msgpackr's browser build decodes them.
// No Node built-ins: this module runs in browsers as it is (an import map names 'msgpackr').
import { Packr, Unpackr } from 'msgpackr';
import { checkStrict } from './strict.js';

// The check on its own, for a page that receives MessagePack some other way.
export { checkStrict, StrictMessagePackError } from './strict.js';

/** What the client needs of the browser's WebSocket (also Node 22's global WebSocket). */
interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', fn: (ev: { data?: unknown; code?: number }) => void): void;
}

export class RpcCallError extends Error {
  constructor(message: string, readonly code: string, readonly data?: unknown) {
    super(message);
  }
}
RpcCallError.prototype.name = 'RpcCallError';

export interface CallOptions {
  /** Give up after this many ms (ERR_RPC_TIMEOUT); 0 = never. Default 10000. */
  timeout?: number;
  signal?: AbortSignal;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, structuredClone: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, bundleStrings: false, structuredClone: false });

export class BrowserRpcClient {
  readonly #ws: WebSocketLike;
  readonly #pending = new Map<number, Pending>();
  #opened: Promise<void>;
  #nextId = 1;
  /** Why the WebSocket is closed (or closing): every call from then on rejects with it at once. */
  #closed: RpcCallError | null = null;

  /**
   * `url`: the server's ws:// or wss:// endpoint (nocopy-rpc serve --websocket PORT). One WebSocket,
   * never reopened: once it has closed (the server closed it, went away, or close() was called),
   * ready() and every new call reject at once with ERR_CONN_CLOSED; make a new client to go on.
   */
  constructor(url: string) {
    const WS = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
    if (WS === undefined) throw new RpcCallError('this environment has no WebSocket', 'ERR_NO_WEBSOCKET');
    this.#ws = new WS(url);
    this.#ws.binaryType = 'arraybuffer';
    this.#opened = new Promise<void>((resolve, reject) => {
      this.#ws.addEventListener('open', () => resolve());
      this.#ws.addEventListener('error', () => reject(new RpcCallError(`cannot connect to ${url}`, 'ERR_CONN_CLOSED')));
    });
    this.#opened.catch(() => {});
    this.#ws.addEventListener('message', (ev) => this.#onMessage(ev.data));
    this.#ws.addEventListener('close', (ev) => this.#onClose(new RpcCallError(`connection closed (${ev.code ?? 0})`, 'ERR_CONN_CLOSED')));
  }

  /** Resolves once the WebSocket is open; rejects (ERR_CONN_CLOSED) if it could not open or has closed since. */
  ready(): Promise<void> {
    return this.#opened;
  }

  /** The WebSocket is closed or closing: nothing sent now would be answered. */
  get closed(): boolean {
    return this.#closed !== null;
  }

  async request(method: string, params: unknown[] = [], options: CallOptions = {}): Promise<unknown> {
    if (typeof method !== 'string' || !Array.isArray(params)) throw new RpcCallError('request(method: string, params: unknown[])', 'ERR_INVALID_OPTION');
    const timeout = options.timeout ?? 10_000;
    if (!Number.isInteger(timeout) || timeout < 0) throw new RpcCallError(`timeout must be an integer number of ms, got ${String(timeout)}`, 'ERR_INVALID_OPTION');
    options.signal?.throwIfAborted();
    if (this.#closed !== null) throw this.#closed;
    await this.#opened;
    // The close event may not have come yet while the socket is closing (2) or closed (3).
    if (this.#closed === null && this.#ws.readyState > 1) this.#onClose(new RpcCallError('connection closed', 'ERR_CONN_CLOSED'));
    if (this.#closed !== null) throw this.#closed;
    const id = this.#nextId;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: undefined };
      const done = () => {
        if (p.timer !== undefined) clearTimeout(p.timer);
        this.#pending.delete(id);
      };
      p.resolve = (v) => {
        done();
        resolve(v);
      };
      p.reject = (e) => {
        done();
        reject(e);
      };
      if (timeout > 0) p.timer = setTimeout(() => p.reject(new RpcCallError(`${method} timed out after ${timeout} ms`, 'ERR_RPC_TIMEOUT')), timeout);
      options.signal?.addEventListener('abort', () => p.reject(new RpcCallError(`${method} aborted`, 'ABORT_ERR')), { once: true });
      this.#pending.set(id, p);
      this.#ws.send(packr.pack([0, id, method, params]));
    });
  }

  close(): void {
    this.#onClose(new RpcCallError('the client is closed', 'ERR_CONN_CLOSED'));
    this.#ws.close(1000);
  }

  /** Once: calls in flight, ready() and every later call fail with `err`. */
  #onClose(err: RpcCallError): void {
    if (this.#closed === null) {
      this.#closed = err;
      const opened = Promise.reject(err);
      opened.catch(() => {});
      this.#opened = opened;
    }
    this.#failAll(this.#closed);
  }

  #onMessage(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) return; // the server sends binary messages only
    const bytes = new Uint8Array(data);
    let msg: unknown;
    try {
      checkStrict(bytes);
      msg = unpackr.unpack(bytes);
    } catch (err) {
      this.#failAll(new RpcCallError(`a malformed reply: ${(err as Error).message}`, 'ERR_MALFORMED_MESSAGE'));
      this.#onClose(new RpcCallError('connection closed after a malformed reply', 'ERR_CONN_CLOSED'));
      this.#ws.close(1007);
      return;
    }
    if (!Array.isArray(msg) || msg[0] !== 1 || msg.length !== 4 || typeof msg[1] !== 'number') return; // notifications and the rest: not ours
    const p = this.#pending.get(msg[1]);
    if (p === undefined) return; // a late reply to a call that timed out
    const err = msg[2] as unknown;
    if (err === null || err === undefined) p.resolve(msg[3]);
    else {
      const e = (typeof err === 'object' ? err : { message: String(err) }) as { message?: unknown; code?: unknown; data?: unknown };
      p.reject(new RpcCallError(String(e.message ?? err), typeof e.code === 'string' ? e.code : 'ERR_RPC_REMOTE', e.data));
    }
  }

  #failAll(err: RpcCallError): void {
    for (const p of [...this.#pending.values()]) p.reject(err);
  }
}
