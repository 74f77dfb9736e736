// Dialer: client connections over TCP or Unix sockets, optionally TLS, with a timeout and an AbortSignal.
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Connection } from './connection/connection.js';
import { AbortError, DialError, DialTimeoutError, InvalidOptionError } from './errors.js';
import { type ConnectionOptions, type OnRequest, resolveConnectionOptions } from './options.js';
import { checkEnum, checkHostPort, checkMs } from './util/validate.js';
import { kCreate, kStart } from './connection/symbols.js';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { type ReadTarget, onreadFor } from './connection/pooled-reads.js';

export type Network = 'tcp' | 'unix';

export interface DialOptions<C = unknown> extends ConnectionOptions<C> {
  /** Connect (and TLS handshake) deadline in ms; 0 = none. Default 10000. */
  timeout?: number;
  signal?: AbortSignal;
  /** TLS: true for defaults (certificate verified against the system CAs), or tls.connect options. */
  tls?: boolean | tls.ConnectionOptions;
  /** For asynchronous, multiplexed use: called like a server's onRequest whenever input arrives. */
  onRequest?: OnRequest<C>;
  /** The connection's initial ctx. */
  ctx?: C;
  /**
   * How input arrives: 'onread' reads straight into the reader's pooled nodes (Node's `onread`
   * socket option); 'link' links each chunk Node allocates as a node. Default 'onread'.
   */
  readMode?: 'onread' | 'link';
}

/** Parses "host:port", "[v6]:port" or ":port" (127.0.0.1); throws InvalidOptionError. */
export function parseHostPort(address: string): { host: string; port: number } {
  return checkHostPort('address', address);
}

export async function dialConnection<C = unknown>(
  network: Network,
  address: string | { host?: string; port: number },
  options: DialOptions<C> = {},
): Promise<Connection<C>> {
  const resolved = resolveConnectionOptions(options);
  const timeout = checkMs('timeout', options.timeout, 10_000);
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError(signal.reason);
  let target: { host: string; port: number } | { path: string };
  let label: string;
  if (network === 'tcp') {
    target = typeof address === 'string' ? parseHostPort(address) : { host: address.host ?? '127.0.0.1', port: address.port };
    label = `${target.host}:${target.port}`;
  } else if (network === 'unix') {
    if (typeof address !== 'string') throw new InvalidOptionError('address', address, 'a socket path');
    target = { path: address };
    label = address;
  } else {
    throw new InvalidOptionError('network', network, '"tcp" or "unix"');
  }
  const readMode = checkEnum('readMode', options.readMode, ['onread', 'link'] as const, 'onread');
  const input = readMode === 'onread' ? new LinkBuffer({ pool: resolved.pool }) : null;
  const readTarget: ReadTarget = { current: null };
  const onread = input !== null ? onreadFor(input, readTarget, resolved.maxInboundBytes) : undefined;
  const tlsOpts = options.tls;
  let socket: Socket;
  if (tlsOpts) {
    const extra = tlsOpts === true ? {} : tlsOpts;
    const servername = 'host' in target && net.isIP(target.host) === 0 ? target.host : undefined;
    // @types/node omits onread from tls.connect's options; Node 20 passes it through (lib/_tls_wrap.js).
    socket = tls.connect({ servername, minVersion: 'TLSv1.2', allowHalfOpen: true, ...extra, ...target, onread } as tls.ConnectionOptions & { onread?: net.OnReadOpts; allowHalfOpen?: boolean });
  } else {
    socket = net.connect({ ...target, allowHalfOpen: true, onread });
  }
  const connectEvent = tlsOpts ? 'secureConnect' : 'connect';
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      clearTimeout(timer);
      socket.off(connectEvent, onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      input?.close();
      reject(err);
    };
    const onError = (err: Error) => fail(new DialError(label, err));
    const onAbort = () => fail(new AbortError(signal!.reason));
    socket.once(connectEvent, onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout > 0) {
      timer = setTimeout(() => fail(new DialTimeoutError(label, timeout)), timeout);
    }
  });
  if (resolved.noDelay && network === 'tcp') socket.setNoDelay(true);
  const conn = Connection[kCreate]<C>(socket, resolved, options.onRequest ?? null, options.ctx as C, null, input);
  readTarget.current = conn;
  conn[kStart]();
  return conn;
}

/** Dials with a fixed set of default options; per-call options override them. */
export class Dialer<C = unknown> {
  readonly #defaults: DialOptions<C>;
  constructor(defaults: DialOptions<C> = {}) {
    this.#defaults = defaults;
  }
  dial(network: Network, address: string | { host?: string; port: number }, options: DialOptions<C> = {}): Promise<Connection<C>> {
    return dialConnection<C>(network, address, { ...this.#defaults, ...options });
  }
}
