#!/usr/bin/env node
// A WebSocket echo server on the session API: every message at ws://HOST:PORT/ goes back as it
// came, binary as binary and text as text.
import { createWebSocketSessionServer, webSocketMessages } from '@nocopy/transport/websocket';
import { runServer } from './cli.js';

const USAGE = `Usage: node examples/dist/ws-echo.js [--port 7002] [--host 127.0.0.1]

Echoes every WebSocket message at ws://HOST:PORT/ (binary as binary, text as text). SIGINT or
SIGTERM stops it.
`;

export function createWsEcho() {
  return createWebSocketSessionServer({
    // Text frames as strings, binary frames as Buffers, and back the same way; 16 MiB at most.
    codec: webSocketMessages(16 * 1024 * 1024),
    heartbeat: { interval: 30_000 },
    listener: {
      onMessage(session, message) {
        void session.send(message);
      },
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runServer('ws-echo', USAGE, 7002, () => createWsEcho());
}
