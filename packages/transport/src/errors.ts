// Coded errors of @nocopy/transport. The `code` strings are stable API. Every nocopy code is ERR_
// followed by a name Node does not use (checked by a test against Node's own list), except ABORT_ERR,
// which is Node's own code for an abort, on purpose.

export class TransportError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
TransportError.prototype.name = 'TransportError';

/** The connection is closed (or closing): no more reads can arrive or writes be sent. `cause` holds why, if known. */
export class ConnClosedError extends TransportError {
  constructor(message = 'connection closed', options?: ErrorOptions) {
    super(message, 'ERR_CONN_CLOSED', options);
  }
}
ConnClosedError.prototype.name = 'ConnClosedError';

/** A read wait (waitFor / waitUntil) saw no sufficient input within the read timeout. The connection stays open. */
export class ReadTimeoutError extends TransportError {
  constructor(ms: number) {
    super(`no sufficient input within the read timeout of ${ms} ms`, 'ERR_READ_TIMEOUT');
  }
}
ReadTimeoutError.prototype.name = 'ReadTimeoutError';

/** flush() waited under backpressure longer than the write timeout; the connection is closed. */
export class WriteTimeoutError extends TransportError {
  constructor(ms: number) {
    super(`the peer did not take our output within the write timeout of ${ms} ms`, 'ERR_WRITE_TIMEOUT');
  }
}
WriteTimeoutError.prototype.name = 'WriteTimeoutError';

/** The connection saw no reads and no writes for the idle timeout and was closed. */
export class IdleTimeoutError extends TransportError {
  constructor(ms: number) {
    super(`connection idle for ${ms} ms`, 'ERR_IDLE_TIMEOUT');
  }
}
IdleTimeoutError.prototype.name = 'IdleTimeoutError';

/** A dial did not connect (and finish the TLS handshake) within its timeout. */
export class DialTimeoutError extends TransportError {
  constructor(address: string, ms: number) {
    super(`dial ${address} timed out after ${ms} ms`, 'ERR_DIAL_TIMEOUT');
  }
}
DialTimeoutError.prototype.name = 'DialTimeoutError';

/** A dial failed; `cause` is the socket error (ECONNREFUSED, ENOENT, a TLS verification error, ...). */
export class DialError extends TransportError {
  constructor(address: string, cause: unknown) {
    super(`dial ${address} failed: ${(cause as Error)?.message ?? String(cause)}`, 'ERR_DIAL_FAILED', { cause });
  }
}
DialError.prototype.name = 'DialError';

/**
 * Unconsumed input reached maxInboundBytes and the handler could make no progress (it waits for a
 * message larger than the limit), or a read wait asked for more than the limit: the connection is closed.
 */
export class InboundLimitError extends TransportError {
  constructor(limit: number, requested?: number) {
    super(
      requested === undefined
        ? `unconsumed input reached the inbound limit of ${limit} bytes and the handler consumed nothing`
        : `a read wait for ${requested} bytes exceeds the inbound limit of ${limit} bytes`,
      'ERR_INBOUND_LIMIT',
    );
  }
}
InboundLimitError.prototype.name = 'InboundLimitError';

/**
 * The input buffered by all connections of an EventLoop reached maxInboundBytesTotal: this
 * connection, one of those holding the most input, was closed to bring the total back down.
 */
export class InboundBudgetError extends TransportError {
  constructor(limit: number) {
    super(`the input buffered by all connections reached the total of ${limit} bytes; closed one of the connections holding the most`, 'ERR_INBOUND_BUDGET');
  }
}
InboundBudgetError.prototype.name = 'InboundBudgetError';

/** A frame declares (or, for a delimiter, has reached) a length above the codec's maxFrameLength. */
export class FrameTooLargeError extends TransportError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(`a frame of ${size} bytes exceeds the limit of ${limit} bytes`, 'ERR_FRAME_TOO_LARGE');
    this.size = size;
    this.limit = limit;
  }
}
FrameTooLargeError.prototype.name = 'FrameTooLargeError';

/** A frame header that no frame can have (a length below zero after the adjustment, say). */
export class MalformedFrameError extends TransportError {
  constructor(detail: string) {
    super(`malformed frame: ${detail}`, 'ERR_MALFORMED_FRAME');
  }
}
MalformedFrameError.prototype.name = 'MalformedFrameError';

/** A second read wait was started while one is pending on the same connection. */
export class ConcurrentReadError extends TransportError {
  constructor() {
    super('a read wait is already pending on this connection', 'ERR_CONCURRENT_READ');
  }
}
ConcurrentReadError.prototype.name = 'ConcurrentReadError';

/** The operation was aborted through its AbortSignal; `cause` is the signal's reason. Same code as Node's AbortError. */
export class AbortError extends TransportError {
  constructor(reason?: unknown) {
    super('the operation was aborted', 'ABORT_ERR', { cause: reason });
  }
}
AbortError.prototype.name = 'AbortError';

/** The EventLoop is shutting down or shut down. */
export class ShutdownError extends TransportError {
  constructor(message = 'the event loop is shut down') {
    super(message, 'ERR_SHUTDOWN');
  }
}
ShutdownError.prototype.name = 'ShutdownError';

/**
 * A DNS resolution failed: the server did not answer, refused or failed (a name that does not exist
 * is an empty answer, not this error). `hostname` is the name asked; `cause` is Node's dns error,
 * whose `code` tells why (ETIMEOUT, ECONNREFUSED, ESERVFAIL, EREFUSED, ...).
 */
export class DnsResolutionError extends TransportError {
  readonly hostname: string;
  constructor(hostname: string, cause: unknown) {
    const why = (cause as { code?: unknown })?.code ?? (cause as Error)?.message ?? String(cause);
    super(`DNS resolution of ${hostname} failed: ${String(why)}`, 'ERR_DNS_RESOLUTION', { cause });
    this.hostname = hostname;
  }
}
DnsResolutionError.prototype.name = 'DnsResolutionError';

// One InvalidOptionError class for every package (ERR_INVALID_OPTION).
export { InvalidOptionError } from '@nocopy/linkbuffer';

/** The ConnectionPool is closed: get() is refused and waiting get() calls reject. */
export class PoolClosedError extends TransportError {
  constructor() {
    super('the connection pool is closed', 'ERR_POOL_CLOSED');
  }
}
PoolClosedError.prototype.name = 'PoolClosedError';

/** ConnectionPool.get() found no connection (idle, new or freed) within its timeout. */
export class PoolTimeoutError extends TransportError {
  constructor(address: string, ms: number) {
    super(`no connection to ${address} within ${ms} ms`, 'ERR_POOL_TIMEOUT');
  }
}
PoolTimeoutError.prototype.name = 'PoolTimeoutError';

// ---- sessions ----

/** A session heard nothing from its peer for heartbeat.timeout ms and was closed. */
export class HeartbeatTimeoutError extends TransportError {
  constructor(ms: number) {
    super(`no message from the peer within the heartbeat timeout of ${ms} ms`, 'ERR_HEARTBEAT_TIMEOUT');
  }
}
HeartbeatTimeoutError.prototype.name = 'HeartbeatTimeoutError';

/** A listener's onOpen refused the session (it returned false or threw; `cause` holds what it threw). */
export class SessionRejectedError extends TransportError {
  constructor(options?: ErrorOptions) {
    super('onOpen rejected the session', 'ERR_SESSION_REJECTED', options);
  }
}
SessionRejectedError.prototype.name = 'SessionRejectedError';

/**
 * A session's codec could not decode the input, or a datagram or WebSocket message held bytes past
 * its one message (the codec's own error, not already a coded one, is its `cause`). Sessions only:
 * the RPC layer's malformed input is its own error.
 */
export class MalformedMessageError extends TransportError {
  constructor(detail: string, options?: ErrorOptions) {
    super(`malformed message: ${detail}`, 'ERR_MALFORMED_MESSAGE', options);
  }
}
MalformedMessageError.prototype.name = 'MalformedMessageError';

/** A message that routing has no handler for. */
export class UnknownMessageTypeError extends TransportError {
  readonly type: unknown;
  constructor(type: unknown) {
    super(`no handler for message type ${String(type)}`, 'ERR_UNKNOWN_MESSAGE_TYPE');
    this.type = type;
  }
}
UnknownMessageTypeError.prototype.name = 'UnknownMessageTypeError';

/** A session client has no open session to send on (all are connecting, or it is closed). */
export class NoSessionError extends TransportError {
  constructor(message = 'no open session') {
    super(message, 'ERR_NO_SESSION');
  }
}
NoSessionError.prototype.name = 'NoSessionError';

/** No server of the target can take a call: none is reachable, the target has no endpoints, or none became ready in time. `cause` holds the last connection error. */
export class UnavailableError extends TransportError {
  constructor(message = 'no server is available', options?: ErrorOptions) {
    super(message, 'ERR_UNAVAILABLE', options);
  }
}
UnavailableError.prototype.name = 'UnavailableError';

/**
 * An optional peer dependency that a subpath needs is not installed: `@nocopy/transport/websocket`
 * needs `ws` (npm install ws). `packageName` names it.
 */
export class MissingPeerDependencyError extends TransportError {
  readonly packageName: string;
  constructor(packageName: string, needer: string, options?: ErrorOptions) {
    super(`${needer} needs the package '${packageName}', an optional peer dependency of @nocopy/transport: npm install ${packageName}`, 'ERR_MISSING_PEER_DEPENDENCY', options);
    this.packageName = packageName;
  }
}
MissingPeerDependencyError.prototype.name = 'MissingPeerDependencyError';

// ---- discovery ----

/**
 * etcd could not be reached or refused an operation (a list, a watch, a lease grant or keepalive, a
 * put): `cause` is the etcd3 client's error. The resolver keeps its last endpoints and register()
 * keeps trying; this error only reports it (through onError, or a rejected register() or close()).
 */
export class EtcdError extends TransportError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_ETCD', options);
  }
}
EtcdError.prototype.name = 'EtcdError';
