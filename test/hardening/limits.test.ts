// Issue 6, limits of the transport: connections (in total and per remote address) and the bytes a
// connection buffers in each direction. Each limit: its documented default, then its behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop, dialConnection, type Connection, type EventLoopOptions, type OnRequest } from '@nocopy/transport';
import { RawClient, frame, until, within } from './helpers.js';
import { lengthPrefixedEcho } from '../support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The most one socket read delivers (libuv's 64 KiB read buffer; the onread path caps its reads there too). */
const READ_CHUNK = 64 * KiB;

const echo = lengthPrefixedEcho;

async function serve<C>(onRequest: OnRequest<C>, options: EventLoopOptions<C> = {}): Promise<{ loop: EventLoop<C>; port: number }> {
  const loop = new EventLoop<C>(onRequest, options);
  const { port } = (await loop.listen()) as AddressInfo;
  return { loop, port };
}

test('maxConnections: no limit by default; past a limit the connection is refused at once and counted', { timeout: 15_000 }, async (t) => {
  // Default: Infinity (and so is maxConnectionsPerAddress): 64 connections from one address are all served.
  {
    const { loop, port } = await serve(echo);
    const clients = await Promise.all(Array.from({ length: 64 }, () => RawClient.connect(port)));
    const echoed = await Promise.all(clients.map((c, i) => c.roundTrip(`c${i}`)));
    assert.deepEqual(echoed.map(String), clients.map((_, i) => `c${i}`));
    assert.equal(loop.stats().refused, 0);
    assert.equal(loop.stats().accepted, 64);
    for (const c of clients) c.destroy();
    await within(loop.shutdown({ timeout: 100 }), 3000, 'shutdown');
  }

  const { loop, port } = await serve(echo, { maxConnections: 3 });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const kept = await Promise.all([0, 1, 2].map(() => RawClient.connect(port)));
  t.after(() => kept.forEach((c) => c.destroy()));
  for (const [i, c] of kept.entries()) assert.equal((await c.roundTrip(`k${i}`)).toString(), `k${i}`);

  // Two more: the TCP connect succeeds (the kernel accepts), then the loop closes them unread.
  const refused = await Promise.all([0, 1].map(() => RawClient.connect(port)));
  for (const c of refused) {
    c.socket.write(frame('let me in')); // may fail with EPIPE/ECONNRESET: it is refused
    await within(c.closed, 3000, 'the refused socket to close');
    assert.equal(c.received, 0, 'a refused socket got data');
  }
  assert.deepEqual(loop.stats(), { connections: 3, accepted: 3, refused: 2, closed: 0, inboundBytes: 0, inboundEvicted: 0, inboundPaused: 0 });
  // The served ones are unaffected.
  for (const [i, c] of kept.entries()) assert.equal((await c.roundTrip(`again${i}`)).toString(), `again${i}`);

  // A freed slot is taken again.
  kept[0]!.destroy();
  await until(() => loop.connections === 2, 'the first connection to close');
  const next = await RawClient.connect(port);
  t.after(() => next.destroy());
  assert.equal((await next.roundTrip('next')).toString(), 'next');
  assert.deepEqual(loop.stats(), { connections: 3, accepted: 4, refused: 2, closed: 1, inboundBytes: 0, inboundEvicted: 0, inboundPaused: 0 });
});

test('maxConnectionsPerAddress: 127.0.0.1 at its limit is refused while 127.0.0.2 is still served', { timeout: 10_000 }, async (t) => {
  const remotes: (string | undefined)[] = [];
  const { loop, port } = await serve(echo, { maxConnectionsPerAddress: 2, onPrepare: (c) => void remotes.push(c.remoteAddress) });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const a = [await RawClient.connect(port), await RawClient.connect(port)];
  t.after(() => a.forEach((c) => c.destroy()));
  for (const c of a) assert.equal((await c.roundTrip('a')).toString(), 'a');

  const a3 = await RawClient.connect(port);
  t.after(() => a3.destroy());
  await within(a3.closed, 3000, 'the third 127.0.0.1 connection to be refused');
  assert.equal(a3.received, 0);
  assert.equal(loop.stats().refused, 1);

  // Another remote address has its own budget.
  const b = [await RawClient.connect(port, { localAddress: '127.0.0.2' }), await RawClient.connect(port, { localAddress: '127.0.0.2' })];
  t.after(() => b.forEach((c) => c.destroy()));
  for (const c of b) {
    assert.equal(c.socket.localAddress, '127.0.0.2');
    assert.equal((await c.roundTrip('b')).toString(), 'b');
  }
  const b3 = await RawClient.connect(port, { localAddress: '127.0.0.2' });
  t.after(() => b3.destroy());
  await within(b3.closed, 3000, 'the third 127.0.0.2 connection to be refused');
  assert.deepEqual(loop.stats(), { connections: 4, accepted: 4, refused: 2, closed: 0, inboundBytes: 0, inboundEvicted: 0, inboundPaused: 0 });
  assert.deepEqual(remotes, ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2'], 'the remote addresses the server served');

  // Closing one from 127.0.0.1 frees a slot for 127.0.0.1 (the count goes down on close).
  a[0]!.destroy();
  await until(() => loop.connections === 3, 'the closed connection to be counted');
  const a4 = await RawClient.connect(port);
  t.after(() => a4.destroy());
  assert.equal((await a4.roundTrip('a4')).toString(), 'a4');
  assert.equal(loop.stats().refused, 2);
  for (const c of [a[1]!, ...b]) assert.equal((await c.roundTrip('still')).toString(), 'still');
});

/**
 * A server whose handler consumes nothing while `hold` is on (it holds the connection, so being stuck
 * at the limit is not an error), and records the largest unconsumed input it saw.
 */
async function inboundScenario(maxInboundBytes: number | undefined, send: number) {
  let conn: Connection | undefined;
  let maxSeen = 0;
  let consumed = 0;
  const consume: OnRequest = (_ctx, c) => {
    consumed += c.reader.length;
    c.reader.skip(c.reader.length);
  };
  const { loop, port } = await serve(
    (_ctx, c) => {
      if (conn === undefined) {
        conn = c;
        c.hold();
      }
      maxSeen = Math.max(maxSeen, c.reader.length);
    },
    maxInboundBytes === undefined ? {} : { maxInboundBytes },
  );
  const client = await RawClient.connect(port);
  const sent = client.write(Buffer.alloc(send, 7));
  const limit = maxInboundBytes ?? 8 * MiB;
  await until(() => (conn?.reader.length ?? 0) >= limit, () => `the server to buffer ${limit} bytes (has ${conn?.reader.length})`);
  // Reading is paused (the transport's one switch), not merely slow: no more can arrive.
  assert.equal(conn!.socket.isPaused(), true, 'reading paused at the limit');
  await new Promise((r) => setImmediate(r));
  const stalled = conn!.reader.length;
  const peak = maxSeen;
  // Let the handler consume: reading resumes and every byte arrives.
  conn!.unhold();
  conn!.setOnRequest(consume);
  await within(sent, 10_000, 'the client to send everything');
  await until(() => consumed === send, () => `the server to consume all ${send} bytes (has ${consumed})`, 10_000);
  assert.equal(conn!.isActive(), true, 'the connection survived being at its limit');
  client.destroy();
  await loop.shutdown({ timeout: 100 });
  return { stalled, peak };
}

test('maxInboundBytes: default 8 MiB; reading pauses there (growth bounded to one read more) and resumes', { timeout: 20_000 }, async () => {
  const dflt = await inboundScenario(undefined, 16 * MiB);
  assert.ok(dflt.stalled >= 8 * MiB && dflt.peak < 8 * MiB + READ_CHUNK, `default: paused at ${dflt.stalled}, peak ${dflt.peak}; expected within [8 MiB, 8 MiB + 64 KiB)`);
  const small = await inboundScenario(256 * KiB, 4 * MiB);
  assert.ok(small.stalled >= 256 * KiB && small.peak < 256 * KiB + READ_CHUNK, `256 KiB: paused at ${small.stalled}, peak ${small.peak}`);
});

test('maxInboundBytes on a dialed (onread) connection: pooled input memory stays bounded, nothing is lost', { timeout: 15_000 }, async (t) => {
  const limit = 256 * KiB;
  const total = 4 * MiB;
  const payload = Buffer.alloc(total);
  for (let i = 0; i < total; i++) payload[i] = (i * 7) & 0xff;
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(payload);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const pool = new BlockPool();
  let holding = true;
  let maxLen = 0;
  let maxPooled = 0;
  const received: Buffer[] = [];
  const conn = await dialConnection('tcp', { port: (server.address() as AddressInfo).port }, {
    pool,
    maxInboundBytes: limit,
    readMode: 'onread',
    allowHalfOpen: true,
    onRequest: (_ctx, c) => {
      maxLen = Math.max(maxLen, c.reader.length);
      maxPooled = Math.max(maxPooled, pool.stats().bytesOutstanding);
      if (holding) return;
      received.push(c.reader.readBinary(c.reader.length));
    },
  });
  t.after(() => conn.close());
  conn.hold(); // a consumer busy elsewhere: being stuck at the limit is backpressure, not an error
  await until(() => conn.reader.length >= limit, 'the reader to fill to its limit');
  assert.equal(conn.socket.isPaused(), true, 'reading paused at the limit');
  await new Promise((r) => setImmediate(r));
  const lenAtLimit = conn.reader.length;
  const pooledAtLimit = pool.stats().bytesOutstanding;
  assert.ok(maxLen < limit + READ_CHUNK, `unconsumed input peaked at ${maxLen}, limit ${limit}`);
  // The pool holds the input nodes plus the region lent to the next read. A node is left for a new one
  // only once less than half of a read fits in it, so its unused tail is smaller than its data:
  // pooled memory <= 2 x input + one read region, i.e. bounded by the limit, not by what the peer sends.
  assert.ok(maxPooled <= 2 * maxLen + READ_CHUNK, `pool bytesOutstanding peaked at ${maxPooled} with ${maxLen} bytes of input`);
  assert.ok(pooledAtLimit <= 2 * lenAtLimit + READ_CHUNK, `pool bytesOutstanding ${pooledAtLimit} with ${lenAtLimit} bytes of input, paused`);
  console.log(`dialed onread, maxInboundBytes ${limit}: input paused at ${lenAtLimit} bytes, pool bytesOutstanding ${pooledAtLimit} (peer sent ${total})`);

  holding = false;
  conn.unhold();
  conn.setOnRequest((_ctx, c) => {
    received.push(c.reader.readBinary(c.reader.length));
  });
  await until(() => received.reduce((n, b) => n + b.length, 0) === total, 'all input to arrive', 10_000);
  assert.ok(Buffer.concat(received).equals(payload), 'the input arrived intact and in order');
  conn.close();
  await until(() => conn.closed, 'the connection to close');
  const s = pool.stats();
  assert.equal(s.bytesOutstanding, 0, 'every pooled block is back');
});

/**
 * A server that, on a request, writes `total` bytes in `chunk`-sized pieces into pooled memory,
 * awaiting each flush, to a client that does not read; samples what the connection buffers.
 */
async function outboundScenario(maxOutboundBytes: number | undefined, total: number, chunk: number) {
  const pool = new BlockPool();
  let produced = 0;
  let maxQueued = 0;
  let maxPooled = 0;
  let stallQueued = 0;
  let sock: net.Socket | undefined;
  let server: Connection | undefined;
  const { loop, port } = await serve(
    async (_ctx, conn) => {
      conn.reader.skip(conn.reader.length);
      sock = conn.socket;
      server = conn;
      const w = conn.writer;
      for (let i = 0; produced < total; i++) {
        w.malloc(chunk).fill(i & 0xff);
        produced += chunk;
        const flushed = w.flush();
        maxQueued = Math.max(maxQueued, conn.socket.writableLength);
        maxPooled = Math.max(maxPooled, pool.stats().bytesOutstanding);
        stallQueued = conn.socket.writableLength;
        await flushed;
      }
    },
    { pool, ...(maxOutboundBytes === undefined ? {} : { maxOutboundBytes }) },
  );
  const client = await RawClient.connect(port);
  client.socket.pause(); // a peer that does not read
  await client.write('go');
  const limit = maxOutboundBytes ?? 1 * MiB;
  // The kernel's socket buffers take a few MiB first; then the socket's own queue fills to the limit.
  await until(() => (sock?.writableLength ?? 0) >= limit, () => `the socket queue to reach ${limit} (at ${sock?.writableLength}, produced ${produced})`, 10_000);
  const before = produced;
  // The producer waits in flush(): the writer waits for the peer, and a turn later nothing more was produced.
  assert.equal(server!.writer.waiting, true, 'the writer waits for the peer');
  await new Promise((r) => setImmediate(r));
  assert.equal(produced, before, 'the producer went on while the peer did not read');
  assert.ok(produced < total, 'the producer was not held back at all');
  const stalledAt = stallQueued;
  // Once the loop turns, the socket's write callbacks have returned what the kernel took to the pool:
  // what stays out is the socket's queue plus the chunk being written.
  const pooledAtStall = pool.stats().bytesOutstanding;
  // Before that (a producer whose flush() resolves at once never yields to the write callbacks), the
  // pool can also hold the blocks of bytes the kernel already took, bounded by the kernel's buffer.
  const kernelTook = produced - sock!.writableLength;
  client.socket.resume();
  await until(() => client.received === total, () => `the client to receive ${total} bytes (has ${client.received})`, 10_000);
  client.destroy();
  await loop.shutdown({ timeout: 100 });
  await until(() => pool.stats().bytesOutstanding === 0, 'every output block to return to the pool');
  return { maxQueued, maxPooled, stalledAt, pooledAtStall, kernelTook };
}

test('maxOutboundBytes: default 1 MiB; flush() waits there, so the queue grows by one write at most', { timeout: 30_000 }, async () => {
  const chunk = 64 * KiB;
  for (const [limit, total] of [[undefined, 24 * MiB], [256 * KiB, 16 * MiB]] as const) {
    const max = limit ?? 1 * MiB;
    const r = await outboundScenario(limit, total, chunk);
    const what = limit === undefined ? 'default (1 MiB)' : `${limit}`;
    console.log(`maxOutboundBytes ${what}: stalled with ${r.stalledAt} queued (peak ${r.maxQueued}), pool ${r.pooledAtStall} at the stall, pool peak ${r.maxPooled}, kernel took ${r.kernelTook}`);
    assert.ok(r.stalledAt >= max && r.maxQueued <= max + chunk, `${what}: stalled with ${r.stalledAt} queued, peak ${r.maxQueued}; expected within [${max}, ${max + chunk}]`);
    assert.ok(r.pooledAtStall <= max + 2 * chunk, `${what}: pool holds ${r.pooledAtStall} at the stall`);
    assert.ok(r.maxPooled <= max + 2 * chunk + r.kernelTook, `${what}: pool peak ${r.maxPooled}, kernel took ${r.kernelTook}`);
  }
});
