// The RPC server's options, its stats and the defaults of its hostile-input limits: what a caller
// of createServer() reads, apart from the server's code.
import type { SessionServerOptions, SessionServerStats } from '@nocopy/transport';
import type { Framing } from './protocol.js';
import type { WorkersOptions } from './offload.js';
import type { RegistryOptions } from './registry.js';
import type { MethodStats } from './methods.js';

export interface ServerOptions {
  /** 'framed' (4-byte length prefix, default) or 'stream' (plain concatenated MessagePack). */
  framing?: Framing;
  /** Largest message accepted or sent, in bytes. Default 4 MiB. A larger incoming one closes its connection. */
  maxMessageSize?: number;
  /**
   * Calls in flight per connection at most; reading pauses there until calls finish. Default 1024.
   * A call cancelled (by the client, its deadline or its connection closing) leaves at once, though
   * its handler may run on (stats().runaway).
   */
  maxInFlight?: number;
  /**
   * A handler still running this many ms after its call was cancelled is reported to onError
   * (RunawayHandlerError, ERR_RPC_RUNAWAY), once per call. 0: never. Default 10000.
   */
  runawayWarning?: number;
  /** The worker pool for methods registered with `{ offload: true }`. */
  workers?: WorkersOptions;
  /**
   * The transport's options: timeouts, maxConnections, buffer limits, the session timing wheel
   * (see RpcTransportOptions).
   */
  transport?: RpcTransportOptions;
  /**
   * Record each call's latency (from decoding the request to its result) in a histogram per method,
   * in stats().methods. Default false: it costs about 0.2 µs per call.
   */
  latency?: boolean;
  /**
   * Register in etcd once listening (`{ target: 'etcd://host:port/prefix' }`), under a lease kept
   * alive; deregistered when shutdown() begins. Clients with that target find the server.
   */
  registry?: RegistryOptions;
  /** Errors from notifications, malformed input and the transport. Default: a process warning (NOCOPY_RPC_ERROR), at most 10 per 10 s. */
  onError?: (error: unknown) => void;
}

/**
 * What `transport` takes: the session server's options (the server's peers are sessions), without
 * the codec, the listener and the callbacks the server itself fills in, and without a heartbeat
 * (bytes of its own in the RPC stream; a client asks `$health` instead). `idleTimeout` is the
 * session's (no input or output for that long closes the peer).
 */
export type RpcTransportOptions = Omit<SessionServerOptions<unknown, unknown>, 'codec' | 'listener' | 'maxInFlight' | 'onShutdown' | 'cronPeriod' | 'heartbeat'> & { idleTimeout?: number };

/** A message must be complete within this many ms of its first byte. */
export const DEFAULT_READ_TIMEOUT = 30_000;
/** A connection without reads or writes for this many ms is closed. */
export const DEFAULT_IDLE_TIMEOUT = 300_000;
/** A flush waiting this many ms for a peer that does not read closes the connection. */
export const DEFAULT_WRITE_TIMEOUT = 30_000;
/** Live connections at most (memory and descriptors stay bounded). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** A handler still running this many ms after its call was cancelled is reported to onError. */
export const DEFAULT_RUNAWAY_WARNING = 10_000;

export interface ServerStats {
  connections: number;
  /** Requests and notifications received. */
  calls: number;
  /** Calls answered with an error. */
  errors: number;
  /** Calls running now whose reply is awaited (all connections): a cancelled call leaves at once. */
  inFlight: number;
  /** Calls sent to the worker pool. */
  offloaded: number;
  /** Per registered method: calls (requests and notifications), errors (calls answered with an error) and the latency histogram (ns; null without the latency option). */
  methods: Record<string, MethodStats>;
  /** Calls cancelled before they were answered (by the client, their deadline or their connection closing): their reply is not sent. */
  cancelled: number;
  /** Handlers of cancelled calls still running (they ignore `this.signal`): no longer in inFlight, their result will be dropped. */
  runaway: number;
  /** The transport's: connections accepted, refused and closed, input buffered (the inbound budget in use), sessions. */
  transport: SessionServerStats;
}
