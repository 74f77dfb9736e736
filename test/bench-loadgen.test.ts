// The compiled load generator (bench/loadgen/loadgen.c) checks every reply byte: a benchmark whose
// generator let a wrong reply through would measure a broken server. Each protocol it speaks runs
// against a plain server written here, then against one that breaks the reply in one way; the
// broken runs must fail. Builds the generator with the system C compiler (the bench installs one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Packr, Unpackr } from 'msgpackr';
import { WebSocketServer } from 'ws';

const root = fileURLToPath(new URL('../..', import.meta.url));
type Spec = { port: number; connections: number; inflight: number; size: number; duration: number; warmup: number; proto?: string };
const { runLoadgen } = (await import(join(root, 'bench/dist/lib/loadgen.js'))) as {
  runLoadgen: (spec: Spec, pin: boolean) => Promise<{ rps: number; requests: number; errors: number; proto: string }>;
};

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

async function listening(server: net.Server | WebSocketServer): Promise<number> {
  if (server instanceof WebSocketServer) {
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return (server.address() as AddressInfo).port;
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: net.Server | WebSocketServer): Promise<void> {
  if (server instanceof WebSocketServer) for (const c of server.clients) c.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Runs a short load against `server` and closes it. */
async function load(server: net.Server | WebSocketServer, proto: string, size = 128) {
  const port = await listening(server);
  try {
    return await runLoadgen({ port, connections: 2, inflight: 4, size, duration: 0.3, warmup: 0.1, proto }, false);
  } finally {
    await closeServer(server);
  }
}

/** A length-prefixed echo; `mangle` may change a whole frame before it goes back. */
function echoServer(mangle: (frame: Buffer, n: number) => Buffer = (f) => f): net.Server {
  return net.createServer((s) => {
    let acc = Buffer.alloc(0);
    let n = 0;
    s.on('error', () => {});
    s.on('data', (d) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 4 && acc.length >= 4 + acc.readUInt32BE(0)) {
        const len = 4 + acc.readUInt32BE(0);
        s.write(mangle(Buffer.from(acc.subarray(0, len)), n++));
        acc = acc.subarray(len);
      }
    });
  });
}

/** MessagePack-RPC with a 4-byte length prefix, replies in order unless `swap` holds one back. */
function rpcServer(swap = false): net.Server {
  return net.createServer((s) => {
    let acc = Buffer.alloc(0);
    let held: Buffer | null = null;
    let n = 0;
    s.on('error', () => {});
    s.on('data', (d) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 4 && acc.length >= 4 + acc.readUInt32BE(0)) {
        const len = acc.readUInt32BE(0);
        const [, id, , params] = unpackr.unpack(acc.subarray(4, 4 + len)) as [number, number, string, unknown[]];
        acc = acc.subarray(4 + len);
        const body = packr.pack([1, id, null, params[0]]);
        const out = Buffer.alloc(4 + body.length);
        out.writeUInt32BE(body.length, 0);
        body.copy(out, 4);
        // The 10th reply waits for the 11th and goes after it.
        if (swap && n++ === 9) held = out;
        else {
          s.write(out);
          if (held !== null) s.write(held), (held = null);
        }
      }
    });
  });
}

test('echo: every reply checked, a corrupted byte fails the run', async () => {
  for (const size of [4, 128, 20_000]) {
    const r = await load(echoServer(), 'echo', size);
    assert.ok(r.requests > 0 && r.errors === 0, `echo ${size} B`);
  }
  // One byte of the payload of the 100th reply, past the sequence number.
  const bad = echoServer((f, n) => (n === 100 ? (f[f.length - 1] ^= 1, f) : f));
  await assert.rejects(load(bad, 'echo'), /loadgen failed \(exit 1\)/);
  // The sequence number itself: a reply repeated in place of the next one.
  let last: Buffer | null = null;
  const repeat = echoServer((f, n) => (n === 50 && last !== null ? last : (last = f)));
  await assert.rejects(load(repeat, 'echo'), /loadgen failed \(exit 1\)/);
});

test('rpc-framed: a real msgpackr server passes, a reply out of order fails', async () => {
  const r = await load(rpcServer(), 'rpc-framed');
  assert.equal(r.proto, 'rpc-framed');
  assert.ok(r.requests > 0);
  await assert.rejects(load(rpcServer(true), 'rpc-framed'), /loadgen failed \(exit 1\)/);
  // A framed server does not answer a plain stream: no reply is no result.
  await assert.rejects(load(rpcServer(), 'rpc-stream'), /loadgen failed \(exit 1\)/);
});

test('ws: a plain ws echo passes at 128 B and 70,000 B; a ping in the stream fails the run', async () => {
  for (const size of [128, 70_000]) {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (c) => c.on('message', (m, binary) => c.send(m as Buffer, { binary })));
    const r = await load(wss, 'ws', size);
    assert.ok(r.requests > 0, `ws ${size} B`);
  }
  const pinging = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  pinging.on('connection', (c) => {
    let n = 0;
    c.on('message', (m, binary) => {
      if (n++ === 20) c.ping();
      c.send(m as Buffer, { binary });
    });
  });
  await assert.rejects(load(pinging, 'ws'), /loadgen failed \(exit 1\)/);
});
