// createProxy(): an EventLoop whose onConnect dials the upstream for each client, after which relay.ts
// forwards bytes both ways without copying. Shutdown stops accepting, drains the client connections
// (their close callbacks close the upstreams) and waits until every upstream connection is gone too.
import type { AddressInfo, Server } from 'node:net';
import { checkMs } from '@nocopy/transport/util';
import { Dialer, EventLoop, InvalidOptionError, ShutdownError, type Connection, type ConnectionOptions } from '@nocopy/transport';
import { Relay, type RelayHost, closePartner, forward, forwardEof, isNotable, onDisconnect, ownerOf } from './relay.js';
import {
  DEFAULT_DIAL_TIMEOUT,
  DEFAULT_MAX_INBOUND,
  DEFAULT_MAX_OUTBOUND,
  type ProxyErrorHandler,
  type ProxyOptions,
  type ProxyErrorStage,
  type ResolvedUpstream,
  describePeer,
  logToStderr,
  resolveUpstream,
} from './options.js';

export interface ProxyStats {
  /** Open client connections. */
  clients: number;
  /** Open upstream connections. */
  upstreams: number;
  /** Upstream dials in progress. */
  dialing: number;
  /** Client connections accepted since start. */
  accepted: number;
  /** Client connections refused (maxConnections, or during close). */
  refused: number;
  /** Upstream dials that failed (their clients were closed). */
  dialFailures: number;
  /** Bytes forwarded from clients to upstreams. */
  bytesUp: number;
  /** Bytes forwarded from upstreams to clients. */
  bytesDown: number;
  /**
   * Bytes the proxy holds for established pairs: input not yet forwarded plus output not yet taken
   * by the kernel, both directions. Bounded by about 2 x (maxInboundBytes + maxOutboundBytes) per pair.
   */
  bufferedBytes: number;
}

export interface ProxyCloseOptions {
  /** How long connections may take to finish what they are forwarding, in ms; then they are destroyed. Default 5000. */
  timeout?: number;
}

export class TcpProxy {
  /** The upstream address, as a string. */
  readonly upstream: string;
  /** Shared by every Relay of this proxy: counters, the error sink, the flush sentinel. */
  readonly #host: RelayHost = {
    bytesUp: 0,
    bytesDown: 0,
    report: (error, relay) => {
      // One error can reach both places that report (the rejected forwarding and the upstream's close callback).
      if (typeof error === 'object' && error !== null) {
        if (this.#reported.has(error)) return;
        this.#reported.add(error);
      }
      this.#emit(error, relay.role, relay.client);
    },
  };
  readonly #reported = new WeakSet<object>();
  readonly #loop: EventLoop<Relay>;
  readonly #dialer: Dialer<Relay>;
  readonly #target: ResolvedUpstream;
  readonly #onError: ProxyErrorHandler;
  readonly #upstreams = new Set<Connection<Relay>>();
  /** Aborts dials still running once close() has closed their clients. */
  readonly #dials = new AbortController();
  #dialing = 0;
  #dialFailures = 0;
  #closing: Promise<void> | null = null;
  #settled: (() => void) | null = null;

  /** Use createProxy(), which also starts listening. */
  constructor(options: ProxyOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
    this.#target = resolveUpstream(options.upstream);
    this.upstream = this.#target.label;
    const onError = options.onError ?? logToStderr;
    if (typeof onError !== 'function') throw new InvalidOptionError('onError', onError, 'a function');
    this.#onError = onError;
    const conn: ConnectionOptions<Relay> = {
      allowHalfOpen: true,
      idleTimeout: options.idleTimeout ?? 0,
      writeTimeout: options.writeTimeout ?? 0,
      maxInboundBytes: options.maxInboundBytes ?? DEFAULT_MAX_INBOUND,
      maxOutboundBytes: options.maxOutboundBytes ?? DEFAULT_MAX_OUTBOUND,
      onDisconnect,
      onError: this.#onConnError,
    };
    if (options.pool !== undefined) conn.pool = options.pool;
    this.#loop = new EventLoop<Relay>(forward, {
      ...conn,
      maxConnections: options.maxConnections ?? Infinity,
      onPrepare: (c) => new Relay('client', this.#host, describePeer(c.remoteAddress, c.remotePort)),
      onConnect: (relay, c) => this.#connect(relay, c),
    });
    this.#dialer = new Dialer<Relay>({ ...conn, onRequest: forward, timeout: checkMs('dialTimeout', options.dialTimeout, DEFAULT_DIAL_TIMEOUT) });
  }

  /** Starts accepting clients. */
  async listen(options: ProxyOptions['listen'] = {}, backlog?: number): Promise<void> {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('listen', options, '{ host, port } or { path }');
    if ('path' in options) await this.#loop.listen({ path: options.path, backlog });
    else await this.#loop.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0, backlog });
  }

  /** Forwards clients accepted by an existing server (a cluster worker's, see @nocopy/transport/cluster) instead of listen(). */
  serve(server: Server): this {
    this.#loop.serve(server);
    return this;
  }

  /** The bound address (a Unix socket path, or host, port and family), null before listening. */
  address(): AddressInfo | string | null {
    return this.#loop.address();
  }

  stats(): ProxyStats {
    const s = this.#loop.stats();
    return {
      clients: s.connections,
      upstreams: this.#upstreams.size,
      dialing: this.#dialing,
      accepted: s.accepted,
      refused: s.refused,
      dialFailures: this.#dialFailures,
      bytesUp: this.#host.bytesUp,
      bytesDown: this.#host.bytesDown,
      bufferedBytes: this.#buffered(),
    };
  }

  #buffered(): number {
    let n = 0;
    for (const up of this.#upstreams) {
      n += held(up);
      const client = up.ctx.peer;
      if (client !== null) n += held(client);
    }
    return n;
  }

  /**
   * Stops accepting; client connections with nothing in flight close at once, the others when their
   * forwarding settles or at the deadline; each client's upstream is closed with it. Resolves when
   * every connection is closed. Idempotent.
   */
  close(options: ProxyCloseOptions = {}): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close(checkMs('timeout', options.timeout, 5000));
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #emit(error: unknown, stage: ProxyErrorStage, client: string): void {
    try {
      this.#onError(error, { stage, client, upstream: this.upstream });
    } catch {
      // An onError that throws has nowhere further to report to.
    }
  }

  async #close(timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    await this.#loop.shutdown({ timeout });
    // Every client is closed: dials still running are for nobody. Upstreams close with their
    // clients; a graceful close ends once the socket has sent its queue.
    this.#dials.abort();
    if (this.#dialing > 0 || this.#upstreams.size > 0) {
      const settled = new Promise<void>((resolve) => (this.#settled = resolve));
      const left = Math.max(deadline - Date.now(), 0);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, left, true)));
      const timedOut = await Promise.race([settled.then(() => false), late]);
      clearTimeout(timer);
      if (timedOut) {
        for (const up of this.#upstreams) up.close(new ShutdownError('the proxy shutdown deadline passed'));
        await new Promise<void>((resolve) => {
          this.#settled = resolve;
          this.#checkSettled();
        });
      }
    }
  }

  #checkSettled(): void {
    if (this.#settled !== null && this.#dialing === 0 && this.#upstreams.size === 0) {
      const done = this.#settled;
      this.#settled = null;
      done();
    }
  }

  /** onConnect: dials the upstream; the client's onRequest (forwarding) starts when this settles. */
  async #connect(relay: Relay, client: Connection<Relay>): Promise<void> {
    const t = this.#target;
    this.#dialing++;
    let up: Connection<Relay>;
    try {
      const ctx = new Relay('upstream', this.#host, relay.client, client);
      up = await this.#dialer.dial(t.network, t.address, { ctx, signal: this.#dials.signal });
    } catch (err) {
      this.#dialing--;
      this.#checkSettled();
      if (!this.#dials.signal.aborted) {
        this.#dialFailures++;
        this.#emit(err, 'dial', relay.client);
      }
      client.close(err);
      return;
    }
    this.#dialing--;
    this.#upstreams.add(up);
    up.addCloseCallback(this.#onUpstreamClosed); // registered first, so it runs last
    up.addCloseCallback(closePartner);
    relay.peer = up;
    // Runs at once if the client is already gone.
    client.addCloseCallback(closePartner);
    // A FIN that arrived during the dial was not reported to onDisconnect (the connection was not
    // ready yet): pass it on here, or after the input before it (forward() sees relay.eof).
    if (!client.closed && client.error === undefined && client.peerEnded) {
      relay.eof = true;
      if (client.reader.length === 0) void forwardEof(relay);
    }
  }

  readonly #onUpstreamClosed = (conn: Connection<Relay>): void => {
    this.#upstreams.delete(conn);
    this.#checkSettled();
  };

  /**
   * Errors thrown or rejected by the handlers: mostly the peer's (its write timed out while this
   * side's forwarding waited for it), reported with the role of the side that failed.
   */
  readonly #onConnError = (error: unknown, conn: Connection<Relay>): void => {
    if (!isNotable(error)) return;
    const owner = ownerOf(error, conn);
    this.#host.report(error, owner.ctx, owner);
  };
}

function held(conn: Connection<Relay>): number {
  return (conn.reader.closed ? 0 : conn.reader.length) + conn.writer.queued;
}

/** A proxy listening on `options.listen`, forwarding every client to `options.upstream`. */
export async function createProxy(options: ProxyOptions): Promise<TcpProxy> {
  const proxy = new TcpProxy(options);
  await proxy.listen(options.listen, options.backlog);
  return proxy;
}
