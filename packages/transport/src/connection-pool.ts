// ConnectionPool: client connections kept per address for reuse. Idle connections
// are a LIFO stack: get() takes the newest one that isActive(), closing dead ones it passes. put()
// returns a healthy connection with an idle deadline; past the per-address or global idle cap it is
// closed. One shared timer sweeps expired idle connections. With maxActivePerAddress reached, get()
// waits in a first-come, first-served queue, bounded by its timeout or signal.
import type { Connection } from './connection/connection.js';
import { type DialOptions, type Network, dialConnection } from './dialer.js';
import { AbortError, InvalidOptionError, PoolClosedError, PoolTimeoutError } from './errors.js';
import { type Queued, waitInQueue } from './client/queued-wait.js';
import { checkMs } from './util/validate.js';

export interface ConnectionPoolOptions<C = unknown> {
  /** 'tcp' (addresses "host:port") or 'unix' (socket paths). Default 'tcp'. */
  network?: Network;
  /** Options for every dial (timeout, tls, readTimeout, onRequest, ...). */
  dial?: DialOptions<C>;
  /** Idle connections kept per address. Default 16. */
  maxIdlePerAddress?: number;
  /** Idle connections kept over all addresses. Default 1024. */
  maxIdleGlobal?: number;
  /** An idle connection unused this long (ms) is closed by the sweep; 0 = never. Default 60000. */
  idleTimeout?: number;
  /** Open connections (idle, in use and dialing) per address at most; more get() calls wait. Default Infinity. */
  maxActivePerAddress?: number;
}

export interface GetOptions {
  /** Bound on the whole get (waiting for a slot and dialing), in ms; 0 = none. Default 0. */
  timeout?: number;
  signal?: AbortSignal;
}

export interface ConnectionPoolStats {
  /** Idle connections kept. */
  idle: number;
  /** Connections handed out and not yet returned (put or discarded). */
  active: number;
  /** Dials started. */
  dialed: number;
  /** get() calls served by an idle connection or a put() straight to a waiter. */
  reused: number;
  /** Connections the pool closed: dead when found, expired, over an idle cap, or put back unhealthy. */
  evicted: number;
  /** get() calls waiting for a slot. */
  waiting: number;
}

interface Idle<C> {
  conn: Connection<C>;
  deadline: number;
}

interface Waiter<C> extends Queued<Connection<C>> {
  /** The get()'s timeout (ms, 0 = none), its deadline (Date.now() based, 0 = none) and signal: they bound a dial started for it. */
  timeout: number;
  deadline: number;
  signal: AbortSignal | undefined;
}

interface Entry<C> {
  address: string;
  /** LIFO: the newest idle connection is last. */
  idle: Idle<C>[];
  /** Every open connection of this address (idle, in use) plus dials in progress. */
  open: number;
  waiters: Waiter<C>[];
}

const kPoolEntry = Symbol('nocopy.poolEntry');
type Pooled<C> = Connection<C> & { [kPoolEntry]?: Entry<C> };

function checkCount(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (!(v === Infinity || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0))) {
    throw new InvalidOptionError(name, v, 'a non-negative integer or Infinity');
  }
  return v as number;
}

export class ConnectionPool<C = unknown> {
  readonly #network: Network;
  readonly #dial: DialOptions<C>;
  readonly #maxIdlePerAddress: number;
  readonly #maxIdleGlobal: number;
  readonly #idleTimeout: number;
  readonly #maxActive: number;
  readonly #entries = new Map<string, Entry<C>>();
  readonly #inUse = new Set<Connection<C>>();
  #idleCount = 0;
  #dialed = 0;
  #reused = 0;
  #evicted = 0;
  #waiting = 0;
  #closed = false;
  /** Aborts each dial in progress: close() makes them give up at once instead of running to their own timeout. */
  readonly #dialing = new Set<(e: Error) => void>();
  #sweep: NodeJS.Timeout | null = null;

  constructor(options: ConnectionPoolOptions<C> = {}) {
    const network = options.network ?? 'tcp';
    if (network !== 'tcp' && network !== 'unix') throw new InvalidOptionError('network', network, '"tcp" or "unix"');
    this.#network = network;
    this.#dial = options.dial ?? {};
    this.#maxIdlePerAddress = checkCount('maxIdlePerAddress', options.maxIdlePerAddress, 16);
    this.#maxIdleGlobal = checkCount('maxIdleGlobal', options.maxIdleGlobal, 1024);
    this.#idleTimeout = checkMs('idleTimeout', options.idleTimeout, 60_000);
    const maxActive = checkCount('maxActivePerAddress', options.maxActivePerAddress, Infinity);
    if (maxActive === 0) throw new InvalidOptionError('maxActivePerAddress', 0, 'at least 1');
    this.#maxActive = maxActive;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * A connection to `address`: the newest idle one that is still active, else a new dial, else (at
   * maxActivePerAddress) the next one freed, in order of arrival. Rejects with PoolTimeoutError
   * (ERR_POOL_TIMEOUT), AbortError (ABORT_ERR), PoolClosedError (ERR_POOL_CLOSED) or the dial's error.
   */
  get(address: string, options: GetOptions = {}): Promise<Connection<C>> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    let timeout: number;
    try {
      timeout = checkMs('timeout', options.timeout, 0);
    } catch (err) {
      return Promise.reject(err); // a bad option rejects like every other failure, never throws
    }
    const entry = this.#entry(address);
    const conn = this.#takeIdle(entry);
    if (conn !== null) {
      this.#reused++;
      this.#inUse.add(conn);
      return Promise.resolve(conn);
    }
    if (entry.open < this.#maxActive && entry.waiters.length === 0) return this.#dialFor(entry, timeout, signal);
    return this.#wait(entry, timeout, signal);
  }

  /** Returns a connection for reuse. One that is inactive, errored, holds unread input or unsent output is closed instead. */
  put(conn: Connection<C>): void {
    const entry = (conn as Pooled<C>)[kPoolEntry];
    if (entry === undefined || !this.#inUse.delete(conn)) return;
    if (this.#closed || !conn.isActive() || conn.error !== undefined || conn.reader.length > 0 || conn.writer.mallocLength > 0 || conn.writer.waiting) {
      this.#evicted++;
      conn.close();
      return;
    }
    // A waiter gets the connection directly: no idle round trip.
    const w = this.#nextWaiter(entry);
    if (w !== null) {
      this.#reused++;
      this.#inUse.add(conn);
      w.resolve(conn);
      return;
    }
    if (entry.idle.length >= this.#maxIdlePerAddress || this.#idleCount >= this.#maxIdleGlobal) {
      this.#evicted++;
      conn.close();
      return;
    }
    entry.idle.push({ conn, deadline: this.#idleTimeout > 0 ? Date.now() + this.#idleTimeout : Infinity });
    this.#idleCount++;
    this.#armSweep();
  }

  /** Closes a connection that must not be reused (it saw an error, or its protocol state is unknown). */
  discard(conn: Connection<C>): void {
    const entry = (conn as Pooled<C>)[kPoolEntry];
    if (entry === undefined || !this.#inUse.delete(conn)) return;
    conn.close();
  }

  /** Closes every connection, idle and in use, and rejects waiting get() calls with PoolClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const abort of [...this.#dialing]) abort(new PoolClosedError());
    if (this.#sweep !== null) clearTimeout(this.#sweep);
    this.#sweep = null;
    const closing: Promise<void>[] = [];
    const closeOne = (c: Connection<C>) => {
      if (!c.closed) closing.push(new Promise<void>((resolve) => c.addCloseCallback(() => resolve())));
      c.close();
    };
    for (const entry of this.#entries.values()) {
      // Settling a waiter takes it out of the queue (and the waiting count) itself.
      for (const w of [...entry.waiters]) w.reject(new PoolClosedError());
      for (const { conn } of entry.idle.splice(0)) closeOne(conn);
    }
    this.#idleCount = 0;
    for (const c of [...this.#inUse]) closeOne(c);
    this.#inUse.clear();
    await Promise.all(closing);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): ConnectionPoolStats {
    return {
      idle: this.#idleCount,
      active: this.#inUse.size,
      dialed: this.#dialed,
      reused: this.#reused,
      evicted: this.#evicted,
      waiting: this.#waiting,
    };
  }

  // ---- internals ----

  #entry(address: string): Entry<C> {
    let e = this.#entries.get(address);
    if (e === undefined) {
      e = { address, idle: [], open: 0, waiters: [] };
      this.#entries.set(address, e);
    }
    return e;
  }

  /** Pops idle connections, newest first, closing the dead ones passed on the way. */
  #takeIdle(entry: Entry<C>): Connection<C> | null {
    const idle = entry.idle;
    while (idle.length > 0) {
      const { conn } = idle.pop()!;
      this.#idleCount--;
      if (conn.isActive() && conn.reader.length === 0) return conn;
      this.#evicted++;
      conn.close();
    }
    return null;
  }

  /** `reportMs`: the timeout named in a PoolTimeoutError (a waiter's whole timeout, of which `timeout` is what is left). */
  #dialFor(entry: Entry<C>, timeout: number, signal: AbortSignal | undefined, reportMs = timeout): Promise<Connection<C>> {
    entry.open++;
    this.#dialed++;
    // One controller per dial, aborted by the caller's signal (or the pool's dial.signal), the timeout or
    // close(). Listeners go when the dial settles (AbortSignal.any would tie every dial to a long-lived
    // signal, and such combined signals leak in Node: nodejs/node#55351).
    const ac = new AbortController();
    let poolReason: Error | undefined; // the PoolTimeoutError or PoolClosedError when the pool aborted it
    const abortByPool = (e: Error) => {
      poolReason ??= e;
      ac.abort(e);
    };
    const callers = [signal, this.#dial.signal].filter((x): x is AbortSignal => x !== undefined);
    const onAbort = (ev: Event) => ac.abort((ev.target as AbortSignal).reason);
    for (const sig of callers) {
      if (sig.aborted) ac.abort(sig.reason);
      else sig.addEventListener('abort', onAbort, { once: true });
    }
    const timer = timeout > 0 ? setTimeout(() => abortByPool(new PoolTimeoutError(entry.address, reportMs)), timeout) : undefined;
    this.#dialing.add(abortByPool);
    const settled = () => {
      clearTimeout(timer);
      for (const sig of callers) sig.removeEventListener('abort', onAbort);
      this.#dialing.delete(abortByPool);
    };
    return dialConnection<C>(this.#network, entry.address, { ...this.#dial, signal: ac.signal }).then(
      (conn) => {
        settled();
        (conn as Pooled<C>)[kPoolEntry] = entry;
        // When a pooled connection is gone, its slot frees; a dead idle one leaves the stack at once.
        conn.addCloseCallback(this.#onConnClosed);
        if (this.#closed) {
          conn.close();
          throw new PoolClosedError();
        }
        this.#inUse.add(conn);
        return conn;
      },
      (err: unknown) => {
        settled();
        entry.open--;
        this.#serveWaiters(entry);
        // The caller's abort stays an AbortError; a dial failing after close() is refused like any get()
        // after close; one our own timer aborted is a pool timeout.
        if (callers.some((x) => x.aborted)) throw err;
        if (this.#closed) throw new PoolClosedError();
        if (poolReason !== undefined) throw poolReason;
        throw err;
      },
    );
  }

  readonly #onConnClosed = (conn: Connection<C>): void => {
    const entry = (conn as Pooled<C>)[kPoolEntry]!;
    entry.open--;
    this.#inUse.delete(conn);
    const i = entry.idle.findIndex((x) => x.conn === conn);
    if (i >= 0) {
      entry.idle.splice(i, 1);
      this.#idleCount--;
      this.#evicted++;
    }
    this.#serveWaiters(entry);
  };

  #wait(entry: Entry<C>, timeout: number, signal: AbortSignal | undefined): Promise<Connection<C>> {
    const fields = { timeout, deadline: timeout > 0 ? Date.now() + timeout : 0, signal };
    this.#waiting++;
    return waitInQueue<Connection<C>, Waiter<C>>(entry.waiters, fields, timeout, () => new PoolTimeoutError(entry.address, timeout), signal, () => this.#waiting--);
  }

  #nextWaiter(entry: Entry<C>): Waiter<C> | null {
    const w = entry.waiters.shift();
    if (w === undefined) return null;
    this.#waiting--;
    return w;
  }

  /** A slot freed: the first waiters get idle connections or new dials, in order. */
  #serveWaiters(entry: Entry<C>): void {
    while (!this.#closed && entry.waiters.length > 0) {
      const conn = this.#takeIdle(entry);
      if (conn !== null) {
        const w = this.#nextWaiter(entry)!;
        this.#reused++;
        this.#inUse.add(conn);
        w.resolve(conn);
        continue;
      }
      if (entry.open >= this.#maxActive) return;
      const w = this.#nextWaiter(entry)!;
      // The rest of the waiter's timeout and its signal bound the dial too: they bound the whole get().
      // (Out of the queue, its own timer and abort listener are no-ops; they go at resolve/reject.)
      const left = w.deadline > 0 ? Math.max(1, w.deadline - Date.now()) : 0;
      this.#dialFor(entry, left, w.signal, w.timeout).then(w.resolve, w.reject);
    }
  }

  #armSweep(): void {
    if (this.#sweep !== null || this.#idleTimeout === 0 || this.#closed) return;
    const interval = Math.max(10, Math.min(this.#idleTimeout >> 1, 1000));
    this.#sweep = setTimeout(this.#runSweep, interval).unref();
  }

  /** One shared timer: closes idle connections past their deadline, oldest first, then re-arms while any are idle. */
  readonly #runSweep = (): void => {
    this.#sweep = null;
    const now = Date.now();
    for (const entry of this.#entries.values()) {
      const idle = entry.idle;
      let expired = 0;
      while (expired < idle.length && idle[expired]!.deadline <= now) expired++;
      if (expired === 0) continue;
      for (const { conn } of idle.splice(0, expired)) {
        this.#idleCount--;
        this.#evicted++;
        conn.close();
      }
    }
    if (this.#idleCount > 0) this.#armSweep();
  };
}
