// EventLoop: the server side. It serves net/tls servers (its own or given ones), wraps each accepted
// socket in a Connection, runs the hooks in their documented order, enforces the connection limits
// and the input budget, and shuts down gracefully.
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { Connection, type LocalAddress } from './connection/connection.js';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { type ReadTarget, adopt, canAdopt, onreadFor } from './connection/pooled-reads.js';
import { InvalidOptionError, ShutdownError } from './errors.js';
import { type ConnectionOptions, type OnRequest, type ResolvedConnectionOptions, resolveConnectionOptions } from './options.js';
import { checkCount, checkEnum, checkFunction, checkMs } from './util/validate.js';
import { kBudget, kCreate, kDestroy, kDrain, kReport, kStart } from './connection/symbols.js';
import { InboundBudget, defaultInboundTotal } from './inbound-budget.js';

export interface EventLoopOptions<C = unknown> extends ConnectionOptions<C> {
  /** Accepted, before any data is read: set options or close; returns the connection's ctx. */
  onPrepare?: (conn: Connection<C>) => C;
  /** After onPrepare; may be async, may read and write. onRequest waits for it. A returned value replaces ctx. */
  onConnect?: (ctx: C, conn: Connection<C>) => C | void | Promise<C | void>;
  /**
   * At shutdown, for each connection: return true when the connection drains itself (its protocol
   * told the peer to go, and its owner closes it once the peer's work is done; the shutdown deadline
   * still destroys it). Otherwise, or without this hook, the loop drains it: stops reading new
   * input, answers what was received, then closes.
   */
  onShutdown?: (ctx: C, conn: Connection<C>) => boolean;
  /** Live connections at most; the next one is closed at once and counted in stats().refused. Default Infinity. */
  maxConnections?: number;
  /** Live connections from one remote IP address at most; the next is refused at once. Default Infinity. */
  maxConnectionsPerAddress?: number;
  /** For servers made by listen({ tls }): a TLS handshake not finished in this many ms drops the socket. Default 10000. */
  tlsHandshakeTimeout?: number;
  /**
   * Input all connections may buffer together, in bytes (see README: memory). Past 3/4 of it,
   * connections holding partial input stop reading; at it, those holding the most are closed with
   * InboundBudgetError. Default: 1/64 of the machine's (or cgroup's) memory, 32 MiB to 256 MiB.
   * Infinity turns it off.
   */
  maxInboundBytesTotal?: number;
  /**
   * How accepted TCP and Unix connections of servers made by listen() read: 'onread' reads straight
   * into pooled nodes (see README: read path), 'link' links each chunk Node allocates. Default
   * 'onread'; TLS connections, servers given to serve() without pauseOnConnect, and Node versions
   * where the onread path is unavailable use 'link'.
   */
  readMode?: 'onread' | 'link';
}

export interface ListenOptions {
  port?: number;
  host?: string;
  /** A Unix socket path instead of a TCP port. */
  path?: string;
  backlog?: number;
  /** Serve TLS with these options (key, cert, ...) instead of plain TCP. */
  tls?: tls.TlsOptions;
}

export interface ShutdownOptions {
  /** Deadline for running handlers and output to finish, in ms; then what is left is destroyed. Default 30000. */
  timeout?: number;
  /** Aborting it ends the grace period at once, like the timeout. */
  signal?: AbortSignal;
}

export interface EventLoopStats {
  /** Live connections. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Connections refused because of maxConnections or shutdown. */
  refused: number;
  /** Connections closed. */
  closed: number;
  /** Input buffered by all connections now, in bytes. */
  inboundBytes: number;
  /** Connections closed because the total input budget was reached. */
  inboundEvicted: number;
  /** Connections not reading now because of the total input budget. */
  inboundPaused: number;
}

type ServerWithLoop = Server & { [kLoop]?: EventLoop<any> };

// Listeners bound to one address (not a wildcard): the local address of every socket they accept.
const listenerAddress = new WeakMap<Server, LocalAddress | null>();

/** The accepted socket's local address when its listener has only one, else null (ask the socket). */
function localOf(socket: Socket): LocalAddress | null {
  const server = (socket as Socket & { server?: Server }).server;
  if (server === undefined || server === null) return null;
  let local = listenerAddress.get(server);
  if (local === undefined) {
    const a = server.address();
    local = a === null || typeof a === 'string' || a.address === '0.0.0.0' || a.address === '::' ? null : { address: a.address, port: a.port };
    listenerAddress.set(server, local);
    // Listening again (after a close) may bind another address.
    server.once('listening', () => listenerAddress.delete(server));
  }
  return local;
}
const kLoop = Symbol('nocopy.eventLoop');
const kRawSockets = Symbol('nocopy.rawSockets');
const kAdmitRaw = Symbol('nocopy.admitRaw');
const kAccept = Symbol('nocopy.accept');
type RawSocket = Socket & { [kRawSockets]?: Set<Socket> };

export class EventLoop<C = unknown> {
  readonly #onRequest: OnRequest<C>;
  readonly #opts: ResolvedConnectionOptions<C>;
  readonly #onPrepare: ((conn: Connection<C>) => C) | undefined;
  readonly #onConnect: EventLoopOptions<C>['onConnect'];
  readonly #onShutdown: EventLoopOptions<C>['onShutdown'];
  readonly #maxConnections: number;
  readonly #maxPerAddress: number;
  readonly #tlsHandshakeTimeout: number;
  readonly #budget: InboundBudget | null;
  readonly #readMode: 'onread' | 'link';
  readonly #perAddress = new Map<string, number>();
  readonly #conns = new Set<Connection<C>>();
  readonly #servers = new Set<Server>();
  readonly #ownServers = new Set<Server>();
  /** @internal The TCP sockets under TLS servers, so that shutdown can end handshakes still in progress. */
  readonly [kRawSockets] = new Set<Socket>();
  #accepted = 0;
  #refused = 0;
  #closedCount = 0;
  #shutdown: Promise<void> | null = null;
  #allClosed: (() => void) | null = null;
  readonly #onFinish = (conn: Connection<C>): void => {
    this.#conns.delete(conn);
    const ip = conn.remoteAddress;
    if (ip !== undefined && this.#maxPerAddress !== Infinity) {
      const n = (this.#perAddress.get(ip) ?? 1) - 1;
      if (n > 0) this.#perAddress.set(ip, n);
      else this.#perAddress.delete(ip);
    }
    this.#closedCount++;
    if (this.#conns.size === 0) this.#allClosed?.();
  };

  constructor(onRequest: OnRequest<C>, options: EventLoopOptions<C> = {}) {
    if (typeof onRequest !== 'function') throw new InvalidOptionError('onRequest', onRequest, 'a function');
    checkFunction('onPrepare', options.onPrepare);
    checkFunction('onConnect', options.onConnect);
    checkFunction('onShutdown', options.onShutdown);
    this.#onShutdown = options.onShutdown;
    const max = checkCount('maxConnections', options.maxConnections, Infinity, true);
    this.#onRequest = onRequest;
    this.#opts = resolveConnectionOptions(options);
    this.#onPrepare = options.onPrepare;
    this.#onConnect = options.onConnect;
    this.#maxConnections = max;
    const perAddress = checkCount('maxConnectionsPerAddress', options.maxConnectionsPerAddress, Infinity, true);
    this.#maxPerAddress = perAddress;
    this.#tlsHandshakeTimeout = checkMs('tlsHandshakeTimeout', options.tlsHandshakeTimeout, 10_000);
    const total = checkCount('maxInboundBytesTotal', options.maxInboundBytesTotal, defaultInboundTotal(), true);
    this.#budget = total === Infinity ? null : new InboundBudget(total);
    this.#readMode = checkEnum('readMode', options.readMode, ['onread', 'link'] as const, 'onread');
  }

  /** The total input budget in bytes (Infinity when off). */
  get maxInboundBytesTotal(): number {
    return this.#budget?.limit ?? Infinity;
  }

  /** Live connections. */
  get connections(): number {
    return this.#conns.size;
  }

  stats(): EventLoopStats {
    const b = this.#budget;
    return {
      connections: this.#conns.size,
      accepted: this.#accepted,
      refused: this.#refused,
      closed: this.#closedCount,
      inboundBytes: b?.total ?? 0,
      inboundEvicted: b?.evicted ?? 0,
      inboundPaused: b?.paused ?? 0,
    };
  }

  /** Serves connections accepted by `server` (a net.Server, or a tls.Server: served after the handshake). */
  serve(server: Server): this {
    if (this.#shutdown !== null) throw new ShutdownError();
    const s = server as ServerWithLoop;
    if (s[kLoop] !== undefined) throw new InvalidOptionError('server', 'a server', 'not served by another EventLoop');
    s[kLoop] = this;
    this.#servers.add(server);
    if (server instanceof tls.Server) {
      server.on('secureConnection', onServerConnection);
      server.on('connection', onTlsRawConnection);
      server.on('tlsClientError', onTlsClientError);
    } else {
      server.on('connection', onServerConnection);
    }
    return this;
  }

  /** Creates a server (TCP, TLS with `tls`, or a Unix socket with `path`), serves it and listens. Resolves with its address. */
  async listen(options: ListenOptions = {}): Promise<AddressInfo | string> {
    // A TLS server is not created half-open: a client that leaves during the handshake would leave a
    // half-open socket that nobody ends (server.close() then never completes). [kAccept]() makes the
    // socket half-open once the handshake is done.
    // TLS: at least TLS 1.2 and a bounded handshake, unless the caller's options say otherwise.
    const server = options.tls
      ? tls.createServer({ minVersion: 'TLSv1.2', handshakeTimeout: this.#tlsHandshakeTimeout, ...options.tls })
      : net.createServer({ allowHalfOpen: true, pauseOnConnect: this.#readMode === 'onread' });
    this.serve(server);
    this.#ownServers.add(server);
    const listening = once(server, 'listening');
    if (options.path !== undefined) server.listen({ path: options.path, backlog: options.backlog });
    else server.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1', backlog: options.backlog });
    await Promise.race([listening, once(server, 'error').then(([err]) => Promise.reject(err))]);
    return server.address()!;
  }

  /** The address of the first server this loop listens on. */
  address(): AddressInfo | string | null {
    for (const s of this.#servers) {
      const a = s.address();
      if (a !== null) return a;
    }
    return null;
  }

  /**
   * @internal
   * TLS servers: a TCP socket is checked against the limits before its handshake, so a loop that is
   * full does no handshake (crypto) work for it and drops it at once, not after tlsHandshakeTimeout.
   * Returns false if refused.
   */
  [kAdmitRaw](raw: Socket): boolean {
    const ip = raw.remoteAddress;
    const fromIp = ip === undefined ? 0 : this.#perAddress.get(ip) ?? 0;
    if (this.#conns.size < this.#maxConnections && fromIp < this.#maxPerAddress) return true;
    this.#refused++;
    raw.destroy();
    return false;
  }

  /** @internal Called for each accepted socket (shared listener, see onServerConnection). */
  [kAccept](accepted: Socket): void {
    let socket = accepted;
    const ip = socket.remoteAddress;
    const fromIp = ip === undefined ? 0 : this.#perAddress.get(ip) ?? 0;
    if (this.#shutdown !== null || this.#conns.size >= this.#maxConnections || fromIp >= this.#maxPerAddress) {
      this.#refused++;
      socket.destroy();
      return;
    }
    // Unix sockets have no remote address: only maxConnections applies to them.
    if (ip !== undefined && this.#maxPerAddress !== Infinity) this.#perAddress.set(ip, fromIp + 1);
    this.#accepted++;
    const local = localOf(accepted);
    let input: LinkBuffer | null = null;
    const target: ReadTarget = { current: null };
    if (this.#readMode === 'onread' && canAdopt(socket)) {
      input = new LinkBuffer({ pool: this.#opts.pool });
      socket = adopt(socket, onreadFor(input, target, this.#opts.maxInboundBytes));
    }
    // The Connection answers what arrived before the peer's FIN and then closes itself (half-close),
    // so Node must not end our side on 'end' (also for TLS and for servers given to serve()).
    socket.allowHalfOpen = true;
    if (this.#opts.noDelay && ip !== undefined) socket.setNoDelay(true);
    const conn = Connection[kCreate]<C>(socket, this.#opts, this.#onRequest, undefined as C, this.#onFinish, input, local);
    target.current = conn;
    this.#conns.add(conn);
    if (this.#budget !== null) conn[kBudget](this.#budget);
    if (this.#onPrepare !== undefined) {
      try {
        conn.ctx = this.#onPrepare(conn);
      } catch (err) {
        conn[kReport](err); // a throwing onPrepare is a handler error like any other, not a silent close
        conn.close(err);
        return;
      }
    }
    conn[kStart](this.#onConnect);
  }

  /**
   * Stops accepting, closes idle connections at once, lets running handlers finish and output flush
   * until the deadline, then destroys what is left. Resolves when every connection is closed.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    // Bad options throw here, before any promise exists (as Node's own APIs validate arguments), on
    // every call: the promise itself only ever resolves.
    const timeout = checkMs('timeout', options.timeout, 30_000);
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', signal, 'an AbortSignal');
    if (this.#shutdown !== null) return this.#shutdown;
    this.#shutdown = this.#runShutdown(timeout, signal);
    return this.#shutdown;
  }

  async #runShutdown(timeout: number, signal: AbortSignal | undefined): Promise<void> {
    const serversClosed = [...this.#servers].map((s) => new Promise<void>((resolve) => {
      s.off('connection', onServerConnection);
      s.off('secureConnection', onServerConnection);
      s.off('connection', onTlsRawConnection);
      s.off('tlsClientError', onTlsClientError);
      if (this.#ownServers.has(s) && s.listening) s.close(() => resolve());
      else resolve();
    }));
    if (this.#conns.size > 0) {
      const allClosed = new Promise<void>((resolve) => (this.#allClosed = resolve));
      const self = this.#onShutdown;
      for (const conn of [...this.#conns]) if (self === undefined || !drainsItself(self, conn)) conn[kDrain]();
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeout);
        if (signal !== undefined) {
          onAbort = resolve;
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', onAbort, { once: true });
        }
      });
      await Promise.race([allClosed, deadline]);
      clearTimeout(timer);
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
      if (this.#conns.size > 0) {
        const err = new ShutdownError('the shutdown deadline passed');
        const left = [...this.#conns];
        // Wait for the sockets, not for the connections to finish: a handler that never settles keeps
        // its close callbacks (and the buffers it may still read) waiting, and must not hold shutdown forever.
        await Promise.all(left.map((c) => c[kDestroy](err)));
      }
    }
    // TLS handshakes still in progress would be refused when done; end them, or server.close() waits
    // for them (up to the TLS handshakeTimeout, 120 s by default). Sockets of served connections are closed by now.
    for (const raw of this[kRawSockets]) raw.destroy();
    await Promise.all(serversClosed);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

/** The onShutdown hook's answer; a hook that throws leaves the connection to the loop's drain. */
function drainsItself<C>(hook: (ctx: C, conn: Connection<C>) => boolean, conn: Connection<C>): boolean {
  try {
    return hook(conn.ctx, conn) === true;
  } catch (err) {
    conn[kReport](err);
    return false;
  }
}

function onServerConnection(this: ServerWithLoop, socket: Socket): void {
  this[kLoop]![kAccept](socket);
}

function onTlsRawConnection(this: ServerWithLoop, raw: RawSocket): void {
  if (!this[kLoop]![kAdmitRaw](raw)) return;
  const set = this[kLoop]![kRawSockets];
  set.add(raw);
  raw[kRawSockets] = set;
  raw.once('close', onRawSocketClose);
}

/**
 * A handshake that failed or timed out. Node (20) reports a handshakeTimeout only as this event and
 * leaves the socket open, so a client that connects and never says hello was never dropped: end it.
 */
function onTlsClientError(_err: Error, socket: Socket): void {
  socket.destroy();
}

function onRawSocketClose(this: RawSocket): void {
  this[kRawSockets]!.delete(this);
}
