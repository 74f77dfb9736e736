// The echo servers bench/messages compares, one per process: `node servers.js MODE`.
//   ws-session  — the session API over WebSocket (@nocopy/transport/websocket), each message back
//   ws          — a plain `ws` WebSocketServer that sends each message back
//   udp-session — the session API over UDP, each datagram back
//   dgram       — a plain node:dgram socket that sends each datagram back
// IPC as the other suites: we send { port, pid }; 'start' takes a CPU reading; 'stop' replies with
// { cpuUserMs, cpuSystemMs } and exits.
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { type Codec, createUdpSessionServer } from '@nocopy/transport';
import { createWebSocketSessionServer } from '@nocopy/transport/websocket';
import { answerCpuOverIpc } from '../lib/processes.js';

const mode = process.argv[2];
const whole: Codec<Buffer, Uint8Array> = { maxMessageLength: 1 << 20, decode: (r) => r.next(r.length), encode: (m, w) => w.writeBinary(m) };

async function start(): Promise<number> {
  switch (mode) {
    case 'ws-session': {
      const s = createWebSocketSessionServer<Buffer, Uint8Array>({ codec: whole, listener: { onMessage: (session, m) => void session.send(m) } });
      return (await s.listen({ port: 0 })).port;
    }
    case 'ws': {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 1 << 20, perMessageDeflate: false, clientTracking: false });
      wss.on('connection', (ws) => ws.on('message', (d: Buffer, isBinary: boolean) => ws.send(d, { binary: isBinary })));
      await new Promise<void>((r) => wss.once('listening', r));
      return (wss.address() as AddressInfo).port;
    }
    case 'udp-session': {
      const s = createUdpSessionServer<Buffer, Uint8Array>({ codec: whole, recvBufferSize: 4 << 20, listener: { onMessage: (session, m) => void session.send(m) } });
      return (await s.listen({ port: 0 })).port;
    }
    case 'dgram': {
      const sock = dgram.createSocket('udp4');
      sock.on('message', (m, r) => sock.send(m, r.port, r.address));
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      sock.setRecvBufferSize(4 << 20);
      return sock.address().port;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

start().then((port) => answerCpuOverIpc({ port, pid: process.pid }), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
