// The session client: keeps `sessions` sessions open to one or more addresses. Each slot dials
// single-flight; a failed dial or a closed session schedules the next dial after an exponential,
// jittered backoff (backoff.ts). close() cancels backoffs and dials at once. It never exits the
// process (tao does) and never dials in a loop without delay (getty #97, #121).
import type tls from 'node:tls';
import { type Connection } from '../connection.js';
import { type DialOptions, type Network, dialConnection } from '../dialer.js';
import { AbortError, InvalidOptionError, NoSessionError } from '../errors.js';
import { checkCount, checkEnum, checkHostPort, checkMs } from '../validate.js';
import type { WebSocketLinkOptions } from './websocket.js';
import { type UdpSocketConfig, type UdpSocketOptions, dialUdp, resolveSocketOptions } from './udp.js';
import { type Backoff, type ReconnectOptions, backoffDelay, resolveBackoff } from '../client/backoff.js';
import { type SessionConfig, type SessionOptions, resolveSessionOptions } from './config.js';
import { Session, kFail, kFinished, kInput, kOpen, kOpened } from './session.js';

export type SessionClientOptions<In, Out = In> = SessionOptions<In, Out> &
  Omit<DialOptions<Session<In, Out>>, 'onRequest' | 'ctx' | 'signal' | 'onError' | 'onDisconnect' | 'idleTimeout' | 'tls'> & {
    /** "host:port" (TCP) or a socket path (unix). */
    address?: string;
    /** Several addresses: slot i starts at addresses[i % n] and moves to the next after a failure. */
    addresses?: string[];
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
    /** Sessions to keep open. Default 1. */
    sessions?: number;
    reconnect?: ReconnectOptions;
  };

export interface SessionClientStats {
  /** Sessions open now. */
  sessions: number;
  /** Dials in progress. */
  connecting: number;
  /** Slots waiting out a backoff. */
  waiting: number;
  dials: number;
  dialFailures: number;
  /** Sessions opened since start. */
  opened: number;
}

interface Slot<In, Out> {
  readonly index: number;
  address: number;
  attempt: number;
  session: Session<In, Out> | null;
  openedAt: number;
  dialing: AbortController | null;
  timer: NodeJS.Timeout | null;
}

function onRequest(session: Session<any, any>): void | Promise<void> {
  return session[kInput]();
}

function onError(err: unknown, conn: Connection<Session<any, any> | undefined>): void {
  conn.ctx?.[kFail](err);
}

export class SessionClient<In = unknown, Out = In> {
  readonly #cfg: SessionConfig<In, Out>;
  readonly #backoff: Backoff;
  readonly #network: Network;
  readonly #transport: 'tcp' | 'udp' | 'websocket';
  readonly #websocket: WebSocketLinkOptions;
  readonly #udp: UdpSocketConfig | null;
  readonly #addresses: string[];
  readonly #dial: DialOptions<any>;
  readonly #slots: Slot<In, Out>[] = [];
  readonly #open = new Set<Session<In, Out>>();
  readonly #live = new Set<Session<In, Out>>();
  #waiters: { resolve: (s: Session<In, Out>) => void; reject: (e: unknown) => void }[] = [];
  #rr = 0;
  #closing: Promise<void> | null = null;
  #allGone: (() => void) | null = null;
  #dials = 0;
  #dialFailures = 0;
  #opened = 0;

  constructor(options: SessionClientOptions<In, Out>) {
    const { codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel, address, addresses, network, sessions, reconnect, transport, udp, websocket, ...dial } =
      options as SessionClientOptions<In, Out> & { idleTimeout?: number };
    this.#cfg = resolveSessionOptions({ codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel });
    this.#backoff = resolveBackoff(reconnect);
    const list = addresses ?? (address !== undefined ? [address] : []);
    if (!Array.isArray(list) || list.length === 0 || list.some((a) => typeof a !== 'string' || a === '')) {
      throw new InvalidOptionError('address', addresses ?? address, 'an address, or a non-empty array of addresses');
    }
    this.#addresses = [...list];
    this.#network = network ?? 'tcp';
    this.#transport = checkEnum('transport', transport, ['tcp', 'udp', 'websocket'] as const, 'tcp');
    this.#websocket = websocket ?? {};
    for (const a of this.#addresses) {
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
    this.#udp = this.#transport === 'udp' ? resolveSocketOptions(udp ?? {}, false) : null;
    if (heartbeat !== undefined && !('message' in heartbeat)) throw new InvalidOptionError('heartbeat.message', undefined, 'the heartbeat message');
    if (this.#network !== 'tcp' && this.#network !== 'unix') throw new InvalidOptionError('network', network, '"tcp" or "unix"');
    checkMs('timeout', dial.timeout, 10_000);
    this.#dial = { ...dial, onError };
    const n = checkCount('sessions', sessions, 1);
    for (let i = 0; i < n; i++) {
      const slot: Slot<In, Out> = { index: i, address: i % this.#addresses.length, attempt: 0, session: null, openedAt: 0, dialing: null, timer: null };
      this.#slots.push(slot);
      this.#connect(slot);
    }
  }

  /** The open sessions (onOpen accepted, not closing). */
  sessions(): Session<In, Out>[] {
    return [...this.#open].filter((s) => s.isActive());
  }

  get size(): number {
    return this.#open.size;
  }

  /** The next open session, round robin; undefined if none is open. */
  session(): Session<In, Out> | undefined {
    const open = this.sessions();
    if (open.length === 0) return undefined;
    return open[this.#rr++ % open.length];
  }

  /** Sends on the next open session (round robin). Rejects with NoSessionError when none is open. */
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
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    return new Promise<Session<In, Out>>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      const waiter = {
        resolve: (s: Session<In, Out>) => {
          done();
          resolve(s);
        },
        reject: (e: unknown) => {
          done();
          reject(e);
        },
      };
      const onAbort = () => waiter.reject(new AbortError(signal!.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout > 0) timer = setTimeout(() => waiter.reject(new NoSessionError(`no session opened within ${timeout} ms`)), timeout);
      this.#waiters.push(waiter);
    });
  }

  stats(): SessionClientStats {
    let connecting = 0;
    let waiting = 0;
    for (const s of this.#slots) {
      if (s.dialing !== null) connecting++;
      if (s.timer !== null) waiting++;
    }
    return { sessions: this.#open.size, connecting, waiting, dials: this.#dials, dialFailures: this.#dialFailures, opened: this.#opened };
  }

  #connect(slot: Slot<In, Out>): void {
    // Single flight: one dial, one backoff or one session per slot at a time.
    if (this.#closing !== null || slot.dialing !== null || slot.timer !== null || slot.session !== null) return;
    const ac = new AbortController();
    slot.dialing = ac;
    this.#dials++;
    const address = this.#addresses[slot.address]!;
    this.#open1(address, ac.signal).then(
      ({ session, start }) => {
        slot.dialing = null;
        if (this.#closing !== null) {
          session.close();
          return;
        }
        slot.session = session;
        slot.openedAt = Date.now();
        this.#live.add(session);
        const r = session[kOpen]();
        if (r === undefined) start();
        else void r.then(start);
      },
      () => {
        slot.dialing = null;
        this.#dialFailures++;
        if (this.#closing !== null) return;
        slot.address = (slot.address + 1) % this.#addresses.length;
        this.#retry(slot);
      },
    );
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

  #retry(slot: Slot<In, Out>): void {
    if (this.#closing !== null) return;
    const delay = backoffDelay(this.#backoff, slot.attempt++);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      this.#connect(slot);
    }, delay);
  }

  /** @internal */
  [kOpened](s: Session<In, Out>): void {
    this.#open.add(s);
    this.#opened++;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(s);
  }

  /** @internal */
  [kFinished](s: Session<In, Out>): void {
    this.#open.delete(s);
    this.#live.delete(s);
    const slot = this.#slots.find((x) => x.session === s);
    if (slot !== undefined) {
      slot.session = null;
      if (Date.now() - slot.openedAt >= this.#backoff.stableAfter) slot.attempt = 0;
      this.#retry(slot);
    }
    if (this.#live.size === 0) this.#allGone?.();
  }

  /** Stops reconnecting, cancels dials, closes every session; resolves once every onClose has run. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = (async () => {
      for (const slot of this.#slots) {
        if (slot.timer !== null) clearTimeout(slot.timer);
        slot.timer = null;
        slot.dialing?.abort(new NoSessionError('the session client is closed'));
      }
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.reject(new NoSessionError('the session client is closed'));
      for (const s of this.#live) s.close();
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
