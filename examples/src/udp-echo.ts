#!/usr/bin/env node
// A UDP echo server on the session API: every datagram goes back to its sender as it came. A
// session per peer address, expired after a minute of silence.
import { createUdpSessionServer } from '@nocopy/transport';
import { runServer } from './cli.js';

const USAGE = `Usage: node examples/dist/udp-echo.js [--port 7001] [--host 127.0.0.1]

Echoes every UDP datagram back to its sender. SIGINT or SIGTERM stops it.
`;

/** Each datagram is one message (decode runs once per datagram, so an empty one is one too): its bytes as they came, a view valid while onMessage runs. */
const datagrams = {
  maxMessageLength: 65_507,
  decode: (r: { length: number; next(n: number): Buffer }) => r.next(r.length),
  encode: (m: Uint8Array, w: { writeBinary(b: Uint8Array): void }) => w.writeBinary(m),
};

export function createUdpEcho() {
  return createUdpSessionServer<Buffer, Uint8Array>({
    codec: datagrams,
    listener: {
      onMessage(session, datagram) {
        void session.send(datagram);
      },
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runServer('udp-echo', USAGE, 7001, () => createUdpEcho());
}
