// The session client: keeps `sessions` sessions open to each server of its target, on the client
// layer (../client/): a resolver names the servers, a subchannel per session dials single-flight
// and reconnects after the shared exponential, jittered backoff, and the balancer picks the session
// that sends next. close() cancels backoffs and dials at once. It never exits the process (tao
// does) and never dials in a loop without delay (getty #97, #121).
import type tls from 'node:tls';
import { type Connection } from '../connection/connection.js';
import { type DialOptions, type Network, dialConnection } from '../dialer.js';
import { InvalidOptionError, NoSessionError, SessionRejectedError, UnavailableError } from '../errors.js';
import { checkCount, checkEnum, checkHostPort, checkMs } from '../util/validate.js';
import type { WebSocketLinkOptions } from './websocket.js';
import { type UdpSocketConfig, type UdpSocketOptions, dialUdp, resolveSocketOptions } from './udp.js';
import { type ReconnectOptions, resolveBackoff } from '../util/backoff.js';
import { type Balancer, resolveBalancer } from '../client/balancer.js';
import { Channel } from '../client/channel.js';
import type { Resolver } from '../client/resolver.js';
import { StaticResolver } from '../client/static-resolver.js';
import type { Subchannel } from '../client/subchannel.js';
import { resolveTarget } from '../client/target.js';
import { type SessionConfig, type SessionOptions, resolveSessionOptions } from './config.js';
import { Session, kFail, kFinished, kInput, kOpen, kOpened } from './session.js';

export type SessionClientOptions<In, Out = In> = SessionOptions<In, Out> &
  Omit<DialOptions<Session<In, Out>>, 'onRequest' | 'ctx' | 'signal' | 'onError' | 'onDisconnect' | 'idleTimeout' | 'tls'> & {
    /** "host:port" (TCP) or a socket path (unix). */
    address?: string;
    /** Several addresses: `sessions` sessions to each. */
    addresses?: string[];
    /** A target string instead ("host:port,host:port", "dns:///name:port", ...: see the client layer). */
    target?: string;
    /** A resolver of one's own instead. */
    resolver?: Resolver;
    /** Which session sends next: 'round-robin' (default), 'least-pending', or a Balancer. */
    balancer?: 'round-robin' | 'least-pending' | Balancer;
    /** Default 'tcp'. */
    network?: Network;
    /** 'tcp' (default: TCP, TLS or a Unix socket, see network and tls), 'udp' (a connected UDP socket per session) or 'websocket' (addresses are ws:// or wss:// URLs). */
    transport?: 'tcp' | 'udp' | 'websocket';
    /** WebSocket options (transport 'websocket'). */
    websocket?: WebSocketLinkOptions;
    /** UDP socket options (transport 'udp'). */
    udp?: UdpSocketOptions;
    /** TLS: true for the defaults (verification on, TLS 1.2 at least), or tls.connect options. */
    tls?: boolean | tls.ConnectionOptions;
    /** Sessions to keep open to each server. Default 1. */
    sessions?: number;
    reconnect?: ReconnectOptions;
  };

export interface SessionClientStats {
  /** Sessions open now. */
  sessions: number;
  /** Dials in progress. */
  connecting: number;
  /** Sessions waiting out a backoff before their next dial. */
  waiting: number;
  /** Servers the target resolves to now. */
  endpoints: number;
  dials: number;
  dialFailures: number;
  /** Sessions opened since start. */
  opened: number;
}

type AnySession = Session<any, any>;

function onRequest(session: AnySession): void | Promise<void> {
  return session[kInput]();
}

function onError(err: unknown, conn: Connection<AnySession | undefined>): void {
  conn.ctx?.[kFail](err);
}

export class SessionClient<In = unknown, Out = In> {
  readonly #cfg: SessionConfig<In, Out>;
  readonly #network: Network;
  readonly #transport: 'tcp' | 'udp' | 'websocket';
  readonly #websocket: WebSocketLinkOptions;
  readonly #udp: UdpSocketConfig | null;
  readonly #dial: DialOptions<any>;
  readonly #channel: Channel<Session<In, Out>>;
  readonly #open = new Set<Session<In, Out>>();
  /** Every session created and not yet finished, with its subchannel. */
  readonly #live = new Map<Session<In, Out>, Subchannel<Session<In, Out>>>();
  /** Sessions waiting for onOpen: their subchannel's dial resolves or fails with it. */
  readonly #opening = new Map<Session<In, Out>, { resolve: (s: Session<In, Out>) => void; reject: (e: unknown) => void }>();
  #closing: Promise<void> | null = null;
  #allGone: (() => void) | null = null;
  #opened = 0;

  constructor(options: SessionClientOptions<In, Out>) {
    const { codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel, address, addresses, target, resolver, balancer, network, sessions, reconnect, transport, udp, websocket, ...dial } =
      options as SessionClientOptions<In, Out> & { idleTimeout?: number };
    this.#cfg = resolveSessionOptions({ codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel });
    const backoff = resolveBackoff(reconnect);
    this.#network = network ?? 'tcp';
    this.#transport = checkEnum('transport', transport, ['tcp', 'udp', 'websocket'] as const, 'tcp');
    this.#websocket = websocket ?? {};
    this.#udp = this.#transport === 'udp' ? resolveSocketOptions(udp ?? {}, false) : null;
    if (heartbeat !== undefined && !('message' in heartbeat)) throw new InvalidOptionError('heartbeat.message', undefined, 'the heartbeat message');
    if (this.#network !== 'tcp' && this.#network !== 'unix') throw new InvalidOptionError('network', network, '"tcp" or "unix"');
    checkMs('timeout', dial.timeout, 10_000);
    this.#dial = { ...dial, onError };
    const n = checkCount('sessions', sessions, 1);
    this.#channel = new Channel<Session<In, Out>>({
      resolver: this.#resolver(address, addresses, target, resolver),
      connectionsPerEndpoint: n,
      balancer: resolveBalancer(balancer),
      backoff,
      outlier: null,
      connector: {
        connect: (a, signal, sub) => this.#connect(a, signal, sub),
        retire: (session) => session.close(),
      },
    });
  }

  #resolver(address: string | undefined, addresses: string[] | undefined, target: string | undefined, resolver: Resolver | undefined): Resolver {
    if (resolver !== undefined) return resolver;
    if (target !== undefined) return resolveTarget(target, { network: this.#network });
    const list = addresses ?? (address !== undefined ? [address] : []);
    if (!Array.isArray(list) || list.length === 0 || list.some((a) => typeof a !== 'string' || a === '')) {
      throw new InvalidOptionError('address', addresses ?? address, 'an address, or a non-empty array of addresses');
    }
    for (const a of list) {
      if (this.#transport === 'websocket') {
        let u: URL | null = null;
        try {
          u = new URL(a);
        } catch {
          // reported below
        }
        if (u === null || (u.protocol !== 'ws:' && u.protocol !== 'wss:')) throw new InvalidOptionError('address', a, 'a ws:// or wss:// URL');
      } else if (this.#network === 'tcp' || this.#transport === 'udp') {
        checkHostPort('address', a);
      }
    }
    return new StaticResolver(list);
  }

  /** The open sessions (onOpen accepted, not closing). */
  sessions(): Session<In, Out>[] {
    return [...this.#open].filter((s) => s.isActive());
  }

  get size(): number {
    return this.#open.size;
  }

  /** The next open session (the balancer's pick: round robin by default); undefined if none is open. */
  session(): Session<In, Out> | undefined {
    for (;;) {
      const sub = this.#channel.pick();
      if (sub === undefined) return undefined;
      const s = sub.link!;
      if (s.isActive()) return s;
      // Closing, its onClose still to come: not a candidate any more.
      this.#channel.lost(sub, s, undefined);
    }
  }

  /** Sends on the next open session. Rejects with NoSessionError when none is open. */
  send(message: Out): Promise<void> {
    const s = this.session();
    if (s === undefined) {
      const p = Promise.reject(new NoSessionError(this.#closing !== null ? 'the session client is closed' : 'no open session'));
      p.catch(() => {});
      return p;
    }
    return s.send(message);
  }

  /** Resolves with an open session, at once or when one opens; rejects on timeout, abort, or close(). */
  ready(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<Session<In, Out>> {
    const s = this.session();
    if (s !== undefined) return Promise.resolve(s);
    if (this.#closing !== null) return Promise.reject(new NoSessionError('the session client is closed'));
    const timeout = checkMs('timeout', options.timeout, 0);
    return this.#channel.wait({ timeout, signal: options.signal ?? null, waitForReady: true }).then(
      (sub) => sub.link!,
      (err: unknown) => {
        throw err instanceof UnavailableError ? new NoSessionError(this.#closing !== null ? 'the session client is closed' : `no session opened within ${timeout} ms`) : err;
      },
    );
  }

  stats(): SessionClientStats {
    const c = this.#channel.stats();
    return { sessions: this.#open.size, connecting: c.connecting, waiting: c.backoff, endpoints: c.endpoints, dials: c.dials, dialFailures: c.dialFailures, opened: this.#opened };
  }

  /** The subchannel's dial: a session, resolved once its onOpen accepted it. */
  async #connect(address: string, signal: AbortSignal, sub: Subchannel<Session<In, Out>>): Promise<Session<In, Out>> {
    const { session, start } = await this.#open1(address, signal);
    if (this.#closing !== null) {
      session.close();
      throw new NoSessionError('the session client is closed');
    }
    this.#live.set(session, sub);
    return new Promise((resolve, reject) => {
      this.#opening.set(session, { resolve, reject });
      const r = session[kOpen]();
      if (r === undefined) start();
      else void r.then(start);
    });
  }

  /** Dials one session; its input starts with `start()`, once onOpen accepted it. */
  async #open1(address: string, signal: AbortSignal): Promise<{ session: Session<In, Out>; start: () => void }> {
    if (this.#transport === 'udp') {
      const link = await dialUdp(checkHostPort('address', address), this.#udp!, this.#cfg.maxInFlight, signal);
      const session = new Session<In, Out>(link, this.#cfg, this, 'udp');
      link.session = session;
      return { session, start: () => link.start() };
    }
    if (this.#transport === 'websocket') {
      // Loaded when first used: `ws` stays out of processes that speak TCP only.
      const { dialWebSocket } = await import('./websocket.js');
      const link = await dialWebSocket(address, { ...this.#websocket, tls: this.#dial.tls, timeout: this.#dial.timeout }, this.#cfg.codec.maxMessageLength, this.#cfg.maxInFlight, signal);
      const session = new Session<In, Out>(link, this.#cfg, this, 'websocket');
      link.session = session;
      return { session, start: () => link.start() };
    }
    // Dialed without onRequest: input waits until onOpen accepted the session.
    const conn = await dialConnection<Session<In, Out>>(this.#network, address, { ...this.#dial, signal });
    const session = new Session<In, Out>(conn, this.#cfg, this);
    conn.ctx = session;
    return { session, start: () => conn.setOnRequest(onRequest) };
  }

  /** @internal */
  [kOpened](s: Session<In, Out>): void {
    this.#open.add(s);
    this.#opened++;
    const opening = this.#opening.get(s);
    this.#opening.delete(s);
    opening?.resolve(s);
  }

  /** @internal */
  [kFinished](s: Session<In, Out>): void {
    this.#open.delete(s);
    const sub = this.#live.get(s);
    this.#live.delete(s);
    const opening = this.#opening.get(s);
    this.#opening.delete(s);
    // Refused by onOpen, or gone before it accepted: the dial failed (the subchannel backs off).
    if (opening !== undefined) opening.reject(new SessionRejectedError());
    else if (sub !== undefined) this.#channel.lost(sub, s, undefined);
    if (this.#live.size === 0) this.#allGone?.();
  }

  /** Stops reconnecting, cancels dials, closes every session; resolves once every onClose has run. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = (async () => {
      const closed = this.#channel.close(new NoSessionError('the session client is closed'));
      for (const s of this.#live.keys()) s.close();
      await closed;
      if (this.#live.size > 0) await new Promise<void>((resolve) => (this.#allGone = resolve));
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function createSessionClient<In, Out = In>(options: SessionClientOptions<In, Out>): SessionClient<In, Out> {
  return new SessionClient<In, Out>(options);
}
