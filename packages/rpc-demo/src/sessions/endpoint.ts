// Another way in to an RpcServer over a byte stream (TCP, TLS or a Unix socket), beside its own
// listen(): a session server of its own (stream.ts) with its own transport options and listen
// options (TLS on one port and plain on another, other limits), serving the same methods. The server's shutdown() stops it too.
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import type { ListenOptions, SessionServer, ShutdownOptions } from '@nocopy/transport';
import type { RpcServer } from '../rpc/server.js';
import { type PeerHooks, kPeers } from '../rpc/peer-state.js';
import type { RpcTransportOptions } from '../rpc/server-options.js';
import type { PeerInput, PeerOutput } from './peer.js';
import { streamSessions } from './stream.js';

export interface SessionEndpointOptions {
  /** The RPC server whose methods are served (in its framing); its shutdown() stops the endpoint too. */
  server: RpcServer;
  /**
   * The session server's options (maxConnections, readTimeout, writeTimeout, idleTimeout,
   * maxInboundBytes...; TLS is listen({ tls })). The defaults are the RpcServer's own transport defaults.
   */
  transport?: RpcTransportOptions;
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
  const sessions = streamSessions(hooks, options.server.framing, hooks.maxMessageSize, options.transport);
  const shutdown = (o: ShutdownOptions = {}) => sessions.shutdown(o);
  hooks.attach(shutdown);
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
