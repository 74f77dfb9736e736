// Coded errors of @nocopy/rpc-demo. The `code` strings are stable API.
import { ConnClosedError, MalformedMessageError as TransportMalformedMessageError } from '@nocopy/transport';

export interface RpcErrorOptions extends ErrorOptions {
  /** Structured detail sent with the error to the client (any MessagePack value): its RemoteError's `data`. */
  data?: unknown;
}

export class RpcError extends Error {
  readonly code: string;
  /** Structured detail; a handler's error carries it to the client's RemoteError. */
  readonly data?: unknown;
  constructor(message: string, code: string, options?: RpcErrorOptions) {
    super(message, options);
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
  }
}
RpcError.prototype.name = 'RpcError';

/** A message is larger than maxMessageSize. On the receiving side the connection is closed. */
export class MessageTooLargeError extends RpcError {
  readonly size: number;
  readonly limit: number;
  /** The id of the oversized request when its first bytes had arrived: the server answers it before closing. */
  requestId: number | undefined;
  constructor(size: number, limit: number, requestId?: number) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`, 'ERR_MESSAGE_TOO_LARGE');
    this.size = size;
    this.limit = limit;
    this.requestId = requestId;
  }
}
MessageTooLargeError.prototype.name = 'MessageTooLargeError';

/**
 * Bytes that are not MessagePack, or MessagePack that is not a MessagePack-RPC message. The connection
 * is closed. The same meaning as transport's MalformedMessageError (a message that does not decode),
 * so it is that class, with the detail of what MessagePack-RPC refused: one name, one code.
 */
export class MalformedMessageError extends TransportMalformedMessageError {
  constructor(detail: string, options?: ErrorOptions, code = 'ERR_MALFORMED_MESSAGE') {
    super(detail, options);
    this.message = `malformed MessagePack-RPC message: ${detail}`;
    // A kind of malformed input (FramingMismatchError) has a code of its own.
    (this as { code: string }).code = code;
  }
}
MalformedMessageError.prototype.name = 'MalformedMessageError';

/**
 * Malformed input of a kind: the peer's bytes look like the other framing ('stream' MessagePack at a
 * 'framed' end, or a length prefix at a 'stream' end). The connection is closed; a server answers the request first, in the
 * peer's framing, when it could read its id.
 */
export class FramingMismatchError extends MalformedMessageError {
  /** This end's framing. */
  readonly framing: 'framed' | 'stream';
  /** The framing the peer seems to speak. */
  readonly peerFraming: 'framed' | 'stream';
  readonly requestId: number | undefined;
  constructor(framing: 'framed' | 'stream', peerFraming: 'framed' | 'stream', requestId?: number) {
    super(`framing mismatch: this end speaks '${framing}' and the peer's bytes look like '${peerFraming}' framing; both ends must use the same framing option`, undefined, 'ERR_FRAMING_MISMATCH');
    this.framing = framing;
    this.peerFraming = peerFraming;
    this.requestId = requestId;
  }
}
FramingMismatchError.prototype.name = 'FramingMismatchError';

/** A value has no MessagePack form (a function, a symbol, a Set, a cycle, ...); nothing was sent. */
export class UnencodableValueError extends RpcError {
  /** What could not be encoded, and why (the message without its prefix). */
  readonly detail: string;
  constructor(detail: string) {
    super(`cannot encode as MessagePack: ${detail}`, 'ERR_UNENCODABLE_VALUE');
    this.detail = detail;
  }
}
UnencodableValueError.prototype.name = 'UnencodableValueError';

/** A call got no response within its timeout; a late response is dropped. */
export class RpcTimeoutError extends RpcError {
  constructor(method: string, ms: number) {
    super(`call ${method} timed out after ${ms} ms`, 'ERR_RPC_TIMEOUT');
  }
}
RpcTimeoutError.prototype.name = 'RpcTimeoutError';

/**
 * The reason of a server-side call's `signal`: the client cancelled it (ERR_RPC_CANCELLED), its
 * deadline passed (ERR_RPC_DEADLINE) or its connection closed (ERR_CONN_CLOSED).
 */
export class CallCancelledError extends RpcError {
  constructor(method: string, code: 'ERR_RPC_CANCELLED' | 'ERR_RPC_DEADLINE' | 'ERR_CONN_CLOSED') {
    const what = code === 'ERR_RPC_CANCELLED' ? 'cancelled by the client' : code === 'ERR_RPC_DEADLINE' ? 'past its deadline' : 'abandoned: its connection closed';
    super(`call ${method} ${what}`, code);
  }
}
CallCancelledError.prototype.name = 'CallCancelledError';

/**
 * A handler still running `runawayWarning` ms after its call was cancelled (by the client, its
 * deadline or its connection closing): it ignores `this.signal`. Reported to the server's onError
 * once per call; the call's slot was freed when it was cancelled and its result will be dropped.
 */
export class RunawayHandlerError extends RpcError {
  readonly method: string;
  constructor(method: string, ms: number, why: string) {
    super(`handler of ${method} still running ${ms} ms after its call was cancelled (${why}); its result will be dropped: make it stop on this.signal`, 'ERR_RPC_RUNAWAY');
    this.method = method;
  }
}
RunawayHandlerError.prototype.name = 'RunawayHandlerError';

/** The server has no such method. Sent as the response's error. */
export class MethodNotFoundError extends RpcError {
  constructor(method: unknown, what: 'call' | 'notification' = 'call') {
    super(what === 'call' ? `no such method: ${String(method)}` : `notification to no such method: ${String(method)}`, 'ERR_METHOD_NOT_FOUND');
  }
}
MethodNotFoundError.prototype.name = 'MethodNotFoundError';

/** A method's validate hook refused the params. Sent as the response's error. */
export class InvalidParamsError extends RpcError {
  constructor(method: string, detail: string, cause?: unknown) {
    super(`invalid params for ${method}: ${detail}`, 'ERR_INVALID_PARAMS', cause === undefined ? undefined : { cause });
  }
}
InvalidParamsError.prototype.name = 'InvalidParamsError';

/** The worker pool's queue is full: an offloaded call is answered with this error instead of waiting. */
export class QueueFullError extends RpcError {
  constructor(method: string) {
    super(`worker queue full, call ${method} refused`, 'ERR_QUEUE_FULL');
  }
}
QueueFullError.prototype.name = 'QueueFullError';

/** The client or server is closed. */
export class RpcClosedError extends RpcError {
  constructor(what = 'client') {
    super(`the RPC ${what} is closed`, 'ERR_RPC_CLOSED');
  }
}
RpcClosedError.prototype.name = 'RpcClosedError';

/**
 * The error a remote handler threw, as the response carried it: `name`, `message`, `code` (default
 * ERR_REMOTE) and `data` (structured detail, when the error had a `data` property) come from the
 * server's error.
 */
export class RemoteError extends RpcError {
  readonly remoteName: string;
  constructor(name: string, message: string, code: string | undefined, data?: unknown) {
    super(message, code ?? 'ERR_REMOTE', data === undefined ? undefined : { data });
    this.remoteName = name;
  }
}
RemoteError.prototype.name = 'RemoteError';

/**
 * The connection carrying a call closed before its reply came. `mayHaveRun` is true: the request was
 * sent, so the server may have run it. Not retried because the method is not idempotent (or the
 * retry budget, the attempts or the deadline were spent: `retried` says how often it was). Its code
 * is the transport's ERR_CONN_CLOSED, and it is a ConnClosedError.
 */
export class CallInterruptedError extends ConnClosedError {
  readonly mayHaveRun = true;
  readonly method: string;
  readonly retried: number;
  constructor(method: string, why: string, retried: number, cause: unknown) {
    super(`connection closed with call ${method} in flight: it may have run on the server (${why})`, cause === undefined ? undefined : { cause });
    this.method = method;
    this.retried = retried;
  }
}
CallInterruptedError.prototype.name = 'CallInterruptedError';
