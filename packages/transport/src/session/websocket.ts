// WebSocket sessions (WS and WSS, on `ws`): one WebSocket message is one decode, one encode is one
// WebSocket message. The heartbeat is a ping, and a session that has not answered (any input, a
// pong included) within heartbeat.timeout is closed. send() waits while the socket buffers more
// than maxOutboundBytes, bounded by writeTimeout. permessage-deflate is off unless asked for
// (SECURITY.md: a compression bomb is bounded by maxPayload after inflation, and by zlib concurrency).
// Imported: Node's global Buffer is a getter, a call on every use in a hot path.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import type tls from 'node:tls';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from './ws-peer.js';
import { ConnClosedError, HeartbeatTimeoutError, InvalidOptionError, ShutdownError, WriteTimeoutError } from '../errors.js';
import { checkBoolean, checkBytes, checkCount, checkEnum, checkMs } from '../util/validate.js';
import { type SessionConfig, type SessionOptions, resolveSessionOptions } from './config.js';
import { MessageLink, kText } from './message-link.js';
import { Session, kFail, kLink, kOpen, kTouch } from './session.js';
import { SessionSet } from './set.js';
import { unmaskAheadOfWs } from './ws-unmask.js';
import type { Codec } from './codec.js';
import { RESOLVED } from '../util/thenable.js';
import { inCheckPhase } from '../util/check-phase.js';
import { StoppableServer } from '../server-front.js';

const AS_BINARY = Object.freeze({ binary: true });
const AS_TEXT = Object.freeze({ binary: false });
/** Close codes that say nothing went wrong: 1000 normal, 1001 going away, 1005 no code, 1006 cut (the peer died or we cut it). */
const NORMAL_CLOSE = new Set([1000, 1001, 1005, 1006]);
const CLOSE_CODES: Record<number, string> = { 1002: 'protocol error', 1003: 'unsupported data', 1007: 'invalid data', 1008: 'policy violation', 1009: 'message too big', 1010: 'extension expected', 1011: 'server error', 1013: 'try again later' };
/** How long a closing WebSocket waits for the peer's close frame without a writeTimeout (TCP's linger), instead of ws's 30 s. */
const CLOSE_LINGER = 5000;

export interface WebSocketLinkOptions {
  /** Send messages as 'binary' (default) or 'text' frames. Received text and binary messages both reach the codec as bytes. */
  sendAs?: 'binary' | 'text';
  /** Bytes the socket may buffer before send() waits. Default 1 MiB. */
  maxOutboundBytes?: number;
  /** Bound on send() waiting under backpressure, in ms; 0 = none. On expiry the session closes (WriteTimeoutError). Default 0. */
  writeTimeout?: number;
  /** The largest message accepted, in bytes (after inflation). Default: the codec's maxMessageLength, else 1 MiB. */
  maxPayload?: number;
  /** permessage-deflate. Default false. true enables it with zlib concurrency 10 and a 1 KiB threshold. */
  perMessageDeflate?: boolean;
}

export interface WebSocketSessionServerOptions<In, Out = In> extends SessionOptions<In, Out>, WebSocketLinkOptions {
  /** The path WebSocket upgrades are served at. Default '/'. */
  path?: string;
  /** Sessions at most; an upgrade beyond is refused (HTTP 503). Default 10000. */
  maxConnections?: number;
  /** Messages waiting behind a running async onMessage, per session, before reading pauses. Default 64. */
  maxQueued?: number;
  /** Answers HTTP requests that are not upgrades (a page, a health check); default 426 Upgrade Required. */
  onHttpRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

interface LinkConfig {
  binary: boolean;
  maxOutbound: number;
  writeTimeout: number;
  maxPayload: number;
  deflate: false | { concurrencyLimit: number; threshold: number };
}

function resolveLinkOptions(o: WebSocketLinkOptions, codecMax: number | undefined): LinkConfig {
  return {
    binary: checkEnum('sendAs', o.sendAs, ['binary', 'text'] as const, 'binary') === 'binary',
    maxOutbound: checkBytes('maxOutboundBytes', o.maxOutboundBytes, 1024 * 1024),
    writeTimeout: checkMs('writeTimeout', o.writeTimeout, 0),
    maxPayload: checkBytes('maxPayload', o.maxPayload, codecMax ?? 1024 * 1024),
    deflate: checkBoolean('perMessageDeflate', o.perMessageDeflate, false) ? { concurrencyLimit: 10, threshold: 1024 } : false,
  };
}

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

class WebSocketLink extends MessageLink {
  protected override readonly textFrames = true;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly #ws: WebSocket;
  readonly #c: LinkConfig;
  #drainWaiters: Waiter[] = [];
  #writeTimer: NodeJS.Timeout | null = null;
  #paused = false;
  #corked = false;
  /** Bounds the wait for the peer's close frame once we sent ours. */
  #linger: NodeJS.Timeout | null = null;
  readonly #uncork = (): void => {
    this.#corked = false;
    const sock = this.#socket;
    if (sock !== undefined && !sock.destroyed) sock.uncork();
  };
  readonly #onSent = (): void => {
    if (this.#drainWaiters.length === 0) return;
    if (this.#ws.bufferedAmount <= this.#c.maxOutbound) this.#wake(null);
    else this.#armDrain();
  };
  #drainArmed = false;
  readonly #onDrain = (): void => {
    this.#drainArmed = false;
    this.#onSent();
  };

  /** One 'drain' listener at a time on the socket, while someone waits. */
  #armDrain(): void {
    if (this.#drainArmed) return;
    const sock = this.#socket;
    if (sock === undefined) return;
    this.#drainArmed = true;
    sock.once('drain', this.#onDrain);
  }

  constructor(ws: WebSocket, c: LinkConfig, maxInFlight: number, maxQueued: number) {
    super({ maxInFlight, maxQueued });
    this.#ws = ws;
    this.#c = c;
    const sock = socketOf(ws);
    this.localAddress = sock?.localAddress;
    this.localPort = sock?.localPort;
    this.remoteAddress = sock?.remoteAddress;
    this.remotePort = sock?.remotePort;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const b = toBuffer(data);
      if (!isBinary) (b as { [kText]?: boolean })[kText] = true;
      this.push(b);
    });
    ws.on('pong', () => this.session?.[kTouch]());
    ws.on('ping', () => this.session?.[kTouch]());
    ws.on('error', (err) => {
      if (this.error === undefined) this.error = err;
    });
    ws.once('close', (code: number, reason: Buffer) => {
      if (this.#linger !== null) clearTimeout(this.#linger);
      this.#wake(new ConnClosedError(`the WebSocket closed (${code})`));
      // An error (a message above maxPayload, a protocol violation) goes to onError; a close is a close.
      if (this.error !== undefined) this.session?.[kFail](this.error);
      else if (NORMAL_CLOSE.has(code)) this.session?.close();
      else {
        // The peer closed for a reason of its own (1009: our message was too big for it, 1011: it
        // failed): onClose learns it, though it is no error of this end.
        const text = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
        this.session?.close(new ConnClosedError(`the peer closed the WebSocket with ${code}${CLOSE_CODES[code] === undefined ? '' : ` (${CLOSE_CODES[code]})`}${text}`));
      }
      this.gone(this.error);
    });
  }

  protected sendMessage(bytes: Buffer, text: boolean, done: (() => void) | null): void {
    // The messages of one event-loop turn leave in one write: the socket stays corked until the
    // check phase (ws corks each frame itself; corks nest).
    if (!this.#corked) {
      const sock = this.#socket;
      if (sock !== undefined && !sock.destroyed) {
        this.#corked = true;
        sock.cork();
        inCheckPhase(this.#uncork);
      }
    }
    // ws writes the bytes as they are (a server does not mask), so they must stay valid until its
    // callback: `done` releases them then.
    // No write callback unless one is needed (Node's per-write callbacks cost): `done` for a slice,
    // or someone waiting for the output to drain.
    const cb = done !== null ? () => {
      done();
      this.#onSent();
    } : this.#drainWaiters.length > 0 ? this.#onSent : undefined;
    // ws copies the options it is given: one object per kind of frame, not one per message.
    this.#ws.send(bytes, text || !this.#c.binary ? AS_TEXT : AS_BINARY, cb);
  }

  get waiting(): boolean {
    return this.#ws.bufferedAmount > this.#c.maxOutbound;
  }

  drained(): Promise<void> {
    if (!this.isActive()) return Promise.reject(new ConnClosedError('the session is closed'));
    if (!this.waiting) return RESOLVED;
    const ms = this.#c.writeTimeout;
    if (ms > 0 && this.#writeTimer === null) {
      this.#writeTimer = setTimeout(() => {
        const err = new WriteTimeoutError(ms);
        this.#wake(err);
        this.session?.[kFail](err);
      }, ms);
    }
    // The socket's 'drain' wakes the waiters too: sends without a callback do not.
    this.#armDrain();
    return new Promise<void>((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  #wake(err: unknown): void {
    if (this.#writeTimer !== null) clearTimeout(this.#writeTimer);
    this.#writeTimer = null;
    const ws = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of ws) if (err === null) w.resolve();
    else w.reject(err);
  }

  ping(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
  }

  protected closeTransport(error: unknown, graceful: boolean): void {
    const ws = this.#ws;
    // A peer that answers no ping or does not read its output would not answer a close frame either:
    // cut now, as TCP does, rather than hold the session (and a maxConnections slot) for ws's 30 s.
    if (!graceful || error instanceof HeartbeatTimeoutError || error instanceof WriteTimeoutError) {
      ws.terminate();
      return;
    }
    ws.close(error === undefined ? 1000 : 1011);
    if (this.#linger === null && ws.readyState !== WebSocket.CLOSED) {
      this.#linger = setTimeout(() => ws.terminate(), this.#c.writeTimeout > 0 ? this.#c.writeTimeout : CLOSE_LINGER).unref();
    }
  }

  protected overflow(): boolean {
    // A WebSocket is a stream: stop reading until the queue drains (TCP backpressure does the rest).
    const sock = this.#socket;
    if (!this.#paused && sock !== undefined) {
      this.#paused = true;
      sock.pause();
    }
    return false;
  }

  protected override queueDrained(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket?.resume();
  }

  /** ws keeps the socket under a private name; it is there once the connection is open. */
  get #socket(): Socket | undefined {
    return socketOf(this.#ws);
  }

  dropMalformed(): boolean {
    return false; // a stream: a malformed message closes the session, as over TCP
  }
}

function socketOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket })._socket;
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export interface WebSocketListenOptions {
  port?: number;
  host?: string;
  /** Serve WSS with these options (key, cert, ...); TLS 1.2 at least unless they say otherwise. */
  tls?: tls.TlsOptions;
}

export interface WebSocketSessionServerStats {
  sessions: number;
  opened: number;
  closed: number;
  refused: number;
}

export class WebSocketSessionServer<In = unknown, Out = In> extends StoppableServer<{ timeout?: number }> {
  readonly #cfg: SessionConfig<In, Out>;
  readonly #link: LinkConfig;
  readonly #path: string;
  readonly #maxConnections: number;
  readonly #maxQueued: number;
  readonly #onHttpRequest: WebSocketSessionServerOptions<In, Out>['onHttpRequest'];
  readonly #live = new SessionSet<In, Out>();
  #http: http.Server | https.Server | null = null;
  #wss: WebSocketServer | null = null;
  #refused = 0;
  /** listen() bound the HTTP server; serve() only feeds it. */
  #listening = false;

  constructor(options: WebSocketSessionServerOptions<In, Out>) {
    super();
    const { codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel } = options;
    this.#cfg = resolveSessionOptions({ codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel });
    this.#link = resolveLinkOptions(options, codec.maxMessageLength);
    const path = options.path ?? '/';
    if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidOptionError('path', path, 'a path that starts with "/"');
    this.#path = path;
    this.#maxConnections = checkCount('maxConnections', options.maxConnections, 10_000);
    this.#maxQueued = checkCount('maxQueued', options.maxQueued, 64);
    if (options.onHttpRequest !== undefined && typeof options.onHttpRequest !== 'function') throw new InvalidOptionError('onHttpRequest', options.onHttpRequest, 'a function');
    this.#onHttpRequest = options.onHttpRequest;
  }

  /** Listens on a new HTTP (or, with `tls`, HTTPS) server; resolves with its address. One listen() per server. */
  async listen(options: WebSocketListenOptions = {}): Promise<AddressInfo> {
    if (this.shuttingDown) throw new ShutdownError();
    if (this.#listening) throw new InvalidOptionError('listen', 'a second call', 'one listen() per WebSocket server');
    if (this.#http !== null && options.tls) throw new InvalidOptionError('listen.tls', 'after serve()', 'listen({ tls }) before serve(): the connections serve() hands are plain WS');
    this.#listening = true;
    const server = this.#front(options.tls);
    server.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
    return server.address() as AddressInfo;
  }

  /**
   * Serves the connections of a TCP server made elsewhere (a cluster worker's: serveWorker() takes
   * this server) as plain WS, besides or instead of listen(); that server stays open at shutdown.
   */
  serve(server: Server): this {
    if (this.shuttingDown) throw new ShutdownError();
    const http = this.#front(undefined);
    server.on('connection', (socket: Socket) => {
      if (this.shuttingDown) socket.destroy();
      else http.emit('connection', socket);
    });
    return this;
  }

  /** The HTTP server that takes the upgrades, made at the first listen() or serve(). */
  #front(tlsOptions: tls.TlsOptions | undefined): http.Server | https.Server {
    if (this.#http !== null) return this.#http;
    const onRequest = this.#onHttpRequest ?? ((_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('a WebSocket endpoint\n');
    });
    const server = tlsOptions ? https.createServer({ minVersion: 'TLSv1.2', ...tlsOptions }, onRequest) : http.createServer(onRequest);
    this.#http = server;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#link.maxPayload,
      perMessageDeflate: this.#link.deflate,
      clientTracking: false,
    });
    this.#wss = wss;
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== this.#path || this.#live.size >= this.#maxConnections || this.shuttingDown) {
        this.#refused++;
        socket.end(`HTTP/1.1 ${url.pathname !== this.#path ? '404 Not Found' : '503 Service Unavailable'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        return;
      }
      // Client frames are unmasked a word at a time ahead of ws (ws-unmask.ts), from the first byte.
      unmaskAheadOfWs(socket as Socket, head);
      wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
    });
    return server;
  }

  #accept(ws: WebSocket): void {
    const link = new WebSocketLink(ws, this.#link, this.#cfg.maxInFlight, this.#maxQueued);
    const session = new Session<In, Out>(link, this.#cfg, this.#live, 'websocket');
    link.session = session;
    this.#live.add(session);
    const r = session[kOpen]();
    if (r === undefined) link.start();
    else void r.then(() => link.start());
  }

  /** The address listen() bound, null before (or with serve() only). */
  address(): AddressInfo | null {
    return this.#listening ? ((this.#http?.address() as AddressInfo | null) ?? null) : null;
  }

  sessions(): IterableIterator<Session<In, Out>> {
    return this.#live.values();
  }

  get size(): number {
    return this.#live.size;
  }

  broadcast(message: Out, filter?: (s: Session<In, Out>) => boolean): number {
    return this.#live.broadcast(message, filter);
  }

  stats(): WebSocketSessionServerStats {
    return { sessions: this.#live.size, opened: this.#live.opened, closed: this.#live.closed, refused: this.#refused };
  }

  /**
   * shutdown() (StoppableServer): stops accepting, closes every session (close frames; each onClose
   * runs), then the HTTP server. A peer that has not answered our close frame by `timeout` (default
   * 30 s) is cut off.
   */
  protected stopServer(options: { timeout?: number }): Promise<void> {
    const timeout = checkMs('timeout', options.timeout, 30_000);
    return (async () => {
      for (const s of this.#live) s.close();
      if (this.#live.size > 0) {
        // The deadline cuts the sockets still waiting for their peer's close frame.
        const timer = setTimeout(() => {
          const err = new ShutdownError('the shutdown deadline passed');
          for (const s of this.#live) (s[kLink] as MessageLink).abort(err);
        }, timeout);
        await this.#live.whenEmpty();
        clearTimeout(timer);
      }
      this.#wss?.close();
      const server = this.#http;
      if (server !== null) {
        server.closeAllConnections?.();
        // Only listen() bound it: a server that only serve() fed was never listening.
        if (this.#listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    })();
  }
}

export function createWebSocketSessionServer<In, Out = In>(options: WebSocketSessionServerOptions<In, Out>): WebSocketSessionServer<In, Out> {
  return new WebSocketSessionServer<In, Out>(options);
}

/** @internal A WebSocket client connection as a session link (the session client's 'websocket' transport). */
export async function dialWebSocket(
  url: string,
  o: WebSocketLinkOptions & { tls?: boolean | tls.ConnectionOptions; timeout?: number },
  codecMax: number | undefined,
  maxInFlight: number,
  signal: AbortSignal,
): Promise<MessageLink> {
  const c = resolveLinkOptions(o, codecMax);
  const u = new URL(url);
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new InvalidOptionError('address', url, 'a ws:// or wss:// URL');
  const tlsOpts = typeof o.tls === 'object' ? o.tls : {};
  const ws = new WebSocket(url, {
    maxPayload: c.maxPayload,
    perMessageDeflate: c.deflate,
    handshakeTimeout: o.timeout ?? 10_000,
    minVersion: 'TLSv1.2',
    ...tlsOpts,
  } as ConstructorParameters<typeof WebSocket>[2]);
  const onAbort = () => ws.terminate();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([once(ws, 'open'), once(ws, 'error').then(([e]) => Promise.reject(e)), once(ws, 'close').then(() => Promise.reject(new ConnClosedError('the WebSocket closed before it opened')))]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return new WebSocketLink(ws, c, maxInFlight, 64);
}

/**
 * WebSocket messages as they came: text frames as strings, binary frames as Buffers (views, valid
 * while onMessage runs); a string is sent as a text frame, bytes as a binary frame.
 */
export function webSocketMessages(maxMessageLength = 1024 * 1024): Codec<string | Buffer, string | Uint8Array> {
  return {
    maxMessageLength,
    // Called once per WebSocket message, so an empty message is a message too.
    decode(reader, session) {
      const link = session[kLink] as MessageLink | undefined;
      return link?.currentText === true ? reader.readString(reader.length, 'utf8') : reader.next(reader.length);
    },
    encode(message, writer) {
      if (typeof message === 'string') {
        writer.writeString(message, 'utf8');
        (writer as { text?: boolean }).text = true;
      } else {
        writer.writeBinary(message);
      }
    },
  };
}
