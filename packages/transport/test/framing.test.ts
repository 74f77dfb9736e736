// Framing integrity through a length-prefixed echo: frames split into 1-byte writes, many frames
// coalesced into one chunk, and many connections at once. Every byte is verified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { BlockPool } from '@nocopy/linkbuffer';
import { RawClient, assertAllBack, echoFrames, frame, pattern, serve, until } from './helpers.js';

test('frames split into 1-byte writes are reassembled and echoed exactly', { timeout: 15_000 }, async (t) => {
  const pool = new BlockPool();
  const { loop, port } = await serve(echoFrames, { pool });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const payloads = [pattern(10, 1), Buffer.alloc(0), pattern(300, 2), pattern(1, 3)];
  const wire = Buffer.concat(payloads.map((p) => frame(p)));
  for (let i = 0; i < wire.length; i++) {
    await c.write(wire.subarray(i, i + 1));
    await tick(); // give the server a chance to read each byte on its own
  }
  for (const p of payloads) assert.deepEqual(await c.readFrame(), p);
  c.destroy();
  await until(() => loop.connections === 0, 'the connection to close');
  assertAllBack(pool);
});

test('many frames coalesced into one chunk are all echoed in order', { timeout: 15_000 }, async (t) => {
  const pool = new BlockPool();
  const { loop, port } = await serve(echoFrames, { pool });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const payloads: Buffer[] = [];
  for (let i = 0; i < 500; i++) payloads.push(pattern((i * 37) % 3000, i));
  payloads.push(pattern(200_000, 999)); // one frame larger than any socket chunk
  const wire = Buffer.concat(payloads.map((p) => frame(p)));
  await c.write(wire);
  const echoed = await c.read(wire.length);
  assert.ok(echoed.equals(wire), 'echo differs from what was sent');
  c.destroy();
  await until(() => loop.connections === 0, 'the connection to close');
  assertAllBack(pool);
});

test('1000 concurrent connections each get exactly their own bytes back', { timeout: 30_000 }, async (t) => {
  const N = 1000; // 2000 sockets in this process; `ulimit -n` here is 20000
  const pool = new BlockPool();
  const { loop, port } = await serve(echoFrames, { pool }, { backlog: 2048 });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const clients: RawClient[] = [];
  t.after(() => {
    for (const c of clients) c.destroy();
  });
  for (let i = 0; i < N; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, () => RawClient.connect(port)));
    clients.push(...batch);
  }
  await until(() => loop.connections === N, `${N} live connections`, 10_000);
  await Promise.all(
    clients.map(async (c, i) => {
      const wire = Buffer.concat([frame(pattern(i % 700, i)), frame(`conn-${i}`), frame(pattern(1 + (i * 13) % 5000, i + N))]);
      // Two writes that split a frame, so reassembly happens on every connection.
      const cut = (i * 7) % wire.length;
      c.socket.write(wire.subarray(0, cut));
      c.socket.write(wire.subarray(cut));
      const echoed = await c.read(wire.length, 20_000);
      assert.ok(echoed.equals(wire), `connection ${i}: echo differs`);
    }),
  );
  assert.equal(loop.stats().accepted, N);
  for (const c of clients) c.destroy();
  await until(() => loop.connections === 0, 'every connection to close', 10_000);
  assert.equal(loop.stats().closed, N);
  assertAllBack(pool);
});
