// Input that output references (writeBinary of a view over 4 KiB) is kept until the socket has written
// that output, and no longer: each settled call's input goes back with the write of its own batch.
// Kept instead until no write at all was in flight and no call ran, an echoed stream whose writes
// overlapped held everything it had consumed (up to 140 MiB in backpressure.test's 200 MiB flood).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '@nocopy/linkbuffer';
import type { Connection } from '../src/index.js';
import { RawClient, assertAllBack, deferred, echoFrames, frame, pattern, serve, until, within } from './helpers.js';

const MiB = 1024 * 1024;

test('input consumed by settled calls goes back as their replies are written, while a later call still runs', { timeout: 30_000 }, async (t) => {
  const pool = new BlockPool();
  const gate = deferred();
  let holdAt = -1; // the call that has consumed this many bytes in all stays running
  let consumed = 0;
  let holding = false;
  let conn: Connection | undefined;
  const { loop, port } = await serve(
    async (ctx, c) => {
      const before = c.reader.length;
      const flushed = echoFrames(ctx, c); // replies reference the input (frames over 4 KiB)
      consumed += before - c.reader.length;
      await flushed;
      if (consumed === holdAt) {
        holding = true;
        await gate.promise;
      }
    },
    {
      pool,
      maxInboundBytes: 64 * MiB,
      maxOutboundBytes: 256 * MiB, // flushes never wait: every call settles with its reply in the socket
      onPrepare: (c) => {
        conn = c;
      },
    },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  c.socket.pause(); // replies pile up in the server's socket: its writes stay in flight

  const filler = frame(pattern(256 * 1024, 5));
  const count = 128; // 32 MiB: more than loopback's kernel buffers take, so writes stay queued
  for (let i = 0; i < count; i++) c.socket.write(filler);
  await until(() => consumed === count * filler.length, () => `the server to echo the filler (${consumed} B)`, 20_000);
  const queue = conn!.socket.writableLength;
  const piled = pool.stats().bytesOutstanding;
  t.diagnostic(`socket queue ${queue} B, pool ${piled} B`);
  assert.ok(queue > 4 * MiB, `replies wait in the socket (${queue} B)`);
  assert.ok(piled >= queue, `the input behind the queued replies is kept while they wait (${piled} B)`);

  // One more call, which stays running; then the client reads every reply.
  const last = frame(pattern(64 * 1024, 6));
  const total = count * filler.length + last.length;
  holdAt = total;
  c.socket.write(last);
  await until(() => holding, 'the last call to echo the last frame');
  c.socket.resume();
  await until(() => c.received === total, () => `every reply (${c.received} of ${total} B)`, 20_000);
  // Written, so their input is free, though a call runs and the connection never went idle.
  await until(() => pool.stats().bytesOutstanding < 2 * MiB, () => `the written replies' input to go back (pool ${pool.stats().bytesOutstanding} B, running call ${last.length} B)`, 5000);

  gate.resolve();
  c.destroy();
  await within(new Promise<void>((resolve) => conn!.addCloseCallback(() => resolve())), 5000, 'the close');
  assertAllBack(pool);
});
