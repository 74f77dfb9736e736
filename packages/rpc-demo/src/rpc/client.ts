// The MessagePack-RPC client: calls are multiplexed over a few long-lived connections taken from a
// ConnectionPool, matched to responses by msgid. Requests written in the same tick leave in one
// flush. When a connection drops, its pending calls reject with ConnClosedError; the next call on
// that slot dials again, at most once per backoff period (exponential, with jitter) while the server
// stays down, failing fast in between rather than queueing calls behind a dead server.
import { performance } from 'node:perf_hooks';
import { ConnClosedError, ConnectionPool, InvalidOptionError, type Connection, type DialOptions, type Network } from '@nocopy/transport';
import { checkBoolean, checkBytes, checkCount, checkEnum, checkHostPort, checkMs } from '@nocopy/transport/validate';
import { AbortError } from '@nocopy/transport';
import { RemoteError, RpcClosedError, RpcError, RpcTimeoutError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE, type Framing, type Message, MessageReader, RESPONSE, checkFraming, writeMessage } from './protocol.js';
import { type ServiceClient, serviceProxy } from './service.js';
import { type ClientCall, type ClientMiddleware, runChain } from './middleware.js';
import { type ClientCallMessage, clientCallChannel, traced } from './tracing.js';
import { toRemoteError } from './wire-errors.js';
import { CANCEL, HELLO, HELLO_VERSION, type Metadata, announcesExtensions, readMetadata } from './extensions.js';

export interface ClientOptions {
  /** One server, "host:port" (or a socket path with network 'unix'). */
  address?: string;
  /** Several servers: connections are spread over them. */
  addresses?: string[];
  network?: Network;
  framing?: Framing;
  /** Connections per address. Default 2. */
  connections?: number;
  /** Default per-call timeout in ms; 0 = none. Default 10000. */
  timeout?: number;
  /** Largest message sent or accepted. Default 4 MiB. */
  maxMessageSize?: number;
  /** Dial options for every connection (timeout, tls, ...). */
  dial?: Omit<DialOptions<Slot>, 'onRequest' | 'ctx' | 'signal'>;
  /** Reconnect backoff: the first delay and the cap, in ms. Default 50 and 5000. */
  backoff?: { initial?: number; max?: number };
  /**
   * Negotiate the wire extensions (cancel, deadline, metadata) on each connection: one standard
   * request "$/nocopy" after the dial, answered as an unknown method by a plain MessagePack-RPC
   * server. Default true; false sends only plain messages (and drops metadata).
   */
  extensions?: boolean;
}

export interface CallOptions {
  /** Overrides the client's default timeout, in ms; 0 = none. Sent to the server as the call's deadline. */
  timeout?: number;
  /** Aborting it rejects the call with ABORT_ERR and cancels it on the server. */
  signal?: AbortSignal;
  /** String metadata for the handler (ctx.metadata): trace ids, auth tokens. Dropped for a plain MessagePack-RPC server. */
  metadata?: Readonly<Record<string, string>>;
}

export interface ClientStats {
  /** Calls waiting for a response. */
  pending: number;
  /** Connections open. */
  connections: number;
  calls: number;
  /** Dials made (the first ones and reconnects). */
  dials: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
  signal: AbortSignal | null;
  onAbort: (() => void) | null;
  method: string;
  /** The connection the request went out on: only its close fails the call. */
  conn: Connection<Slot>;
  slot: Slot;
  id: number;
  /** performance.now() deadline while the call waits in the client's timeout queue, else 0. */
  deadline: number;
  /** The server speaks the extensions on this call's connection: a timeout or abort sends $/cancel. */
  ext: boolean;
}

const NO_OPTIONS: CallOptions = Object.freeze({});

/**
 * Calls made in the same tick share a slot's flush, up to this many, before the round robin moves on.
 * Spreading every call over the slots cost one socket write per slot per tick: replies arrive a few
 * at a time, and the calls they trigger went out as several writes of one or two messages each.
 */
const BATCH_PER_SLOT = 8;

/** One multiplexed connection of the client, and its calls. */
class Slot {
  readonly address: string;
  conn: Connection<Slot> | null = null;
  connecting: Promise<Connection<Slot>> | null = null;
  readonly pending = new Map<number, Pending>();
  nextId = 0;
  failures = 0;
  retryAt = 0;
  lastError: unknown = null;
  flushQueued = false;
  /** Requests written since the last flush. */
  batched = 0;
  /** The connection whose server announced the extensions (null: plain MessagePack-RPC). */
  extConn: Connection<Slot> | null = null;
  /** The decoder of the current connection's responses (a new one per connection). */
  messages: MessageReader;
  /** Bound once by the client: the per-message callback of messages.read(). */
  onMessage: (m: Message) => boolean = () => true;
  readonly flush: () => void;
  constructor(address: string, messages: MessageReader) {
    this.address = address;
    this.messages = messages;
    this.flush = () => {
      this.flushQueued = false;
      this.batched = 0;
      // A failed flush closes the connection, whose close callback rejects the pending calls.
      this.conn?.writer.flush().catch(() => {});
    };
  }
}

export class RpcClient {
  readonly framing: Framing;
  readonly maxMessageSize: number;
  readonly #timeout: number;
  readonly #slots: Slot[] = [];
  readonly #pool: ConnectionPool<Slot>;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #extensions: boolean;
  readonly #middleware: ClientMiddleware[] = [];
  #rr = 0;
  /** The slot of the last request written (see BATCH_PER_SLOT). */
  #last: Slot | null = null;
  #closed = false;
  #calls = 0;
  // Calls with the client's default timeout wait in one FIFO queue under a single timer, instead of a
  // setTimeout each (about 0.3 µs per call, plus GC work, and a quarter of the client's throughput
  // at 32 calls in flight). Their deadlines are in send order, so the timer is armed for the oldest
  // pending one only. A call settled before its deadline is skipped; settled entries are trimmed
  // from the head as calls complete, and the queue is compacted when they outnumber the live ones.
  #due: (Pending | null)[] = [];
  #dueHead = 0;
  /** Entries of #due still pending. */
  #dueLive = 0;
  #dueTimer: NodeJS.Timeout | null = null;

  constructor(options: ClientOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
    const addresses = options.addresses ?? (options.address !== undefined ? [options.address] : []);
    if (!Array.isArray(addresses) || addresses.length === 0) throw new InvalidOptionError('address', options.address, 'a "host:port" string (or addresses: a non-empty array of them)');
    const network = checkEnum('network', options.network, ['tcp', 'unix'] as const, 'tcp');
    for (const a of addresses) {
      if (network === 'tcp') checkHostPort('address', a);
      else if (typeof a !== 'string' || a === '') throw new InvalidOptionError('address', a, 'a Unix socket path');
    }
    this.framing = checkFraming(options.framing);
    this.maxMessageSize = checkBytes('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    this.#timeout = checkMs('timeout', options.timeout, 10_000);
    const perAddress = checkCount('connections', options.connections, 2);
    this.#backoffInitial = checkMs('backoff.initial', options.backoff?.initial, 50);
    this.#backoffMax = checkMs('backoff.max', options.backoff?.max, 5000);
    this.#extensions = checkBoolean('extensions', options.extensions, true);
    for (let i = 0; i < perAddress; i++) {
      for (const a of addresses) {
        const slot = new Slot(a, new MessageReader(this.framing, this.maxMessageSize));
        slot.onMessage = (m) => this.#onResponse(slot, m);
        this.#slots.push(slot);
      }
    }
    this.#pool = new ConnectionPool<Slot>({
      network,
      maxActivePerAddress: perAddress,
      dial: {
        maxInboundBytes: Math.max(this.maxMessageSize + 4 + 64 * 1024, 8 * 1024 * 1024),
        ...options.dial,
        onRequest: this.#onResponses,
      },
    });
  }

  /** Calls `method` with `params`; resolves with the result, rejects with the remote error or a local one. */
  call(method: string, ...params: unknown[]): Promise<unknown> {
    return this.request(method, params);
  }

  /** Like call(), with params as an array and per-call options (timeout, signal, metadata). */
  request(method: string, params: unknown[] = [], options: CallOptions = NO_OPTIONS): Promise<unknown> {
    if (clientCallChannel.hasSubscribers) {
      // Read back from the message: a subscriber's start handler may replace options (trace context in its metadata).
      const msg: ClientCallMessage = { method, params, options };
      return traced(clientCallChannel, msg, () => this.#intercepted(msg.method, msg.params, msg.options)) as Promise<unknown>;
    }
    return this.#intercepted(method, params, options);
  }

  #intercepted(method: string, params: unknown[], options: CallOptions): Promise<unknown> {
    if (this.#middleware.length === 0) return this.#request(method, params, options);
    return runChain(this.#middleware, { method, params, options: { ...options } }, this.#afterChain);
  }

  /**
   * Adds a middleware around every call (request(), call() and service proxies), in onion order: the
   * first added runs outermost. `fn(call, next)` may change `call.params` and `call.options`
   * (metadata, timeout) before `next()`, which sends the call and resolves with its result; returning
   * without next() settles the call with that value (a cache), a throw fails it.
   */
  use(fn: ClientMiddleware): this {
    if (typeof fn !== 'function') throw new InvalidOptionError('middleware', fn, 'a function (call, next)');
    this.#middleware.push(fn);
    return this;
  }

  readonly #afterChain = (c: ClientCall): Promise<unknown> => this.#request(c.method, c.params, c.options);

  #request(method: string, params: unknown[], options: CallOptions): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RpcClosedError());
    const signal = options.signal ?? null;
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    let timeout = this.#timeout;
    if (options.timeout !== undefined) {
      // Checked here, not at the wire: a call that is not well formed fails alone, never its connection.
      try {
        timeout = checkMs('timeout', options.timeout, 0);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (typeof method !== 'string') return Promise.reject(new InvalidOptionError('method', method, 'a string'));
    if (!Array.isArray(params)) return Promise.reject(new InvalidOptionError('params', params, 'an array'));
    let metadata: Metadata | null = null;
    if (options.metadata !== undefined) {
      try {
        metadata = readMetadata(options.metadata, MetadataOptionError);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    this.#calls++;
    const slot = this.#pick();
    const conn = slot.conn;
    if (conn !== null && conn.isActive()) return this.#send(slot, conn, method, params, timeout, signal, metadata);
    return this.#connect(slot).then((c) => this.#send(slot, c, method, params, timeout, signal, metadata));
  }

  /**
   * A typed proxy of service `S` (the type of the server's object of handlers, or an interface):
   * `api.add(1, 2)` is `request('add', [1, 2], options)`, typed as the handler is.
   */
  service<S>(options: CallOptions = NO_OPTIONS): ServiceClient<S> {
    return serviceProxy<S>((method, params) => this.request(method, params, options));
  }

  /** Sends a notification (no response); resolves once it is handed to the socket. */
  async notify(method: string, ...params: unknown[]): Promise<void> {
    if (this.#closed) throw new RpcClosedError();
    const slot = this.#pick();
    const conn = slot.conn !== null && slot.conn.isActive() ? slot.conn : await this.#connect(slot);
    writeMessage(conn.writer, this.framing, [2, method, params], this.maxMessageSize);
    await conn.writer.flush();
  }

  stats(): ClientStats {
    let pending = 0;
    let connections = 0;
    for (const s of this.#slots) {
      pending += s.pending.size;
      if (s.conn !== null) connections++;
    }
    return { pending, connections, calls: this.#calls, dials: this.#pool.stats().dialed };
  }

  /** Rejects pending calls with RpcClosedError and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new RpcClosedError();
    for (const s of this.#slots) this.#rejectAll(s, err);
    await this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----

  #pick(): Slot {
    const slots = this.#slots;
    // The slot that took the previous call of this tick takes this one too, while its flush is pending.
    const last = this.#last;
    if (last !== null && last.flushQueued && last.batched < BATCH_PER_SLOT && last.conn !== null && last.conn.isActive()) return last;
    // Round robin, preferring a slot with a live connection.
    for (let i = 0; i < slots.length; i++) {
      const s = slots[this.#rr++ % slots.length]!;
      if (s.conn !== null && s.conn.isActive()) return s;
    }
    return slots[this.#rr++ % slots.length]!;
  }

  #connect(slot: Slot): Promise<Connection<Slot>> {
    if (slot.connecting !== null) return slot.connecting;
    if (Date.now() < slot.retryAt) return Promise.reject(slot.lastError);
    slot.connecting = this.#pool.get(slot.address).then(
      (conn) => {
        slot.connecting = null;
        slot.failures = 0;
        if (this.#closed) {
          conn.close();
          throw new RpcClosedError();
        }
        conn.ctx = slot;
        slot.messages = new MessageReader(this.framing, this.maxMessageSize);
        slot.extConn = null;
        conn.addCloseCallback(this.#onClosed);
        if (!this.#extensions) {
          slot.conn = conn;
          return conn;
        }
        // Calls wait for the answer (one round trip per connection): they must know whether their
        // deadline and metadata can travel. Still `connecting` until then.
        slot.connecting = this.#hello(slot, conn).then(
          () => {
            slot.connecting = null;
            slot.conn = conn;
            return conn;
          },
          (err: unknown) => {
            slot.connecting = null;
            conn.close(err);
            throw err;
          },
        );
        return slot.connecting;
      },
      (err: unknown) => {
        slot.connecting = null;
        // close() during the dial: the pool refused it with its own ERR_POOL_CLOSED; a call of a closed
        // client fails with RpcClosedError, as documented.
        if (this.#closed) throw new RpcClosedError();
        slot.failures++;
        // Exponential backoff with jitter: half the delay fixed, half random.
        const delay = Math.min(this.#backoffMax, this.#backoffInitial * 2 ** (slot.failures - 1));
        slot.retryAt = Date.now() + delay / 2 + Math.random() * (delay / 2);
        slot.lastError = err;
        throw err;
      },
    );
    return slot.connecting;
  }

  /**
   * [0, id, "$/nocopy", [1]] on a new connection: resolves once answered (extConn set if the server
   * announced the extensions); rejects if the connection closes first, or with the server's error for
   * a framing mismatch, or RpcTimeoutError after the client's default timeout.
   */
  #hello(slot: Slot, conn: Connection<Slot>): Promise<void> {
    const id = this.#nextId(slot);
    writeMessage(conn.writer, this.framing, [0, id, HELLO, [HELLO_VERSION]], this.maxMessageSize);
    conn.writer.flush().catch(() => {});
    return new Promise((resolve, reject) => {
      const p: Pending = {
        resolve: (result) => {
          if (announcesExtensions(result)) slot.extConn = conn;
          resolve();
        },
        reject: (err) => {
          // A plain peer answers with its unknown-method error: no extensions, nothing wrong.
          if (err instanceof RemoteError && err.code !== 'ERR_FRAMING_MISMATCH' && err.code !== 'ERR_MESSAGE_TOO_LARGE') resolve();
          else reject(err);
        },
        timer: null,
        signal: null,
        onAbort: null,
        method: HELLO,
        conn,
        slot,
        id,
        deadline: 0,
        ext: false,
      };
      slot.pending.set(id, p);
      if (this.#timeout > 0) p.timer = setTimeout(() => this.#fail(slot, id, new RpcTimeoutError(HELLO, this.#timeout)), this.#timeout);
    });
  }

  #nextId(slot: Slot): number {
    let id = slot.nextId;
    // 32-bit ids wrap; skip any still pending on this connection.
    do id = (id + 1) >>> 0;
    while (slot.pending.has(id));
    slot.nextId = id;
    return id;
  }

  #send(slot: Slot, conn: Connection<Slot>, method: string, params: unknown[], timeout: number, signal: AbortSignal | null, metadata: Metadata | null): Promise<unknown> {
    // Aborted while the connection was being dialed: an 'abort' listener added now would never fire.
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    const id = this.#nextId(slot);
    // The deadline and metadata travel only to a server that announced the extensions.
    const ext = slot.extConn === conn;
    try {
      if (ext && (timeout > 0 || metadata !== null)) {
        const x = metadata === null ? timeout : timeout > 0 ? { t: timeout, m: metadata } : { m: metadata };
        writeMessage(conn.writer, this.framing, [0, id, method, params, x], this.maxMessageSize);
      } else writeMessage(conn.writer, this.framing, [0, id, method, params], this.maxMessageSize);
    } catch (err) {
      return Promise.reject(err instanceof Error && (err as { code?: string }).code === 'ERR_BUFFER_CLOSED' ? new ConnClosedError('connection closed', { cause: err }) : err);
    }
    this.#last = slot;
    slot.batched++;
    if (!slot.flushQueued) {
      slot.flushQueued = true;
      queueMicrotask(slot.flush);
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: null, signal, onAbort: null, method, conn, slot, id, deadline: 0, ext };
      slot.pending.set(id, p);
      if (timeout > 0) {
        if (timeout === this.#timeout) this.#enqueueDue(p, timeout);
        else p.timer = setTimeout(() => this.#fail(slot, id, new RpcTimeoutError(method, timeout), true), timeout);
      }
      if (signal !== null) {
        p.onAbort = () => this.#fail(slot, id, new AbortError(signal.reason), true);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
    });
  }

  /** Rejects one call; a response arriving later for its id is dropped. `cancel`: the server is told to stop it. */
  #fail(slot: Slot, id: number, err: unknown, cancel = false): void {
    const p = slot.pending.get(id);
    if (p === undefined) return;
    slot.pending.delete(id);
    this.#settle(p);
    if (cancel && p.ext) this.#cancelRemote(p);
    p.reject(err);
  }

  /** [2, "$/cancel", [id]] on the call's connection, flushed with the tick's other messages. */
  #cancelRemote(p: Pending): void {
    const conn = p.conn;
    if (!conn.isActive()) return;
    try {
      writeMessage(conn.writer, this.framing, [2, CANCEL, [p.id]], this.maxMessageSize);
    } catch {
      return; // the connection is closing: the server abandons the call by itself
    }
    const slot = p.slot;
    if (slot.conn === conn) {
      if (!slot.flushQueued) {
        slot.flushQueued = true;
        queueMicrotask(slot.flush);
      }
    } else conn.writer.flush().catch(() => {});
  }

  #settle(p: Pending): void {
    if (p.timer !== null) clearTimeout(p.timer);
    if (p.deadline !== 0) this.#settleDue(p);
    if (p.onAbort !== null) p.signal!.removeEventListener('abort', p.onAbort);
  }

  // ---- the default-timeout queue ----

  #enqueueDue(p: Pending, timeout: number): void {
    p.deadline = performance.now() + timeout;
    const due = this.#due;
    // Settled entries stuck behind an old live one: keep only the live ones (amortized O(1) per call).
    if (due.length - this.#dueHead > 2 * this.#dueLive + 1024) {
      let k = 0;
      for (let i = this.#dueHead; i < due.length; i++) {
        const q = due[i] ?? null;
        if (q !== null && q.deadline !== 0) due[k++] = q;
      }
      due.length = k;
      this.#dueHead = 0;
    }
    due.push(p);
    this.#dueLive++;
    if (this.#dueTimer === null) this.#dueTimer = setTimeout(this.#onDue, timeout);
  }

  #settleDue(p: Pending): void {
    p.deadline = 0;
    const due = this.#due;
    if (--this.#dueLive === 0) {
      due.length = 0;
      this.#dueHead = 0;
      if (this.#dueTimer !== null) {
        clearTimeout(this.#dueTimer);
        this.#dueTimer = null;
      }
      return;
    }
    let h = this.#dueHead;
    if (due[h] !== p) return;
    // Past the settled head entries, dropping them (a settled call must not stay reachable from here).
    for (; h < due.length; h++) {
      const q = due[h] ?? null;
      if (q !== null && q.deadline !== 0) break;
      due[h] = null;
    }
    // Drop the settled prefix now and then, not on every call.
    if (h >= 1024 && h * 2 >= due.length) {
      due.copyWithin(0, h);
      due.length -= h;
      h = 0;
    }
    this.#dueHead = h;
  }

  /** The timer of the oldest queued call fired: fail every call past its deadline, re-arm for the next. */
  readonly #onDue = (): void => {
    this.#dueTimer = null;
    const due = this.#due;
    const now = performance.now();
    const expired: Pending[] = [];
    let h = this.#dueHead;
    for (; h < due.length; h++) {
      const p = due[h] ?? null;
      if (p !== null && p.deadline !== 0) {
        if (p.deadline > now) break;
        expired.push(p);
      }
      due[h] = null;
    }
    this.#dueHead = h;
    for (const p of expired) {
      if (p.deadline === 0) continue;
      if (p.slot.pending.get(p.id) === p) this.#fail(p.slot, p.id, new RpcTimeoutError(p.method, this.#timeout), true);
      else this.#settleDue(p);
    }
    if (this.#dueLive > 0 && this.#dueTimer === null) {
      let next = this.#dueHead;
      while (next < due.length && (due[next]?.deadline ?? 0) === 0) next++;
      if (next < due.length) this.#dueTimer = setTimeout(this.#onDue, Math.max(1, Math.ceil(due[next]!.deadline - performance.now())));
    }
  };

  #rejectAll(slot: Slot, err: unknown): void {
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of pending) {
      this.#settle(p);
      p.reject(err);
    }
  }

  readonly #onResponses = (slot: Slot, conn: Connection<Slot>): void => {
    try {
      slot.messages.read(conn.reader, slot.onMessage);
    } catch (err) {
      conn.close(err);
    }
  };

  #onResponse(slot: Slot, m: Message): boolean {
    if (m[0] !== RESPONSE) return true;
    const p = slot.pending.get(m[1]);
    if (p === undefined) return true;
    slot.pending.delete(m[1]);
    this.#settle(p);
    const err = m[2];
    if (err !== null && err !== undefined) {
      // The server closes this connection after this reply (it refused our input): new calls go to a
      // new one; the calls already sent here are still answered, then the close fails the rest.
      if ((err as { closing?: unknown }).closing === true && slot.conn === p.conn) slot.conn = null;
      p.reject(toRemoteError(err));
    } else p.resolve(m[3]);
    return true;
  }

  readonly #onClosed = (conn: Connection<Slot>): void => {
    const slot = conn.ctx;
    if (slot.conn === conn) slot.conn = null;
    // Only the calls sent on this connection: once it went inactive (the peer's FIN) the slot may have
    // dialed again before it finished closing, and calls already sent on the new one are alive.
    // The reason, when it is ours (a framing mismatch, a response too large), is in the message too.
    const why = conn.error instanceof RpcError ? `: ${conn.error.message}` : '';
    const err = new ConnClosedError(`connection closed with calls pending${why}`, { cause: conn.error });
    for (const [id, p] of slot.pending) if (p.conn === conn) this.#fail(slot, id, err);
  };
}

/** InvalidOptionError for `metadata`, with the detail of what is wrong. */
class MetadataOptionError extends InvalidOptionError {
  constructor(detail: string) {
    super('metadata', {}, `a map of string values (${detail})`);
  }
}

export function createClient(options: ClientOptions): RpcClient {
  return new RpcClient(options);
}
