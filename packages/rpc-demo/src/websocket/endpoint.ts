// The RPC server's WebSocket endpoint: `nocopy-rpc serve --websocket PORT` serves the same methods
// at ws://HOST:PORT/ (one MessagePack-RPC message per WebSocket message) and a page at
// http://HOST:PORT/ that calls them from a browser with the browser client (../browser/client.ts).
// Each WebSocket session is bridged to the RPC server over one loopback TCP connection: every
// server feature (limits, cancellation, offload) applies as it does to any client.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { AttributeKey, type Codec, type Connection, type Session, dialConnection, lengthField } from '@nocopy/transport';
import { createWebSocketSessionServer, type WebSocketSessionServer } from '@nocopy/transport/websocket';

export interface WebSocketEndpointOptions {
  /** The RPC server (framed framing) to bridge to, "host:port". */
  rpcAddress: string;
  /** The largest message either way, in bytes. Default 4 MiB (the RPC server's default). */
  maxMessageSize?: number;
  /** WebSocket sessions at most. Default 1000. */
  maxConnections?: number;
}

export interface WebSocketEndpoint {
  readonly server: WebSocketSessionServer<Buffer, Uint8Array>;
  listen(options: { port?: number; host?: string }): Promise<AddressInfo>;
  shutdown(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const kConn = new AttributeKey<Connection<Session<Buffer, Uint8Array>>>('rpc connection');

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

export function createWebSocketEndpoint(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const max = options.maxMessageSize ?? 4 * 1024 * 1024;
  const frames = lengthField({ maxFrameLength: max });
  const files = staticFiles();
  // One WebSocket message is one MessagePack-RPC message, as bytes. Replies are copied into the
  // session's output: they are views of the TCP connection's input, released when its handler returns.
  const whole: Codec<Buffer, Uint8Array> = {
    maxMessageLength: max,
    decode: (r) => r.next(r.length),
    encode: (m, w) => w.writeBinary(m.length > 4096 ? Buffer.from(m) : m),
  };
  const onHttpRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
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
  const server = createWebSocketSessionServer<Buffer, Uint8Array>({
    codec: whole,
    maxConnections: options.maxConnections ?? 1000,
    heartbeat: { interval: 30_000 },
    onHttpRequest,
    listener: {
      async onOpen(session) {
        const conn = await dialConnection<Session<Buffer, Uint8Array>>('tcp', options.rpcAddress, {
          ctx: session,
          onRequest: (s, c) => {
            for (let f = frames.decode(c.reader); f !== undefined; f = frames.decode(c.reader)) void s.send(f);
          },
        });
        conn.addCloseCallback(() => session.close());
        session.attributes.set(kConn, conn);
      },
      onMessage(session, message) {
        const conn = session.attributes.get(kConn)!;
        // The message is a view of the Buffer ws made for it (not pooled memory): the writer may
        // keep referring to it until the socket has written it.
        frames.encode(message, conn.writer);
        conn.writer.flush().catch(() => session.close());
      },
      onClose(session) {
        session.attributes.get(kConn)?.close();
      },
    },
  });
  return {
    server,
    listen: (o) => server.listen(o),
    shutdown: () => server.shutdown(),
  };
}
