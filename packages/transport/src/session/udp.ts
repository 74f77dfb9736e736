// UDP sessions (node:dgram), getty's semantics: the server keeps one session per peer address,
// opened by its first datagram and expired after idleTimeout (UDP has no close); maxSessions bounds
// them (the least recently active goes first). One datagram is one decode: one that does not decode
// or exceeds maxMessageLength is dropped and counted, and the session stays. send() is one
// datagram; a message larger than maxDatagramSize throws, never a truncation.
import dgram from 'node:dgram';
import dns from 'node:dns';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { ConnClosedError, FrameTooLargeError, InvalidOptionError, ShutdownError } from '../errors.js';
import { checkBoolean, checkBytes, checkCount, checkEnum, checkMs } from '../util/validate.js';
import { type SessionConfig, type SessionOptions, resolveSessionOptions } from './config.js';
import { MessageLink } from './message-link.js';
import { Session, kOpen } from './session.js';
import { SessionSet } from './set.js';
import { RESOLVED } from '../util/thenable.js';
import { StoppableServer } from '../server-front.js';

// dgram resolves the address of every send() with dns.lookup, which for an IP literal still costs a
// regex test and a process.nextTick before the datagram goes (~3% of a 128 B echo's CPU). A peer of
// the server socket is always the literal address its datagram came from: sendMessage names it here
// just before send(), and the socket's lookup answers it at once; any other name goes to dns.lookup.
let literalPeer: string | null = null;
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
function peerLookup(address: string, family: number, cb: LookupCallback): void {
  if (address === literalPeer) cb(null, address, family);
  else dns.lookup(address, family, cb);
}

export interface UdpSocketOptions {
  /** 'udp4' (default) or 'udp6'. */
  type?: 'udp4' | 'udp6';
  /** Kernel receive and send buffer sizes, in bytes (SO_RCVBUF, SO_SNDBUF). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** SO_BROADCAST. Default false. */
  broadcast?: boolean;
  /** SO_REUSEADDR, needed for several receivers of one multicast group. Default false (true with multicast). */
  reuseAddr?: boolean;
  /** The largest datagram send() accepts, in bytes. Default 65507 (the IPv4 UDP maximum). */
  maxDatagramSize?: number;
}

export interface UdpSessionServerOptions<In, Out = In> extends SessionOptions<In, Out>, UdpSocketOptions {
  /** Sessions (peer addresses) at most; a new peer then takes the place of the least recently active one. Default 10000. */
  maxSessions?: number;
  /** Datagrams waiting behind a running async onMessage, per session; more are dropped and counted. Default 256. */
  maxQueued?: number;
  /** Join this multicast group on listen (and `multicastInterface`). */
  multicast?: { group: string; interface?: string };
}

export interface UdpSessionServerStats {
  sessions: number;
  opened: number;
  closed: number;
  datagramsIn: number;
  /** Datagrams that did not decode, or left bytes undecoded (the session stays). */
  malformed: number;
  /** Datagrams dropped because the session's queue was full. */
  overflowed: number;
  /** Sessions closed to make room for a new peer at maxSessions. */
  evicted: number;
}

interface UdpSocketConfig {
  type: 'udp4' | 'udp6';
  recvBufferSize: number | undefined;
  sendBufferSize: number | undefined;
  broadcast: boolean;
  reuseAddr: boolean;
  maxDatagramSize: number;
}

function resolveSocketOptions(o: UdpSocketOptions, multicast: boolean): UdpSocketConfig {
  return {
    type: checkEnum('type', o.type, ['udp4', 'udp6'] as const, 'udp4'),
    recvBufferSize: o.recvBufferSize === undefined ? undefined : checkBytes('recvBufferSize', o.recvBufferSize, undefined),
    sendBufferSize: o.sendBufferSize === undefined ? undefined : checkBytes('sendBufferSize', o.sendBufferSize, undefined),
    broadcast: checkBoolean('broadcast', o.broadcast, false),
    reuseAddr: checkBoolean('reuseAddr', o.reuseAddr, multicast),
    maxDatagramSize: checkBytes('maxDatagramSize', o.maxDatagramSize, 65_507),
  };
}

function applySocketOptions(socket: dgram.Socket, c: UdpSocketConfig): void {
  if (c.recvBufferSize !== undefined) socket.setRecvBufferSize(c.recvBufferSize);
  if (c.sendBufferSize !== undefined) socket.setSendBufferSize(c.sendBufferSize);
  if (c.broadcast) socket.setBroadcast(true);
}

/** A peer of the server socket, or the one peer of a connected client socket. */
class UdpLink extends MessageLink {
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  constructor(
    readonly socket: dgram.Socket,
    local: AddressInfo,
    remote: { address: string; port: number },
    readonly connected: boolean,
    readonly maxDatagramSize: number,
    readonly counters: { malformed: number; overflowed: number },
    maxInFlight: number,
    maxQueued: number,
  ) {
    super({ maxInFlight, maxQueued });
    this.localAddress = local.address;
    this.localPort = local.port;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
  }
  protected sendMessage(bytes: Buffer, _text: boolean, done: (() => void) | null): void {
    if (bytes.length > this.maxDatagramSize) {
      done?.();
      throw new FrameTooLargeError(bytes.length, this.maxDatagramSize);
    }
    const cb = done === null ? undefined : () => done();
    if (this.connected) this.socket.send(bytes, cb);
    else {
      literalPeer = this.remoteAddress;
      try {
        this.socket.send(bytes, this.remotePort, this.remoteAddress, cb);
      } finally {
        literalPeer = null;
      }
    }
  }
  get waiting(): boolean {
    return false;
  }
  drained(): Promise<void> {
    return this.isActive() ? RESOLVED : Promise.reject(new ConnClosedError('the session is closed'));
  }
  protected closeTransport(): void {
    // UDP has nothing to close per peer: the session just ends (a client closes its socket).
    queueMicrotask(() => this.gone());
  }
  protected overflow(): boolean {
    this.counters.overflowed++;
    return true;
  }
  dropMalformed(): boolean {
    this.counters.malformed++;
    return true;
  }
  /** @internal */
  end(error?: unknown): void {
    this.gone(error);
  }
}

/**
 * The server's peers, found by port first (a number: no string is built per datagram) and then by
 * address; kept in the order they opened, for eviction.
 */
class PeerTable {
  readonly #byPort = new Map<number, UdpLink | UdpLink[]>();
  readonly #order = new Set<UdpLink>();

  get size(): number {
    return this.#order.size;
  }

  get(address: string, port: number): UdpLink | undefined {
    const e = this.#byPort.get(port);
    if (e === undefined) return undefined;
    if (!Array.isArray(e)) return e.remoteAddress === address ? e : undefined;
    for (const l of e) if (l.remoteAddress === address) return l;
    return undefined;
  }

  add(link: UdpLink): void {
    const e = this.#byPort.get(link.remotePort);
    if (e === undefined) this.#byPort.set(link.remotePort, link);
    else if (Array.isArray(e)) e.push(link);
    else this.#byPort.set(link.remotePort, [e, link]);
    this.#order.add(link);
  }

  delete(link: UdpLink): void {
    if (!this.#order.delete(link)) return;
    const e = this.#byPort.get(link.remotePort);
    if (e === link) this.#byPort.delete(link.remotePort);
    else if (Array.isArray(e)) {
      const rest = e.filter((l) => l !== link);
      this.#byPort.set(link.remotePort, rest.length === 1 ? rest[0]! : rest);
    }
  }

  /** The peers, oldest first. */
  values(): IterableIterator<UdpLink> {
    return this.#order.values();
  }
}

export class UdpSessionServer<In = unknown, Out = In> extends StoppableServer<{ timeout?: number }> {
  readonly #cfg: SessionConfig<In, Out>;
  readonly #sock: UdpSocketConfig;
  readonly #maxSessions: number;
  readonly #maxQueued: number;
  readonly #multicast: { group: string; interface?: string } | undefined;
  /** Links by peer, in the order they opened. */
  readonly #peers = new PeerTable();
  readonly #live = new SessionSet<In, Out>();
  readonly #counters = { malformed: 0, overflowed: 0 };
  #socket: dgram.Socket | null = null;
  #local: AddressInfo | null = null;
  #datagrams = 0;
  #evicted = 0;

  constructor(options: UdpSessionServerOptions<In, Out>) {
    super();
    const { codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel } = options;
    if (heartbeat !== undefined && !('message' in heartbeat)) throw new InvalidOptionError('heartbeat.message', undefined, 'the heartbeat message');
    // UDP has no close: a session that hears nothing expires, by default after a minute.
    this.#cfg = resolveSessionOptions({ codec, listener, cronPeriod, heartbeat, idleTimeout: idleTimeout ?? 60_000, maxInFlight, wheel });
    this.#sock = resolveSocketOptions(options, options.multicast !== undefined);
    this.#maxSessions = checkCount('maxSessions', options.maxSessions, 10_000);
    this.#maxQueued = checkCount('maxQueued', options.maxQueued, 256);
    this.#multicast = options.multicast;
  }

  async listen(options: { port?: number; host?: string } = {}): Promise<AddressInfo> {
    if (this.shuttingDown) throw new ShutdownError();
    if (this.#socket !== null) throw new InvalidOptionError('listen', 'a second call', 'one listen() per UDP server');
    const socket = dgram.createSocket({ type: this.#sock.type, reuseAddr: this.#sock.reuseAddr, lookup: peerLookup as unknown as dgram.SocketOptions['lookup'] });
    this.#socket = socket;
    socket.on('message', this.#onMessage);
    // A socket error (ICMP port unreachable for a peer, say) is not the server's end.
    socket.on('error', () => {});
    const host = options.host ?? (this.#multicast !== undefined ? undefined : this.#sock.type === 'udp6' ? '::1' : '127.0.0.1');
    socket.bind({ port: options.port ?? 0, address: host });
    await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([e]) => Promise.reject(e))]);
    applySocketOptions(socket, this.#sock);
    if (this.#multicast !== undefined) socket.addMembership(this.#multicast.group, this.#multicast.interface);
    this.#local = socket.address();
    return this.#local;
  }

  address(): AddressInfo | null {
    return this.#local;
  }

  sessions(): IterableIterator<Session<In, Out>> {
    return this.#live.values();
  }

  get size(): number {
    return this.#live.size;
  }

  stats(): UdpSessionServerStats {
    return {
      sessions: this.#live.size,
      opened: this.#live.opened,
      closed: this.#live.closed,
      datagramsIn: this.#datagrams,
      malformed: this.#counters.malformed,
      overflowed: this.#counters.overflowed,
      evicted: this.#evicted,
    };
  }

  readonly #onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    if (this.shuttingDown) return;
    this.#datagrams++;
    let link = this.#peers.get(rinfo.address, rinfo.port);
    if (link !== undefined) {
      link.push(msg);
      return;
    }
    if (this.#peers.size >= this.#maxSessions) this.#evict();
    link = new UdpLink(this.#socket!, this.#local!, rinfo, false, this.#sock.maxDatagramSize, this.#counters, this.#cfg.maxInFlight, this.#maxQueued);
    this.#peers.add(link);
    const l = link;
    l.addCloseCallback(() => this.#linkGone(l));
    const session = new Session<In, Out>(link, this.#cfg, this.#live, 'udp');
    link.session = session;
    this.#live.add(session);
    link.push(msg);
    const r = session[kOpen]();
    if (r === undefined) link.start();
    else void r.then(() => link!.start());
  };

  /**
   * At maxSessions: of the 64 oldest sessions (the Map keeps them in the order they opened), the
   * least recently active goes. Cheaper than keeping an exact LRU order on every datagram, and as
   * good under a flood of new sources, where the oldest are also the idlest.
   */
  #evict(): void {
    let victim: UdpLink | null = null;
    let n = 0;
    for (const link of this.#peers.values()) {
      if (victim === null || (link.session?.lastActive ?? Infinity) < (victim.session?.lastActive ?? Infinity)) victim = link;
      if (++n === 64) break;
    }
    if (victim === null) return;
    this.#peers.delete(victim);
    this.#evicted++;
    victim.session?.close('evicted: maxSessions reached');
  }

  readonly #linkGone = (link: UdpLink): void => {
    this.#peers.delete(link);
  };

  /** shutdown() (StoppableServer): stops receiving, closes every session (each onClose runs), then closes the socket. */
  protected stopServer(options: { timeout?: number }): Promise<void> {
    checkMs('timeout', options.timeout, 30_000);
    return (async () => {
      for (const s of this.#live) s.close();
      await this.#live.whenEmpty();
      const socket = this.#socket;
      if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
    })();
  }
}

export function createUdpSessionServer<In, Out = In>(options: UdpSessionServerOptions<In, Out>): UdpSessionServer<In, Out> {
  return new UdpSessionServer<In, Out>(options);
}

/** @internal A connected UDP socket as the one link of a client session. */
export async function dialUdp(address: { host: string; port: number }, c: UdpSocketConfig, maxInFlight: number, signal: AbortSignal): Promise<UdpLink> {
  const socket = dgram.createSocket({ type: c.type });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  socket.connect(address.port, address.host);
  try {
    await connected;
  } catch (err) {
    socket.close();
    throw err;
  }
  applySocketOptions(socket, c);
  const counters = { malformed: 0, overflowed: 0 };
  const link = new UdpLink(socket, socket.address(), socket.remoteAddress(), true, c.maxDatagramSize, counters, maxInFlight, 256);
  socket.on('message', (msg) => link.push(msg));
  // ICMP port unreachable arrives as ECONNREFUSED on a connected socket: the session ends.
  socket.on('error', (err) => {
    link.end(err);
    link.session?.close(err);
  });
  link.addCloseCallback(() => socket.close());
  return link;
}

export { resolveSocketOptions, type UdpSocketConfig };
