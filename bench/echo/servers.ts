// The echo servers compared by bench/echo, one per process: `node servers.js MODE`.
//   raw    — writes every chunk straight back: no framing at all; the ceiling.
//   naive  — what a hand-rolled net server does: Buffer.concat accumulation, one write per reply.
//   bl     — the same with `bl` as the accumulator, one write per reply.
//   nocopy — @nocopy/transport EventLoop: frames parsed in the LinkBuffer, replies of a read batch in one flush.
// Every framed server parses every 4-byte length prefix and replies frame by frame.
// The parent talks over IPC: we send { port }; on 'start' we take a CPU reading; on 'stop' we
// reply { cpuUserMs, cpuSystemMs, maxRssKiB } and exit.
import net from 'node:net';
import { BufferList } from 'bl';
import { EventLoop, lengthField } from '@nocopy/transport';
import { answerCpuOverIpc } from '../lib/processes.js';

const mode = process.argv[2];

function rawServer(): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
}

function naiveServer(): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    let acc: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      acc = Buffer.concat([acc, chunk]);
      let off = 0;
      while (acc.length - off >= 4) {
        const len = acc.readUInt32BE(off);
        if (acc.length - off < 4 + len) break;
        socket.write(acc.subarray(off, off + 4 + len));
        off += 4 + len;
      }
      acc = acc.subarray(off);
    });
    socket.on('error', () => socket.destroy());
  });
}

function blServer(): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    const list = new BufferList();
    socket.on('data', (chunk: Buffer) => {
      list.append(chunk);
      while (list.length >= 4) {
        const len = list.readUInt32BE(0);
        if (list.length < 4 + len) break;
        socket.write(list.slice(0, 4 + len));
        list.consume(4 + len);
      }
    });
    socket.on('error', () => socket.destroy());
  });
}

async function start(): Promise<{ port: number }> {
  if (mode === 'nocopy') {
    // Whole frames, header included (strip 0), go straight back.
    const frames = lengthField({ maxFrameLength: 64 * 1024 * 1024, strip: 0 });
    const loop = new EventLoop((_ctx, conn) => {
      const w = conn.writer;
      for (let f = frames.decode(conn.reader); f !== undefined; f = frames.decode(conn.reader)) w.writeBinary(f);
      return w.flush();
    });
    const addr = await loop.listen({ port: 0, host: '127.0.0.1' });
    return { port: (addr as net.AddressInfo).port };
  }
  const server = mode === 'raw' ? rawServer() : mode === 'naive' ? naiveServer() : mode === 'bl' ? blServer() : null;
  if (server === null) throw new Error(`unknown server mode ${mode}`);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port };
}

start().then((info) => answerCpuOverIpc(info), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
