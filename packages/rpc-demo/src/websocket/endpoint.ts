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
import { LinkBuffer } from '@nocopy/linkbuffer';
import { AttributeKey, type Codec, type Session } from '@nocopy/transport';
import { createWebSocketSessionServer, type WebSocketSessionServer } from '@nocopy/transport/websocket';
import { decode } from '../msgpack/decode.js';
import { type Message, validate } from '../rpc/protocol.js';
import { NO_PEER, type Peer } from '../rpc/context.js';
import { PeerState } from '../rpc/conn-state.js';
import { DEFAULT_WRITE_TIMEOUT, type PeerHooks, type RpcServer, kPeers } from '../rpc/server.js';

export interface WebSocketEndpointOptions {
  /** The RPC server whose methods are served; its shutdown() stops the endpoint too. */
  server: RpcServer;
  /** The path of WebSocket upgrades. Default '/'. */
  path?: string;
  /** WebSocket sessions at most. Default 1000. */
  maxConnections?: number;
  /** Answers HTTP requests that are not upgrades. Default: the demo page and its scripts. */
  onHttpRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export interface WebSocketEndpoint extends AsyncDisposable {
  readonly sessions: WebSocketSessionServer<Message, Uint8Array>;
  listen(options?: { port?: number; host?: string }): Promise<AddressInfo>;
  /** Stops this endpoint alone (the RpcServer's shutdown stops it too). */
  shutdown(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const kState = new AttributeKey<SessionState>('rpc peer');
/** Replies sent and not yet written to the socket, per session, past which its input waits. */
const MAX_SENDING = 256;

/** A WebSocket session as a peer of the RpcServer: replies are encoded in `out` and sent one per WebSocket message. */
class SessionState extends PeerState {
  readonly session: Session<Message, Uint8Array>;
  readonly peer: Peer;
  readonly out = new LinkBuffer();
  readonly framing = 'stream' as const;
  readonly eachReply = true;
  /** Replies handed to send() and not yet taken by the socket. */
  #sending = 0;
  readonly #sent = (): void => {
    if (--this.#sending === MAX_SENDING - 1) this.onFlushed?.();
  };
  #resume: (() => void) | null = null;

  constructor(session: Session<Message, Uint8Array>) {
    super();
    this.session = session;
    const a = session.remoteAddress;
    const colon = a === undefined ? -1 : a.lastIndexOf(':');
    this.peer = colon < 0 ? NO_PEER : Object.freeze({ address: a!.slice(a!.startsWith('[') ? 1 : 0, a!.endsWith(']', colon) ? colon - 1 : colon), port: Number(a!.slice(colon + 1)) });
  }

  /** A peer that does not read its replies: decoding pauses until the socket takes them (as a TCP connection's output waiting). */
  get waiting(): boolean {
    return this.#sending >= MAX_SENDING;
  }

  hold(): void {}
  unhold(): void {}

  /** The session's next message waits for this (the server paused at maxInFlight). */
  whenResumed(): Promise<void> {
    return new Promise((resolve) => (this.#resume = resolve));
  }

  redispatch(): void {
    const r = this.#resume;
    this.#resume = null;
    r?.();
  }

  // Each reply was sent as it was written (eachReply).
  queueFlush(): void {}

  sendOut(): void {
    const out = this.out;
    out.flush();
    if (out.length === 0) return;
    this.#sending++;
    this.session.send(out.readBinary(out.length)).then(this.#sent, this.#sent);
  }

  end(): void {
    this.session.close(this.failed);
  }
}

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

/** One WebSocket message is one MessagePack-RPC message: decoded and shape-checked here, with the server's limits. */
function rpcCodec(max: number): Codec<Message, Uint8Array> {
  // As MessageReader allows: arrays and maps per message at most (decoding cost grows with them).
  const containers = Math.max(65_536, Math.floor(max / 16));
  return {
    maxMessageLength: max,
    decode: (r) => (r.length === 0 ? undefined : validate(decode(r.next(r.length), containers))),
    encode: (m, w) => w.writeBinary(m),
  };
}

export function createWebSocketEndpoint(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const hooks: PeerHooks = options.server[kPeers]();
  const live = new Set<SessionState>();
  const sessions = createWebSocketSessionServer<Message, Uint8Array>({
    codec: rpcCodec(hooks.maxMessageSize),
    path: options.path,
    maxConnections: options.maxConnections ?? 1000,
    heartbeat: { interval: 30_000 },
    // As the server's TCP writeTimeout: a peer that stops reading its replies is cut off.
    writeTimeout: DEFAULT_WRITE_TIMEOUT,
    onHttpRequest: options.onHttpRequest ?? servePage(),
    listener: {
      onOpen(session) {
        const st = new SessionState(session);
        hooks.open(st);
        live.add(st);
        session.attributes.set(kState, st);
      },
      onMessage(session, m) {
        const st = session.attributes.get(kState)!;
        if (!hooks.message(st, m)) return st.whenResumed();
      },
      onError(_session, err) {
        hooks.error(err);
      },
      onClose(session) {
        const st = session.attributes.get(kState);
        if (st === undefined) return;
        live.delete(st);
        hooks.closed(st);
        st.redispatch();
        st.out.close();
      },
    },
  });
  // The server's shutdown: our clients are told to go ("$/drain"), then the sessions close.
  hooks.attach((drain) => {
    for (const st of live) drain(st);
    return sessions.shutdown();
  });
  return {
    sessions,
    listen: (o = {}) => sessions.listen(o),
    shutdown: () => sessions.shutdown(),
    [Symbol.asyncDispose]: () => sessions.shutdown(),
  };
}
