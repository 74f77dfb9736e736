// createProxy(): an EventLoop whose onConnect dials the upstream for each client, after which relay.ts
// forwards bytes both ways without copying. It stands on the transport's ServerFront (serve, address,
// one memoized shutdown, asyncDispose); its shutdown drains the client connections (their close
// callbacks close the upstreams) and waits until every upstream connection is gone too.
import type { AddressInfo } from 'node:net';
import { checkMs } from '@nocopy/transport/util';
import { Dialer, EventLoop, InvalidOptionError, ServerFront, ShutdownError, type Connection, type ConnectionOptions } from '@nocopy/transport';
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

export interface ProxyShutdownOptions {
  /** How long connections may take to finish what they are forwarding, in ms; then they are destroyed. Default 5000. */
  timeout?: number;
}

/** @deprecated The options of close(), the old name of shutdown(): use ProxyShutdownOptions. */
export type ProxyCloseOptions = ProxyShutdownOptions;

export class TcpProxy extends ServerFront<ProxyShutdownOptions> {
  /** The upstream address, as a string. */
  readonly upstream: string;
  /** Shared by every Relay of this proxy: the byte counters and the error sink. */
  readonly #host: RelayHost;
  readonly #reported = new WeakSet<object>();
  readonly #loop: EventLoop<Relay>;
  readonly #dialer: Dialer<Relay>;
  readonly #target: ResolvedUpstream;
  readonly #onError: ProxyErrorHandler;
  readonly #upstreams = new Set<Connection<Relay>>();
  /** Aborts dials still running once shutdown() has closed their clients. */
  readonly #dials = new AbortController();
  #dialing = 0;
  #dialFailures = 0;
  #settled: (() => void) | null = null;

  /** Use createProxy(), which also starts listening. */
  constructor(options: ProxyOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
    const target = resolveUpstream(options.upstream);
    const onError = options.onError ?? logToStderr;
    if (typeof onError !== 'function') throw new InvalidOptionError('onError', onError, 'a function');
    // The loop's handlers run only once connections arrive, after the constructor: `self` is set by then.
    let self!: TcpProxy;
    const host: RelayHost = {
      bytesUp: 0,
      bytesDown: 0,
      report: (error, relay) => self.#report(error, relay),
    };
    const conn: ConnectionOptions<Relay> = {
      allowHalfOpen: true,
      idleTimeout: options.idleTimeout ?? 0,
      writeTimeout: options.writeTimeout ?? 0,
      maxInboundBytes: options.maxInboundBytes ?? DEFAULT_MAX_INBOUND,
      maxOutboundBytes: options.maxOutboundBytes ?? DEFAULT_MAX_OUTBOUND,
      onDisconnect,
      onError: (error, c) => self.#onConnError(error, c),
    };
    if (options.pool !== undefined) conn.pool = options.pool;
    const loop = new EventLoop<Relay>(forward, {
      ...conn,
      maxConnections: options.maxConnections ?? Infinity,
      onPrepare: (c) => new Relay('client', host, describePeer(c.remoteAddress, c.remotePort)),
      onConnect: (relay, c) => self.#connect(relay, c),
    });
    super(loop);
    self = this;
    this.#host = host;
    this.#loop = loop;
    this.#target = target;
    this.upstream = target.label;
    this.#onError = onError;
    this.#dialer = new Dialer<Relay>({ ...conn, onRequest: forward, timeout: checkMs('dialTimeout', options.dialTimeout, DEFAULT_DIAL_TIMEOUT) });
  }

  /**
   * Starts accepting clients on `{ host, port }` (host defaults to 127.0.0.1, port to 0: any) or
   * `{ path }` (a Unix socket); resolves with the bound address.
   */
  override async listen(options: ProxyOptions['listen'] = {}, backlog?: number): Promise<AddressInfo | string> {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('listen', options, '{ host, port } or { path }');
    if ('path' in options) return super.listen({ path: options.path, backlog });
    return super.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0, backlog });
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
   * shutdown() (ServerFront): stops accepting; client connections with nothing in flight close at
   * once, the others when their forwarding settles or at the deadline (`timeout`, default 5000 ms);
   * each client's upstream is closed with it. Resolves when every connection is closed; calling it
   * again returns the same promise.
   */
  protected stopServer(options: ProxyShutdownOptions): Promise<void> {
    return this.#close(checkMs('timeout', options.timeout, 5000));
  }

  /** The old name of shutdown(), kept as an alias: the same memoized promise. */
  close(options: ProxyShutdownOptions = {}): Promise<void> {
    return this.shutdown(options);
  }

  /** One error can reach both places that report (the rejected forwarding and the upstream's close callback). */
  #report(error: unknown, relay: Relay): void {
    if (typeof error === 'object' && error !== null) {
      if (this.#reported.has(error)) return;
      this.#reported.add(error);
    }
    this.#emit(error, relay.role, relay.client);
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
  #onConnError(error: unknown, conn: Connection<Relay>): void {
    if (!isNotable(error)) return;
    const owner = ownerOf(error, conn);
    this.#host.report(error, owner.ctx, owner);
  }
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
