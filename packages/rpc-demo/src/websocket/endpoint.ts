// The RPC server over WebSocket, natively: `nocopy-rpc serve --websocket PORT` serves the server's
// methods at ws://HOST:PORT/ (one MessagePack-RPC message per WebSocket message, no length prefix)
// and a page at http://HOST:PORT/ that calls them from a browser with the browser client
// (../browser/client.ts). Each WebSocket session is a peer of the RpcServer itself, as a TCP
// connection is: the same method table, limits (maxInFlight, maxMessageSize), cancellation, deadlines,
// drain at shutdown and stats; no loopback connection in between.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import type { ShutdownOptions } from '@nocopy/transport';
import { createWebSocketSessionServer, type WebSocketSessionServer } from '@nocopy/transport/websocket';
import { DEFAULT_WRITE_TIMEOUT, type PeerHooks, type RpcServer, kPeers } from '../rpc/server.js';
import type { PeerInput, PeerOutput } from '../sessions/peer.js';
import { peers } from '../sessions/peers.js';
import { messageCodec } from '../sessions/codec.js';

export interface WebSocketEndpointOptions {
  /** The RPC server whose methods are served; its shutdown() stops the endpoint too. */
  server: RpcServer;
  /** The path of WebSocket upgrades. Default '/'. */
  path?: string;
  /** WebSocket sessions at most. Default 1000. */
  maxConnections?: number;
  /** A session whose replies the peer does not take within this many ms is closed (ERR_WRITE_TIMEOUT). Default 30000, as the server's TCP writeTimeout. */
  writeTimeout?: number;
  /** Answers HTTP requests that are not upgrades. Default: the demo page and its scripts. */
  onHttpRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export interface WebSocketEndpoint extends AsyncDisposable {
  readonly sessions: WebSocketSessionServer<PeerInput, PeerOutput>;
  listen(options?: { port?: number; host?: string }): Promise<AddressInfo>;
  /**
   * Stops this endpoint alone (the RpcServer's shutdown stops it too): our clients are told to go,
   * the calls in flight are answered (within `timeout`, default 30 s), then the sessions close.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

/** The files the page loads; nothing else is served. */
function staticFiles(): Map<string, { path: string; type: string }> {
  // msgpackr exports no package.json; its Node entry (node-index.js) sits beside the browser one.
  const msgpackr = dirname(fileURLToPath(import.meta.resolve('msgpackr')));
  const js = 'text/javascript; charset=utf-8';
  return new Map([
    ['/', { path: join(here, '..', '..', '..', 'static', 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/client.js', { path: join(here, '..', 'browser', 'client.js'), type: js }],
    ['/strict.js', { path: join(here, '..', 'browser', 'strict.js'), type: js }],
    ['/msgpack/rule.js', { path: join(here, '..', 'msgpack', 'rule.js'), type: js }],
    // msgpackr's browser entry and the modules it imports (ES modules, no Node built-ins).
    ...['index.js', 'pack.js', 'unpack.js', 'iterators.js'].map((f) => [`/vendor/msgpackr/${f}`, { path: join(msgpackr, f), type: js }] as const),
  ]);
}

function servePage(): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const files = staticFiles();
  return (req, res) => {
    const file = req.method === 'GET' ? files.get(new URL(req.url ?? '/', 'http://x').pathname) : undefined;
    if (file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    readFile(file.path).then(
      (body) => res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' }).end(body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('missing file: run npm run build\n'),
    );
  };
}

export function createWebSocketEndpoint(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const hooks: PeerHooks = options.server[kPeers]();
  // 'stream': no length prefix, one reply per WebSocket message.
  const rpc = peers(hooks, 'stream');
  const sessions = createWebSocketSessionServer<PeerInput, PeerOutput>({
    codec: messageCodec(hooks.maxMessageSize),
    path: options.path,
    maxConnections: options.maxConnections ?? 1000,
    heartbeat: { interval: 30_000 },
    // As the server's TCP writeTimeout: a peer that stops reading its replies is cut off.
    writeTimeout: options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT,
    onHttpRequest: options.onHttpRequest ?? servePage(),
    listener: rpc.listener,
  });
  const stopSessions = (o: ShutdownOptions) => sessions.shutdown(o);
  // The server's shutdown: our clients are told to go ("$/drain"), the calls in flight are answered, then the sessions close.
  hooks.attach((o) => rpc.stop(o, stopSessions));
  const shutdown = (o: ShutdownOptions = {}) => rpc.stop(o, stopSessions);
  return {
    sessions,
    listen: (o = {}) => sessions.listen(o),
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}
