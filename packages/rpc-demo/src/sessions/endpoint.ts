// The RPC server over the session layer on a byte stream (TCP, TLS or a Unix socket): each session
// is a peer of the RpcServer, as a WebSocket session is (../websocket/endpoint.ts). The RpcServer's
// own listen() serves the same methods on its EventLoop; this endpoint serves them through a session
// server (its options: heartbeats, the timing wheel, the session listener's view of every peer), with
// the same batch decode (codec.ts). bench/rpc compares the two (server `nocopy-sessions`).
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import { type ListenOptions, type SessionServer, type SessionServerOptions, type ShutdownOptions, createSessionServer } from '@nocopy/transport';
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT, DEFAULT_WRITE_TIMEOUT, type PeerHooks, type RpcServer, kPeers } from '../rpc/server.js';
import type { PeerInput, PeerOutput } from './peer.js';
import { peers } from './peers.js';
import { streamCodec } from './codec.js';

export interface SessionEndpointOptions {
  /** The RPC server whose methods are served (in its framing); its shutdown() stops the endpoint too. */
  server: RpcServer;
  /**
   * The session server's options (TLS, maxConnections, readTimeout, writeTimeout, idleTimeout,
   * maxInboundBytes, heartbeat...). The defaults are the RpcServer's own transport defaults.
   */
  transport?: Omit<SessionServerOptions<PeerInput, PeerOutput>, 'codec' | 'listener' | 'maxInFlight'> & { idleTimeout?: number };
}

export interface SessionEndpoint extends AsyncDisposable {
  readonly sessions: SessionServer<PeerInput, PeerOutput>;
  /** Resolves with the address: the socket path for `{ path }`, else the TCP address. */
  listen(options: ListenOptions & { path: string }): Promise<string>;
  listen(options?: ListenOptions & { path?: undefined }): Promise<AddressInfo>;
  listen(options?: ListenOptions): Promise<AddressInfo | string>;
  /** Serves the connections of a server the caller made and listens with. */
  serve(server: net.Server): void;
  /**
   * Stops this endpoint alone (the RpcServer's shutdown stops it too): our clients are told to go,
   * the calls in flight are answered (within `timeout`, default 30 s), then the sessions close.
   * Called again, it returns the same promise.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

export function createSessionEndpoint(options: SessionEndpointOptions): SessionEndpoint {
  const hooks: PeerHooks = options.server[kPeers]();
  const max = hooks.maxMessageSize;
  const rpc = peers(hooks, options.server.framing);
  const t = options.transport ?? {};
  const sessions = createSessionServer<PeerInput, PeerOutput>({
    ...t,
    codec: streamCodec(max),
    listener: rpc.listener,
    // As the RpcServer's EventLoop: a whole message fits in the input buffer, and the same hostile-input defaults.
    maxInboundBytes: t.maxInboundBytes ?? Math.max(max + 4 + 64 * 1024, 8 * 1024 * 1024),
    readTimeout: t.readTimeout ?? DEFAULT_READ_TIMEOUT,
    idleTimeout: t.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
    writeTimeout: t.writeTimeout ?? DEFAULT_WRITE_TIMEOUT,
    maxConnections: t.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
  } as SessionServerOptions<PeerInput, PeerOutput>);
  const stopSessions = (o: ShutdownOptions) => sessions.shutdown(o);
  hooks.attach((o) => rpc.stop(o, stopSessions));
  const shutdown = (o: ShutdownOptions = {}) => rpc.stop(o, stopSessions);
  return {
    sessions,
    listen: ((o: ListenOptions = {}) => sessions.listen(o)) as SessionEndpoint['listen'],
    serve: (server) => {
      sessions.serve(server);
    },
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}
