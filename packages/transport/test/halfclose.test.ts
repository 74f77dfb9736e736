// After closeWrite() (our FIN queued behind output the socket still holds), the peer's FIN closes the
// connection: that close must still deliver every byte handed to the socket before the FIN. It once
// destroyed the socket instead (an ended socket is no longer `writable`), dropping the queue's tail:
// the proxy lost the end of an upload when the upstream's FIN came in just after the client's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { BlockPool } from '@nocopy/linkbuffer';
import type { Connection } from '../src/index.js';
import { assertAllBack, deferred, pattern, serve, until, within } from './helpers.js';

for (const allowHalfOpen of [true, false]) {
  test(`the peer's FIN after our closeWrite() (allowHalfOpen: ${allowHalfOpen}): output still queued in the socket is delivered in full, then EOF`, { timeout: 30_000 }, async (t) => {
    const pool = new BlockPool();
    // Far more than loopback's socket buffers take while the client does not read: most of it is
    // still in Node's write queue when the client's FIN arrives.
    const reply = pattern(24 * 1024 * 1024 + 3, 29);
    const wrote = deferred<Connection<unknown>>();
    let peerEnded = false;
    const { loop, port } = await serve(
      (_ctx, conn) => {
        conn.reader.skip(conn.reader.length);
        conn.writer.writeBinary(reply);
        // The flush inside closeWrite() resolves once the socket took the bytes, not once they were sent.
        return conn.closeWrite().then(() => wrote.resolve(conn));
      },
      {
        pool,
        allowHalfOpen,
        // Large enough that the whole reply goes to the socket at once (no wait for 'drain').
        maxOutboundBytes: 64 * 1024 * 1024,
        onDisconnect: () => {
          peerEnded = true;
        },
      },
    );
    t.after(() => loop.shutdown({ timeout: 100 }));
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    t.after(() => c.destroy());
    await once(c, 'connect');
    c.pause();
    c.write('go');
    const conn = await within(wrote.promise, 10_000, 'closeWrite() to resolve');
    assert.equal(conn.writeEnded, true);
    assert.ok(conn.writer.queued > 0, 'the precondition: output still queued when our FIN was requested');
    // Our FIN now, while the reply still waits for us to read it.
    c.end();
    await until(() => peerEnded, 'the server to see the FIN');
    let got = 0;
    let mismatch = -1;
    c.on('data', (chunk: Buffer) => {
      if (mismatch < 0 && reply.compare(chunk, 0, chunk.length, got, got + chunk.length) !== 0) mismatch = got;
      got += chunk.length;
    });
    let error: Error | undefined;
    c.on('error', (e) => (error = e));
    const ended = once(c, 'end');
    c.resume();
    await within(ended, 15_000, 'EOF at the client');
    assert.equal(error, undefined);
    assert.equal(got, reply.length, `received ${got} of ${reply.length} bytes`);
    assert.equal(mismatch, -1, `first difference at byte ${mismatch}`);
    await until(() => loop.connections === 0, 'the server connection to finish');
    assert.equal(conn.error, undefined);
    assertAllBack(pool);
  });
}

test('both FINs exchanged (ours by closeWrite()) while input still waits for a running handler: the socket closes, the handler still gets every byte', { timeout: 30_000 }, async (t) => {
  const pool = new BlockPool();
  const first = pattern(200_000, 1);
  const rest = pattern(300_000, 2);
  const total = first.length + rest.length;
  const gate = deferred();
  const called = deferred<Connection<unknown>>();
  let consumed = 0;
  let peerEnded = false;
  const { loop, port } = await serve(
    async (_ctx, conn) => {
      // Like a proxy's forward(): takes what is there when called, and is slow to finish (the other
      // side's backpressure); what arrives meanwhile needs the next call.
      const n = conn.reader.length;
      called.resolve(conn);
      await gate.promise;
      conn.reader.skip(n);
      consumed += n;
    },
    {
      pool,
      allowHalfOpen: true,
      maxInboundBytes: 4 * 1024 * 1024,
      onDisconnect: () => {
        peerEnded = true;
      },
    },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => c.destroy());
  c.on('data', () => {});
  await once(c, 'connect');
  c.write(first);
  const conn = await within(called.promise, 10_000, 'the first onRequest call');
  c.end(rest);
  await until(() => peerEnded, 'the server to see the FIN');
  // Our FIN too: with both FINs exchanged Node closes the socket, while the handler still runs.
  await conn.closeWrite();
  await until(() => conn.socket.closed, 'the server socket to close');
  assert.ok(conn.reader.length > 0, 'the precondition: input still waits when the socket closes');
  gate.resolve();
  await until(() => conn.closed, 'the server connection to finish');
  assert.equal(consumed, total, `the handler consumed ${consumed} of ${total} bytes`);
  assert.equal(conn.error, undefined);
  assertAllBack(pool);
});
