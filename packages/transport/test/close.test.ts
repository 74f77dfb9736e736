// Peer resets and half-closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '@nocopy/linkbuffer';
import { dialConnection, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, deferred, echoFrames, frame, frames, pattern, serve, until, within } from './helpers.js';

test('a peer reset in the middle of a frame: no crash, the connection closes, onDisconnect runs, blocks come back', { timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const gone = deferred<Connection>();
  let disconnects = 0;
  let requests = 0;
  const { loop, port } = await serve(
    (ctx, conn) => {
      requests++;
      conn.reader.peek(Math.min(conn.reader.length, 6)); // maybe a pooled copy across chunks
      return echoFrames(ctx, conn);
    },
    {
      pool,
      onPrepare: (conn) => {
        conn.addCloseCallback((c) => gone.resolve(c));
      },
      onConnect: (_ctx, conn) => {
        conn.writer.writeString('hello\n'); // pooled output memory
        return conn.writer.flush();
      },
      onDisconnect: () => {
        disconnects++;
      },
    },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  assert.equal((await c.read(6)).toString(), 'hello\n');
  assert.equal((await c.roundTrip('whole')).toString(), 'whole');
  const half = frame(pattern(10_000, 7)).subarray(0, 5000);
  const before = requests;
  await c.write(half);
  await until(() => requests > before, 'the server to see the half frame');
  c.socket.resetAndDestroy();
  const conn = await within(gone.promise, 3000, 'the connection to close');
  assert.equal(conn.isActive(), false);
  assert.equal(disconnects, 1);
  assert.equal(loop.connections, 0);
  assertAllBack(pool);
  // The server still serves.
  const d = await RawClient.connect(port);
  t.after(() => d.destroy());
  assert.equal((await d.read(6)).toString(), 'hello\n');
  assert.equal((await d.roundTrip('still here')).toString(), 'still here');
});

for (const size of [10, 4 * 1024 * 1024]) {
  test(`half-close: a client that writes a request then end()s gets its full reply (${size} B), then the connection closes`, { timeout: 15_000 }, async (t) => {
    const pool = new BlockPool();
    const gone = deferred<Connection>();
    let disconnects = 0;
    const { loop, port } = await serve(
      async (_ctx, conn) => {
        const f = frames.decode(conn.reader);
        if (f === undefined) return;
        const req = f.toString();
        await until(() => conn.peerEnded, 'the FIN to arrive while the handler runs');
        const reply = pattern(size, Number(req));
        conn.writer.writeUint32BE(reply.length);
        conn.writer.writeBinary(reply);
        await conn.writer.flush();
      },
      {
        pool,
        onPrepare: (conn) => {
          conn.addCloseCallback((c) => gone.resolve(c));
        },
        onDisconnect: () => {
          disconnects++;
        },
      },
    );
    t.after(() => loop.shutdown({ timeout: 100 }));
    const c = await RawClient.connect(port, { allowHalfOpen: true });
    t.after(() => c.destroy());
    c.socket.end(frame('1234'));
    const reply = await c.readFrame(10_000);
    assert.ok(reply.equals(pattern(size, 1234)), 'the reply differs');
    await within(c.closed, 5000, 'the server to close after replying');
    assert.equal(c.ended, true, 'the server ended cleanly (FIN)');
    assert.equal(c.error, undefined);
    const conn = await within(gone.promise, 3000, 'the server connection to finish');
    assert.equal(conn.error, undefined);
    assert.equal(disconnects, 1, 'the FIN is a peer close');
    assertAllBack(pool);
  });
}

for (const size of [100, 8 * 1024 * 1024]) {
  test(`close() right after flush(): the reply (${size} B) is delivered in full before the FIN`, { timeout: 15_000 }, async (t) => {
    const pool = new BlockPool();
    const reply = pattern(size, 11);
    const { loop, port } = await serve(
      (_ctx, conn) => {
        conn.reader.skip(conn.reader.length);
        conn.writer.writeUint32BE(reply.length);
        conn.writer.writeBinary(reply);
        void conn.writer.flush();
        conn.close();
      },
      { pool },
    );
    t.after(() => loop.shutdown({ timeout: 100 }));
    const c = await RawClient.connect(port);
    t.after(() => c.destroy());
    c.socket.write('please');
    const got = await c.readFrame(10_000);
    assert.ok(got.equals(reply), 'the reply differs');
    await within(c.closed, 5000, 'the close');
    assert.equal(c.ended, true);
    assert.equal(c.error, undefined);
    await until(() => loop.connections === 0, 'the server side to finish');
    assertAllBack(pool);
  });
}

test('Symbol.asyncDispose closes the connection and waits for its close callbacks', { timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames);
  t.after(() => loop.shutdown({ timeout: 100 }));
  const conn = await dialConnection('tcp', { port });
  let ran = false;
  conn.addCloseCallback(() => {
    ran = true;
  });
  await conn[Symbol.asyncDispose]();
  assert.equal(ran, true);
  assert.equal(conn.closed, true);
  await conn[Symbol.asyncDispose](); // again: nothing to do
});
