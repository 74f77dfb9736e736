// `ws`, the optional peer dependency of @nocopy/transport/websocket, loaded here once: installed, it
// is used as is; missing, importing /websocket throws MissingPeerDependencyError naming it, rather
// than Node's bare ERR_MODULE_NOT_FOUND. The rest of @nocopy/transport never loads it.
import type * as Ws from 'ws';
import { MissingPeerDependencyError } from '../errors.js';

let ws: typeof Ws;
try {
  ws = await import('ws');
} catch (err) {
  // Only ws itself missing is ours to explain; anything else (a broken install) goes as it is. The
  // code is Node's (test/error-codes.test.ts knows it as one of Node's that we compare against).
  if ((err as { code?: unknown })?.code === 'ERR_MODULE_NOT_FOUND' && /'ws'/.test(String((err as Error).message))) {
    throw new MissingPeerDependencyError('ws', '@nocopy/transport/websocket', { cause: err });
  }
  throw err;
}

export const WebSocket = ws.WebSocket;
export type WebSocket = Ws.WebSocket;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = Ws.WebSocketServer;
