// @nocopy/rpc-demo: MessagePack-RPC over @nocopy/transport.
export { createServer, RpcServer, DEFAULT_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_WRITE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, type ServerOptions, type RegisterOptions, type ServiceOptions, type ServerStats, type MethodStats, type Handler } from './rpc/server.js';
export { createClient, RpcClient, type ClientOptions, type CallOptions, type ClientStats } from './rpc/client.js';
export type { WorkersOptions } from './rpc/offload.js';
export { CallContext, type Peer } from './rpc/context.js';
export type { ServerMiddleware, ClientMiddleware, ClientCall } from './rpc/middleware.js';
export { clientCallChannel, serverCallChannel, type ClientCallMessage, type ServerCallMessage } from './rpc/tracing.js';
export { defineService, type ServiceClient, type ServiceHandler, type ServiceHandlers, type Validators } from './rpc/service.js';
export type { Metadata } from './rpc/extensions.js';
export { type Framing, type Message, DEFAULT_MAX_MESSAGE_SIZE } from './rpc/protocol.js';
export {
  RpcError,
  type RpcErrorOptions,
  MessageTooLargeError,
  MalformedMessageError,
  FramingMismatchError,
  RpcTimeoutError,
  CallCancelledError,
  RunawayHandlerError,
  MethodNotFoundError,
  QueueFullError,
  InvalidParamsError,
  RpcClosedError,
  RemoteError,
  UnencodableValueError,
  CallInterruptedError,
} from './errors.js';
export { UnavailableError } from '@nocopy/transport';
export { InvalidOptionError } from '@nocopy/transport';
export * as msgpack from './msgpack/index.js';
