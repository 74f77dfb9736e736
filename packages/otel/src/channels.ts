// The TracingChannels @nocopy/rpc-demo publishes, by name, and the parts of their messages read here.
// Subscribing by name instead of importing rpc-demo keeps this package free of a build-time link to
// it (rpc-demo's CLI loads this package when --metrics is given) and works with any copy of it.
import diagnostics from 'node:diagnostics_channel';

/** One per client call (request(), call(), service proxies). */
export const CLIENT_CALL = 'nocopy:rpc:client:call';
/** One per request or notification a server runs. */
export const SERVER_CALL = 'nocopy:rpc:server:call';

/** CallOptions of the RPC client, as far as read or replaced here. */
export interface CallOptionsShape {
  timeout?: number;
  signal?: AbortSignal;
  metadata?: Readonly<Record<string, string>>;
}

/** The client channel's message: a start subscriber may replace `options` (request() reads it back). */
export interface ClientCallMessage {
  method: string;
  params: unknown[];
  options: CallOptionsShape;
  /**
   * Set when the call is written on a connection (again on a retry): the endpoint it was dialed to
   * ("host:port" as the target named it, or a Unix socket path) and its socket's remote end.
   */
  address?: string;
  peer?: { readonly address: string | undefined; readonly port: number | undefined };
  result?: unknown;
  error?: unknown;
  /** Set by a start subscriber: the call runs as enter(run) (rpc-demo's TracedMessage). */
  enter?: (run: () => unknown) => unknown;
}

/** The CallContext of a server call, as far as read here. */
export interface CallContextShape {
  readonly id: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly deadline: number;
  readonly peer: { address: string | undefined; port: number | undefined };
  readonly cancelled: boolean;
  readonly signal: AbortSignal;
}

export interface ServerCallMessage {
  method: string;
  params: unknown[];
  context: CallContextShape;
  result?: unknown;
  error?: unknown;
  enter?: (run: () => unknown) => unknown;
}

export const clientChannel = diagnostics.tracingChannel<unknown, ClientCallMessage>(CLIENT_CALL);
export const serverChannel = diagnostics.tracingChannel<unknown, ServerCallMessage>(SERVER_CALL);
