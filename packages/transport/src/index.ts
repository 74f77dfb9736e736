export { EventLoop, type EventLoopOptions, type ListenOptions, type ShutdownOptions, type EventLoopStats } from './eventloop.js';
export { Connection } from './connection/connection.js';
export { ServerFront, StoppableServer } from './server-front.js';
export type { Reader, WaitOptions } from './connection/reader.js';
export type { Writer } from './connection/writer.js';
export { Dialer, dialConnection, parseHostPort, type DialOptions, type Network } from './dialer.js';
export { ConnectionPool, type ConnectionPoolOptions, type ConnectionPoolStats, type GetOptions } from './connection-pool.js';
export { defaultInboundTotal } from './inbound-budget.js';
export type { ConnectionOptions, OnRequest, OnDisconnect, OnError, CloseCallback } from './options.js';
export {
  TransportError,
  ConnClosedError,
  ReadTimeoutError,
  WriteTimeoutError,
  IdleTimeoutError,
  DialTimeoutError,
  DialError,
  InboundLimitError,
  InboundBudgetError,
  FrameTooLargeError,
  MalformedFrameError,
  ConcurrentReadError,
  AbortError,
  ShutdownError,
  InvalidOptionError,
  PoolClosedError,
  PoolTimeoutError,
  HeartbeatTimeoutError,
  SessionRejectedError,
  MalformedMessageError,
  UnknownMessageTypeError,
  NoSessionError,
  UnavailableError,
  DnsResolutionError,
  MissingPeerDependencyError,
} from './errors.js';
export { connectionOpenChannel, connectionCloseChannel, connectionErrorChannel } from './diagnostics.js';
export * from './framing/index.js';
export * from './session/index.js';
// client layer: resolvers, balancers, subchannels and the channel under the RPC and session clients
export type { Endpoint, Resolver, ResolverListener } from './client/resolver.js';
export { StaticResolver } from './client/static-resolver.js';
export { DnsResolver, parseDnsTarget, type DnsResolverOptions } from './client/dns.js';
// etcd targets are parsed here (pure); the resolver and register() are in the /etcd subpath, which loads etcd3.
export { parseEtcdTarget, type EtcdTarget } from './etcd/target.js';
export { resolveTarget, type TargetOptions } from './client/target.js';
export { type Balancer, type BalancerName, type Pickable, roundRobin, leastPending, resolveBalancer } from './client/balancer.js';
export { type OutlierOptions, type ResolvedOutlier, resolveOutlier } from './client/outlier.js';
export { Subchannel, type SubchannelState, type Connector, type EndpointState } from './client/subchannel.js';
export { Channel, type ChannelOptions, type ChannelStats, type WaitOptions as ChannelWaitOptions } from './client/channel.js';
export type { ReconnectOptions } from './util/backoff.js';
