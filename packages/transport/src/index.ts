export { EventLoop, type EventLoopOptions, type ListenOptions, type ShutdownOptions, type EventLoopStats } from './eventloop.js';
export { Connection } from './connection.js';
export type { Reader, WaitOptions } from './reader.js';
export type { Writer } from './writer.js';
export { Dialer, dialConnection, parseHostPort, type DialOptions, type Network } from './dialer.js';
export { ConnectionPool, type ConnectionPoolOptions, type ConnectionPoolStats, type GetOptions } from './connection-pool.js';
export { defaultInboundTotal } from './inbound-budget.js';
export { createWarner, type Warner, type WarnerOptions } from './warnings.js';
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
  DnsResolutionError,
} from './errors.js';
export { connectionOpenChannel, connectionCloseChannel, connectionErrorChannel } from './diagnostics.js';
export * from './framing/index.js';
export * from './session/index.js';
// client layer
export type { Endpoint, Resolver, ResolverListener } from './client/resolver.js';
export { StaticResolver } from './client/static-resolver.js';
export { DnsResolver, parseDnsTarget, type DnsResolverOptions } from './client/dns.js';
