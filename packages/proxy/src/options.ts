// Options of the TCP proxy, their defaults and validation (cold path: clarity over speed).
import type { BlockPool } from '@nocopy/linkbuffer';
import { InvalidOptionError, parseHostPort, type Network } from '@nocopy/transport';
import { formatHostPort } from '@nocopy/transport/util';

/** Where the proxy accepts clients: a TCP host and port (default 127.0.0.1, port 0 = any free one) or a Unix socket path. */
export type ListenAddress = { host?: string; port?: number } | { path: string };

/** Where the proxy connects for each client: "host:port", `{ host, port }` or a Unix socket `{ path }`. */
export type UpstreamAddress = string | { host?: string; port: number } | { path: string };

/** Why an error was reported: a failed upstream dial, or a failure on an established client or upstream connection. */
export type ProxyErrorStage = 'dial' | 'client' | 'upstream';

export interface ProxyErrorInfo {
  stage: ProxyErrorStage;
  /** The client's address ("host:port", or the socket path's peer, "unix"). */
  client: string;
  /** The upstream address as configured. */
  upstream: string;
}

export type ProxyErrorHandler = (error: unknown, info: ProxyErrorInfo) => void;

export interface ProxyOptions {
  /** Default `{ host: '127.0.0.1', port: 0 }`. */
  listen?: ListenAddress;
  /** Required. */
  upstream: UpstreamAddress;
  /** Bound on connecting to the upstream, in ms (0 = none). Default 5000. */
  dialTimeout?: number;
  /** Close a pair whose client or upstream connection saw no traffic this long, in ms (0 = never). Default 0. */
  idleTimeout?: number;
  /** Bound on waiting for a slow reader to take forwarded bytes, in ms (0 = none); then the pair is closed. Default 0. */
  writeTimeout?: number;
  /** Unread input per connection at which reading pauses. Default 256 KiB. */
  maxInboundBytes?: number;
  /** Bytes queued in a socket above which forwarding to it waits. Default 256 KiB. */
  maxOutboundBytes?: number;
  /** Client connections at most; more are refused. Default Infinity. */
  maxConnections?: number;
  backlog?: number;
  /** Where the connections' buffers take memory from. Default: the shared defaultPool. */
  pool?: BlockPool;
  /**
   * Called for upstream dial failures, upstream connections that fail, and errors of the forwarding
   * itself (a write timeout, say). Default: one line to stderr. Client resets and idle timeouts are
   * routine and not reported.
   */
  onError?: ProxyErrorHandler;
}

export const DEFAULT_DIAL_TIMEOUT = 5000;
export const DEFAULT_MAX_INBOUND = 256 * 1024;
export const DEFAULT_MAX_OUTBOUND = 256 * 1024;

export interface ResolvedUpstream {
  network: Network;
  address: string | { host: string; port: number };
  /** For messages. */
  label: string;
}

export function resolveUpstream(upstream: unknown): ResolvedUpstream {
  if (typeof upstream === 'string') {
    const { host, port } = parseHostPort(upstream);
    if (port === 0) throw new InvalidOptionError('upstream', upstream, '"host:port" with a non-zero port');
    return { network: 'tcp', address: { host, port }, label: `${host}:${port}` };
  }
  if (upstream !== null && typeof upstream === 'object') {
    const u = upstream as { host?: unknown; port?: unknown; path?: unknown };
    if (typeof u.path === 'string' && u.path !== '') return { network: 'unix', address: u.path, label: u.path };
    if (Number.isInteger(u.port) && (u.port as number) > 0 && (u.port as number) <= 65535 && (u.host === undefined || typeof u.host === 'string')) {
      const host = (u.host as string | undefined) ?? '127.0.0.1';
      return { network: 'tcp', address: { host, port: u.port as number }, label: `${host}:${u.port}` };
    }
  }
  throw new InvalidOptionError('upstream', upstream, '"host:port", { host, port } or { path }');
}

/**
 * A command-line address: "host:port", ":port" (127.0.0.1), "[v6]:port", or a Unix socket path
 * (anything containing a "/").
 */
export function parseAddress(text: string): { host: string; port: number } | { path: string } {
  if (text.includes('/')) return { path: text };
  return parseHostPort(text);
}

/** `"host:port"` of a socket's peer, for messages. */
export function describePeer(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unix';
  return formatHostPort(address, port ?? 0);
}

/** The default onError: one line to stderr. */
export function logToStderr(error: unknown, info: ProxyErrorInfo): void {
  process.stderr.write(`nocopy-proxy: ${describeError(error, info)}\n`);
}

/** One line about `error`, with the client and upstream it concerns. */
export function describeError(error: unknown, info: ProxyErrorInfo): string {
  const msg = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const suffix = typeof code === 'string' && !msg.includes(code) ? ` (${code})` : '';
  switch (info.stage) {
    case 'dial':
      return `upstream ${info.upstream} unreachable, closing client ${info.client}: ${msg}${suffix}`;
    case 'upstream':
      return `upstream connection to ${info.upstream} for client ${info.client} failed: ${msg}${suffix}`;
    default:
      return `client ${info.client} (upstream ${info.upstream}): ${msg}${suffix}`;
  }
}
