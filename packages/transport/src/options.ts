// Per-connection options shared by the EventLoop (accepted connections) and the Dialer, with defaults.
import { type BlockPool, defaultPool } from '@nocopy/linkbuffer';
import type { Connection } from './connection/connection.js';
import { checkBoolean, checkBytes, checkFunction, checkMs } from './util/validate.js';

export type OnRequest<C = unknown> = (ctx: C, conn: Connection<C>) => void | Promise<void>;
export type OnDisconnect<C = unknown> = (ctx: C, conn: Connection<C>) => void;
export type OnError<C = unknown> = (error: unknown, conn: Connection<C>) => void;
export type CloseCallback<C = unknown> = (conn: Connection<C>) => void | Promise<void>;

export interface ConnectionOptions<C = unknown> {
  /**
   * In ms; 0 = none. Default 0. Bounds a read wait (`reader.waitFor` / `reader.waitUntil`: it rejects
   * with ReadTimeoutError), and, with an onRequest handler, how long input the handler leaves
   * unconsumed (a partial message) may wait to be completed: past it the connection closes with
   * ReadTimeoutError (a slow-loris peer trickling bytes is cut off).
   */
  readTimeout?: number;
  /** Bound on `writer.flush()` waiting under backpressure, in ms; 0 = none. On expiry the connection closes. Default 0. */
  writeTimeout?: number;
  /** Close the connection after this long with no reads and no writes, in ms; 0 = never. Default 0. */
  idleTimeout?: number;
  /** Unconsumed input at which reading pauses (see README: backpressure). Default 8 MiB. */
  maxInboundBytes?: number;
  /** Bytes queued in the socket above which `flush()` waits for the peer. Default 1 MiB. */
  maxOutboundBytes?: number;
  /** TCP_NODELAY (no Nagle delay), as netpoll does. Default true. Ignored for Unix sockets. */
  noDelay?: boolean;
  /**
   * After the peer's FIN, keep the connection open for writing until closeWrite() or close()
   * (a proxy needs this). Default false: once the input the peer sent is handled, the connection closes.
   */
  allowHalfOpen?: boolean;
  /** Where the connection's buffers take blocks from. Default: the shared defaultPool. */
  pool?: BlockPool;
  /** Called with errors thrown by handlers, hooks and close callbacks. Default: a process warning, unless a diagnostics subscriber or this hook takes them. */
  onError?: OnError<C>;
  /** Called when the peer closes (FIN, reset) while the connection is active; not on our own close(). Must be quick. */
  onDisconnect?: OnDisconnect<C>;
}

export interface ResolvedConnectionOptions<C> {
  readTimeout: number;
  writeTimeout: number;
  idleTimeout: number;
  maxInboundBytes: number;
  maxOutboundBytes: number;
  noDelay: boolean;
  allowHalfOpen: boolean;
  pool: BlockPool;
  onError: OnError<C> | undefined;
  onDisconnect: OnDisconnect<C> | undefined;
}

export const DEFAULT_MAX_INBOUND = 8 * 1024 * 1024;
export const DEFAULT_MAX_OUTBOUND = 1024 * 1024;

export function resolveConnectionOptions<C>(o: ConnectionOptions<C>): ResolvedConnectionOptions<C> {
  checkFunction('onError', o.onError);
  checkFunction('onDisconnect', o.onDisconnect);
  return {
    readTimeout: checkMs('readTimeout', o.readTimeout, 0),
    writeTimeout: checkMs('writeTimeout', o.writeTimeout, 0),
    idleTimeout: checkMs('idleTimeout', o.idleTimeout, 0),
    maxInboundBytes: checkBytes('maxInboundBytes', o.maxInboundBytes, DEFAULT_MAX_INBOUND),
    maxOutboundBytes: checkBytes('maxOutboundBytes', o.maxOutboundBytes, DEFAULT_MAX_OUTBOUND),
    noDelay: checkBoolean('noDelay', o.noDelay, true),
    allowHalfOpen: checkBoolean('allowHalfOpen', o.allowHalfOpen, false),
    pool: o.pool ?? defaultPool,
    onError: o.onError,
    onDisconnect: o.onDisconnect,
  };
}
