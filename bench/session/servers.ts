// The two servers bench/session compares, one per process: `node servers.js MODE`.
//   loop    — a hand-written EventLoop onRequest: decode each length-prefixed frame, encode the same
//             payload back, one flush per read batch (what a user writes without sessions).
//   session — the session API: the same framing codec via frames(), onMessage sends the payload back;
//             send() batches the replies of a tick into one flush.
// IPC as bench/echo's servers: we send { port }; 'start' takes a CPU reading, 'stop' replies with
// { cpuUserMs, cpuSystemMs, maxRssKiB } and exits.
import type { AddressInfo } from 'node:net';
import { EventLoop, createSessionServer, frames, lengthField } from '@nocopy/transport';
import { answerCpuOverIpc } from '../lib/processes.js';

const mode = process.argv[2];
const framing = lengthField({ maxFrameLength: 64 * 1024 * 1024 });

async function start(): Promise<{ port: number }> {
  if (mode === 'loop') {
    const loop = new EventLoop((_ctx, conn) => {
      const w = conn.writer;
      for (let f = framing.decode(conn.reader); f !== undefined; f = framing.decode(conn.reader)) framing.encode(f, w);
      return w.flush();
    });
    return { port: ((await loop.listen({ port: 0 })) as AddressInfo).port };
  }
  if (mode === 'session') {
    const server = createSessionServer<Buffer, Uint8Array>({
      codec: frames(framing),
      listener: {
        onMessage(s, payload) {
          void s.send(payload);
        },
      },
    });
    return { port: ((await server.listen({ port: 0 })) as AddressInfo).port };
  }
  throw new Error(`unknown server mode ${mode}`);
}

start().then((info) => answerCpuOverIpc(info), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
