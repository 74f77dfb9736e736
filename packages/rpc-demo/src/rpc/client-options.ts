// The RPC client's options, per-call options and stats, and the check of where the servers are
// (an address, addresses, a target or a resolver): what a caller of createClient() reads.
import { InvalidOptionError, type DialOptions, type Network, type OutlierOptions, type ReconnectOptions, type Resolver, StaticResolver, resolveTarget } from '@nocopy/transport';
import { checkHostPort } from '@nocopy/transport/util';
import type { Framing } from './protocol.js';
import type { RetryOptions } from './retry.js';
import type { RpcLink } from './client-link.js';
import { isWebSocketAddress } from './ws-link.js';

export interface ClientOptions {
  /** One server, "host:port" (or a socket path with network 'unix', or a server's WebSocket endpoint "ws://host:port/path"). */
  address?: string;
  /** Several servers. */
  addresses?: string[];
  /** A target: "host:port[,host:port]", "dns:///name:port", "dns:///_service._proto.name" (SRV), "etcd://host:port/prefix". */
  target?: string;
  /** A resolver of one's own (see @nocopy/transport's Resolver). */
  resolver?: Resolver;
  network?: Network;
  framing?: Framing;
  /** Connections per server (endpoint), all dialed as soon as the server is known. Default 2. */
  connections?: number;
  /** Which connection takes the next call: 'round-robin' (default), 'least-pending' (power of two choices over calls in flight), or a Balancer. */
  balancer?: 'round-robin' | 'least-pending' | import('@nocopy/transport').Balancer;
  /** Default per-call timeout in ms; 0 = none. Default 10000. It also bounds a call's wait for a ready server. */
  timeout?: number;
  /** Calls wait for a ready server through failures (bounded by their timeout) instead of failing fast. Default false. */
  waitForReady?: boolean;
  /** Largest message sent or accepted. Default 4 MiB. */
  maxMessageSize?: number;
  /** Dial options for every connection (timeout, tls, ...). */
  dial?: Omit<DialOptions<RpcLink>, 'onRequest' | 'ctx' | 'signal'>;
  /** Reconnect backoff: the first delay and the cap, in ms (defaults 50 and 5000), its jitter share and stableAfter. */
  backoff?: ReconnectOptions;
  /** Ejection of failing and slow servers; false turns it off. */
  outlier?: OutlierOptions | false;
  /** Retries of idempotent calls whose connection dropped. */
  retry?: RetryOptions;
  /**
   * Negotiate the wire extensions (cancel, deadline, metadata, drain) on each connection: one standard
   * request "$/nocopy" after the dial, answered as an unknown method by a plain MessagePack-RPC
   * server. Default true; false sends only plain messages (and drops metadata).
   */
  extensions?: boolean;
  /** Resolver errors (the last known servers stay in use). Default: ignored. */
  onResolverError?: (error: Error) => void;
}

export interface CallOptions {
  /** Overrides the client's default timeout, in ms; 0 = none. Sent to the server as the call's deadline. */
  timeout?: number;
  /** Aborting it rejects the call with ABORT_ERR and cancels it on the server. */
  signal?: AbortSignal;
  /** String metadata for the handler (ctx.metadata): trace ids, auth tokens. Dropped for a plain MessagePack-RPC server. */
  metadata?: Readonly<Record<string, string>>;
  /** This call may run twice: retry it on another server if its connection drops. Default: the client's retry.idempotent list, then what the server announced. */
  idempotent?: boolean;
  /** Wait for a ready server through failures (bounded by the timeout). Default: the client's waitForReady. */
  waitForReady?: boolean;
}

export interface ClientStats {
  /** Calls waiting for a response. */
  pending: number;
  /** Connections open and taking calls. */
  connections: number;
  calls: number;
  /** Dials made (the first ones and reconnects). */
  dials: number;
  /** Servers the target resolves to now, and those ejected. */
  endpoints: number;
  ejected: number;
  /** Calls waiting for a ready server. */
  waiting: number;
  /** Calls retried after their connection dropped, and retries the budget refused. */
  retries: number;
  retriesThrottled: number;
}

/** The resolver the options name: one of address(es), target and resolver. */
export function resolverFor(o: ClientOptions, network: Network): Resolver {
  const given = [o.address !== undefined, o.addresses !== undefined, o.target !== undefined, o.resolver !== undefined].filter(Boolean).length;
  if (given > 1 && !(given === 2 && o.address !== undefined && o.addresses !== undefined)) {
    throw new InvalidOptionError('target', o.target ?? o.resolver, 'one of address, addresses, target and resolver');
  }
  if (o.resolver !== undefined) {
    const r = o.resolver;
    if (r === null || typeof r !== 'object' || typeof r.start !== 'function' || typeof r.resolveNow !== 'function' || typeof r.close !== 'function') {
      throw new InvalidOptionError('resolver', r, 'a Resolver (start, resolveNow, close)');
    }
    return r;
  }
  if (o.target !== undefined) return resolveTarget(o.target, { network: network });
  if (o.addresses !== undefined) {
    if (!Array.isArray(o.addresses) || o.addresses.length === 0) throw new InvalidOptionError('addresses', o.addresses, 'a non-empty array of "host:port" strings');
  } else if (o.address === undefined) throw new InvalidOptionError('address', o.address, 'a "host:port" string (or addresses, target or resolver)');
  const list = o.addresses ?? [o.address!];
  for (const a of list) {
    const name = o.addresses !== undefined ? 'addresses' : 'address';
    if (network === 'tcp' && typeof a === 'string' && isWebSocketAddress(a)) checkWebSocketUrl(name, a);
    else if (network === 'tcp') checkHostPort(name, a);
    else if (typeof a !== 'string' || a === '') throw new InvalidOptionError(name, a, 'a Unix socket path');
  }
  return new StaticResolver(list);
}

/** InvalidOptionError for `metadata`, with the detail of what is wrong. */
export class MetadataOptionError extends InvalidOptionError {
  constructor(detail: string) {
    super('metadata', {}, `a map of string values (${detail})`);
  }
}

/** A `ws://host:port/path` or `wss://` address (the server's WebSocket endpoint). */
function checkWebSocketUrl(name: string, a: string): void {
  let ok = false;
  try {
    const u = new URL(a);
    ok = (u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok) throw new InvalidOptionError(name, a, 'a "ws://host:port/path" URL');
}
