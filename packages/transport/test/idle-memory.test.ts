// An idle connection holds no pooled block: with nothing buffered, the next read lands in a region
// shared by all connections (onread.ts) and only what arrives is copied out. Checked on accepted
// (onread) and dialed connections: after one echo each, the pool's outstanding blocks go to zero
// while all connections stay open; after a large message, a small read lets the region go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { BlockPool } from '@nocopy/linkbuffer';
import { Dialer, EventLoop, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, echoFrames, frame, pattern, until } from './helpers.js';

test('idle accepted connections hold no pooled block after an echo each; bytes stay exact', { timeout: 20_000 }, async (t) => {
  const pool = new BlockPool();
  const conns: Connection[] = [];
  const loop = new EventLoop(echoFrames, { pool, readMode: 'onread', onPrepare: (c) => void conns.push(c) });
  t.after(() => loop.shutdown());
  const { port } = (await loop.listen({ port: 0 })) as AddressInfo;
  const clients = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(port)));
  t.after(() => clients.forEach((c) => c.destroy()));
  await until(() => conns.length === 50, 'fifty connections');
  for (const c of conns) assert.equal(c.readMode, 'onread');
  await Promise.all(clients.map(async (c, k) => {
    const p = pattern(100 + k, k);
    c.socket.write(frame(p));
    assert.ok((await c.readFrame(10_000)).equals(p), `client ${k}: the echo came back changed`);
  }));
  await until(() => pool.stats().blocksOutstanding === 0, 'no block held by 50 idle connections');
  // Still working, and a large message (many reads, the large ones into pooled regions) is exact.
  // A streaming connection keeps its read region; a small read after it lets it go.
  const big = pattern(3_000_000, 7);
  clients[0]!.socket.write(frame(big));
  assert.ok((await clients[0]!.readFrame(20_000)).equals(big), 'the 3 MB echo came back changed');
  const small = pattern(50, 8);
  clients[0]!.socket.write(frame(small));
  assert.ok((await clients[0]!.readFrame(10_000)).equals(small), 'the echo after the large one came back changed');
  await until(() => pool.stats().blocksOutstanding === 0, 'idle again after a small read');
  clients.forEach((c) => c.destroy());
  await until(() => loop.stats().connections === 0, 'all closed');
  assertAllBack(pool);
});

test('an idle dialed connection holds no pooled block', { timeout: 20_000 }, async (t) => {
  const server = new EventLoop(echoFrames);
  t.after(() => server.shutdown());
  const { port } = (await server.listen({ port: 0 })) as AddressInfo;
  const pool = new BlockPool();
  const conn = await new Dialer({ pool }).dial('tcp', { port, host: '127.0.0.1' });
  t.after(() => conn.close());
  const p = pattern(300, 1);
  conn.writer.writeBinary(frame(p));
  await conn.writer.flush();
  await conn.reader.waitFor(4 + p.length);
  assert.ok(conn.reader.next(4 + p.length).subarray(4).equals(p));
  conn.reader.release();
  await until(() => pool.stats().blocksOutstanding === 0, 'no block held by the idle dialed connection');
  await conn.close();
  assertAllBack(pool);
});
