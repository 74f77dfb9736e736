// The echo servers compared by bench/echo, one per process: `node servers.js MODE`.
//   raw          — writes every chunk straight back: no framing at all; the ceiling.
//   batch-views  — a hand-written net server that parses every frame of a chunk and writes the replies
//                  as views of the chunk, corked: one writev per chunk.
//   batch-copy   — the same, copying every reply into one buffer: one write per chunk.
//   naive        — what a hand-rolled net server does: Buffer.concat accumulation, one write per reply.
//   bl           — the same with `bl` as the accumulator, one write per reply.
//   append       — @nocopy/transport EventLoop, `w.append(r.slice(n))` per frame (the zero-copy call).
//   writeBinary  — the same with `w.writeBinary(r.next(n))`.
//   copy         — the same with `r.next(n).copy(w.malloc(n))`.
// Every framed server parses every 4-byte length prefix and replies frame by frame; the nocopy ones
// flush once per onRequest call (one read batch).
// The parent talks over IPC: we send { port, pid }; on 'start' we take a CPU reading; on 'stop' we
// reply { cpuUserMs, cpuSystemMs, maxRssKiB } and exit.
import net from 'node:net';
import { BufferList } from 'bl';
import { EventLoop, type Connection } from '@nocopy/transport';
import { defaultPool } from '@nocopy/linkbuffer';
import { answerCpuOverIpc } from '../lib/processes.js';

const mode = process.argv[2];

// raw-handle: raw, writing through the socket's handle (libuv) instead of Writable.write, to measure
// what Node's Writable costs per batch (issue 29, item 3). An experiment, not a pattern: it uses
// undocumented internals (process.binding('stream_wrap'), socket._handle) and ignores backpressure.
interface WriteReq { handle: unknown; oncomplete: (status: number) => void; async: boolean; bytes: number; buffer: unknown }
function rawHandleServer(): net.Server {
  const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding('stream_wrap');
  const WriteWrap = binding.WriteWrap as new () => WriteReq;
  const state = binding.streamBaseState as Int32Array;
  const kAsync = binding.kLastWriteWasAsync as number;
  return net.createServer({ noDelay: true }, (socket) => {
    const handle = (socket as unknown as { _handle: { writeBuffer(req: WriteReq, b: Buffer): number } })._handle;
    const done = (status: number) => {
      if (status < 0) socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      const req = new WriteWrap();
      req.handle = handle;
      req.oncomplete = done;
      req.async = false;
      req.bytes = 0;
      req.buffer = null;
      if (handle.writeBuffer(req, chunk) !== 0) return void socket.destroy();
      // Queued in libuv: the chunk must live until the write completes.
      if (state[kAsync] !== 0) req.buffer = chunk;
    });
    socket.on('error', () => socket.destroy());
  });
}

function rawServer(): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
}

/** The two batching servers: `views` writes subarrays corked, else copies replies into one buffer. */
function batchServer(views: boolean): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    let rest: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      const buf: Buffer = rest === null ? chunk : Buffer.concat([rest, chunk]);
      const end = buf.length;
      let off = 0;
      while (end - off >= 4) {
        const n = 4 + buf.readUInt32BE(off);
        if (end - off < n) break;
        off += n;
      }
      // Every whole frame of the chunk is a reply: parsed one by one, sent in one go.
      if (off > 0) {
        if (views) {
          socket.cork();
          for (let o = 0; o < off; ) {
            const n = 4 + buf.readUInt32BE(o);
            socket.write(buf.subarray(o, o + n));
            o += n;
          }
          socket.uncork();
        } else {
          const out = Buffer.allocUnsafe(off);
          for (let o = 0; o < off; ) {
            const n = 4 + buf.readUInt32BE(o);
            buf.copy(out, o, o, o + n);
            o += n;
          }
          socket.write(out);
        }
      }
      rest = off === end ? null : Buffer.from(buf.subarray(off));
    });
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

type Handler = (ctx: unknown, conn: Connection) => Promise<void>;

// The three handler styles, written as the transport README shows them.
const handlers: Record<string, Handler> = {
  append: (_ctx, conn) => {
    const r = conn.reader;
    const w = conn.writer;
    while (r.length >= 4) {
      const n = 4 + r.peekUint32BE();
      if (r.length < n) break;
      w.append(r.slice(n));
    }
    return w.flush();
  },
  writeBinary: (_ctx, conn) => {
    const r = conn.reader;
    const w = conn.writer;
    while (r.length >= 4) {
      const n = 4 + r.peekUint32BE();
      if (r.length < n) break;
      w.writeBinary(r.next(n));
    }
    return w.flush();
  },
  copy: (_ctx, conn) => {
    const r = conn.reader;
    const w = conn.writer;
    while (r.length >= 4) {
      const n = 4 + r.peekUint32BE();
      if (r.length < n) break;
      r.next(n).copy(w.malloc(n));
    }
    return w.flush();
  },
};

const serverModes = ['raw', 'raw-handle', 'batch-views', 'batch-copy', 'naive', 'bl', 'append', 'writeBinary', 'copy'] as const;

async function start(): Promise<{ port: number; pid: number }> {
  const handler = handlers[mode ?? ''];
  if (handler !== undefined) {
    const loop = new EventLoop(handler);
    const addr = await loop.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
    return { port: (addr as net.AddressInfo).port, pid: process.pid };
  }
  const server =
    mode === 'raw' ? rawServer()
    : mode === 'raw-handle' ? rawHandleServer()
    : mode === 'batch-views' ? batchServer(true)
    : mode === 'batch-copy' ? batchServer(false)
    : mode === 'naive' ? naiveServer()
    : mode === 'bl' ? blServer()
    : null;
  if (server === null) throw new Error(`unknown server mode ${mode}; known: ${serverModes.join(', ')}`);
  server.maxConnections = 100_000;
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return { port: (server.address() as net.AddressInfo).port, pid: process.pid };
}

// 'gc' (with --expose-gc): a full collection, then 'gc-done', so an RSS reading counts live memory.
// 'pool': the block pool's stats (what the nocopy servers' connections hold, and what it keeps idle).
process.on('message', (msg: unknown) => {
  if (msg === 'pool') process.send!({ pool: defaultPool.stats(), memory: process.memoryUsage() });
  if (msg !== 'gc' && msg !== 'settle') return;
  // 'settle': first run the young generation through twice with short-lived garbage, so both of its
  // semispaces (fixed at 16 MiB by V8_FLAGS) are resident before a baseline RSS reading; else the
  // reading after counts however much of them the connections' setup happened to touch.
  if (msg === 'settle') {
    let kept = 0;
    for (let i = 0; i < 1_000_000; i++) kept += new Array(8).length;
    if (kept === 0) console.log('');
  }
  (globalThis as { gc?: () => void }).gc?.();
  process.send!('gc-done');
});

{
  start().then((info) => answerCpuOverIpc(info), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
