// A reply may reference its input: writeBinary(reader.next(n)) above 4 KiB links the input's memory
// into the output without copying. The connection must not release that input (whose pooled scratch
// or nodes could then be reused) before the output has been written, even when the peer reads late.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop } from '../src/index.js';
import { frames as codec } from './helpers.js';

test('replies that reference their input survive a late-reading peer byte for byte', { timeout: 20_000 }, async () => {
  const pool = new BlockPool();
  const loop = new EventLoop(
    (_ctx, conn) => {
      const w = conn.writer;
      // The payload by reference (writeBinary above 4 KiB).
      for (let f = codec.decode(conn.reader); f !== undefined; f = codec.decode(conn.reader)) codec.encode(f, w);
      return w.flush();
    },
    { pool },
  );
  const addr = (await loop.listen({ port: 0 })) as net.AddressInfo;
  const frames = 200;
  const size = 60_000;
  const sent: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    const f = Buffer.allocUnsafe(4 + size);
    f.writeUInt32BE(size, 0);
    for (let j = 4; j < f.length; j++) f[j] = (i * 7 + j) & 0xff;
    sent.push(f);
  }
  const expected = Buffer.concat(sent);
  const socket = net.connect(addr.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.pause(); // read late: the server's writes queue up behind a full socket
  socket.write(expected);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const got: Buffer[] = [];
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      got.push(c);
      n += c.length;
      if (n >= expected.length) resolve();
    });
    socket.on('error', reject);
    socket.resume();
  });
  const echoed = Buffer.concat(got);
  assert.equal(echoed.length, expected.length);
  assert.ok(echoed.equals(expected), 'echoed bytes differ from what was sent');
  socket.destroy();
  await loop.shutdown({ timeout: 2000 });
  assert.equal(pool.stats().blocksOutstanding, 0);
});
