// The RPC server's peers over a byte stream (TCP, TLS or a Unix socket): a session server whose
// sessions are SessionPeers, with the server's transport defaults. Both the RpcServer's own
// listen()/serve() and createSessionEndpoint() stand on it.
//
// Shutdown is the EventLoop's: our clients are told to go ("$/drain") and their connections read on
// until they close themselves; other peers stop reading, their calls in flight (held on the
// connection) are answered, then they close; the deadline cuts what is left.
import { type SessionServer, createSessionServer } from '@nocopy/transport';
import type { Framing } from '../rpc/protocol.js';
import type { PeerHooks } from '../rpc/peer-state.js';
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT, DEFAULT_WRITE_TIMEOUT, type RpcTransportOptions } from '../rpc/server-options.js';
import type { PeerInput, PeerOutput } from './peer.js';
import { kPeer, peers } from './peers.js';
import { streamCodec } from './codec.js';

export function streamSessions(hooks: PeerHooks, framing: Framing, max: number, transport: RpcTransportOptions = {}): SessionServer<PeerInput, PeerOutput> {
  const t = transport;
  return createSessionServer<PeerInput, PeerOutput>({
    ...(t as object),
    codec: streamCodec(max),
    listener: peers(hooks, framing).listener,
    // Defaults with ??, not by spread order: a key present but undefined (`{ readTimeout: o.readTimeout }`)
    // must keep the default. A whole message must fit in the input buffer.
    maxInboundBytes: t.maxInboundBytes ?? Math.max(max + 4 + 64 * 1024, 8 * 1024 * 1024),
    // Hostile-input defaults: a message must arrive within 30 s of its first byte (slow-loris), a
    // peer with no traffic for 5 minutes is closed, one that does not read its replies for 30 s is cut.
    readTimeout: t.readTimeout ?? DEFAULT_READ_TIMEOUT,
    idleTimeout: t.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
    writeTimeout: t.writeTimeout ?? DEFAULT_WRITE_TIMEOUT,
    maxConnections: t.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    onShutdown: (session) => {
      const st = session.attributes.get(kPeer);
      // True: told to go, it closes by itself (the loop reads on); false: drained by the loop.
      return st !== undefined && session.isActive() && hooks.drain(st);
    },
  });
}
