// Graceful shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '@nocopy/linkbuffer';
import { ShutdownError, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, deferred, echoFrames, frame, frames, pattern, serve, until, within } from './helpers.js';

test('shutdown: in-flight requests finish and are answered, idle connections close at once, every block comes back', { timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const started = deferred();
  const release = deferred(); // the first request stays in flight until the idle connection is closed
  t.after(() => release.resolve());
  const conns: Connection[] = [];
  const { loop, port } = await serve(
    async (ctx, conn) => {
      const size = frames.frameSize(conn.reader);
      if (size === undefined || conn.reader.length < size) return;
      started.resolve();
      await release.promise;
      return echoFrames(ctx, conn);
    },
    {
      pool,
      onPrepare: (conn) => {
        conns.push(conn);
      },
    },
  );
  const busy = await RawClient.connect(port);
  const idle = await RawClient.connect(port);
  t.after(() => {
    busy.destroy();
    idle.destroy();
  });
  // Two requests at once: the second is waiting in the input when shutdown begins.
  busy.socket.write(Buffer.concat([frame('first'), frame(pattern(50_000, 1))]));
  await within(started.promise, 3000, 'the handler to start');
  await until(() => loop.connections === 2, 'both connections');
  const done = loop.shutdown({ timeout: 5000 });
  let replied = false;
  const idleClosed = idle.closed.then(() => replied);
  // The idle connection closes at once, while the request is still in flight.
  await within(idle.closed, 3000, 'the idle connection to close');
  release.resolve();
  const first = await busy.readFrame();
  replied = true;
  assert.equal(first.toString(), 'first');
  assert.ok((await busy.readFrame()).equals(pattern(50_000, 1)), 'the second reply differs');
  assert.equal(await idleClosed, false, 'the idle connection closed only after the in-flight reply');
  assert.equal(idle.received, 0);
  await within(busy.closed, 3000, 'the busy connection to close');
  assert.equal(busy.ended, true, 'closed with a FIN after the replies');
  await within(done, 3000, 'shutdown');
  assert.equal(loop.connections, 0);
  for (const c of conns) assert.equal(c.error, undefined, 'a graceful close, not a deadline');
  assertAllBack(pool);
  await assert.rejects(RawClient.connect(port), /ECONNREFUSED/, 'no longer listening');
});

test('shutdown: a reply still queued for a slow reader is delivered, then the connection closes before the deadline', { timeout: 15_000 }, async (t) => {
  const pool = new BlockPool();
  const gone = deferred<Connection>();
  const big = pattern(16 * 1024 * 1024, 3); // more than the kernel buffers hold
  const { loop, port } = await serve(
    (_ctx, conn) => {
      conn.reader.skip(conn.reader.length);
      conn.writer.writeUint32BE(big.length);
      conn.writer.writeBinary(big);
      return conn.writer.flush(); // resolves at once: below maxOutboundBytes when called
    },
    {
      pool,
      onPrepare: (conn) => {
        served = conn;
        conn.addCloseCallback((c) => gone.resolve(c));
      },
    },
  );
  let served: Connection | undefined;
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  c.socket.pause();
  await c.write('go');
  await until(() => pool.stats().blocksOutstanding > 0, 'the reply to be queued');
  // The reply backs up behind the paused reader: still queued when shutdown begins.
  await until(() => served !== undefined && served.socket.writableLength > 0, 'the reply to back up behind the paused reader');
  const done = loop.shutdown({ timeout: 3000 });
  // shutdown() closes idle connections at once (synchronously or on the next tick); this one ends
  // gracefully instead: a turn later it is not closed and its socket still holds the reply.
  await new Promise((r) => setImmediate(r));
  assert.equal(served!.closed, false, 'a connection with a reply queued is not closed as idle');
  assert.ok(served!.socket.writableLength > 0 && !served!.socket.destroyed, 'the queued reply is still there to deliver');
  c.socket.resume();
  const reply = await c.readFrame(8000);
  assert.ok(reply.equals(big), 'the reply differs');
  const conn = await within(gone.promise, 5000, 'the connection to close');
  assert.equal(conn.error, undefined, `closed by: ${String(conn.error)}`);
  await within(done, 3000, 'shutdown');
  assertAllBack(pool);
});

test('shutdown resolves at its deadline and destroys a handler that never finishes', { timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const gone = deferred<Connection>();
  const release = deferred();
  t.after(() => release.resolve());
  const started = deferred();
  let served: Connection | undefined;
  let callbacksRan = false;
  void gone.promise.then(() => (callbacksRan = true));
  const { loop, port } = await serve(
    async (_ctx, conn) => {
      served = conn;
      conn.reader.skip(conn.reader.length);
      conn.writer.writeString('working\n');
      await conn.writer.flush();
      started.resolve();
      await release.promise; // past any deadline
    },
    {
      pool,
      onPrepare: (conn) => {
        conn.addCloseCallback((c) => gone.resolve(c));
      },
    },
  );
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  await c.write('x');
  await within(started.promise, 3000, 'the handler');
  await within(loop.shutdown({ timeout: 100 }), 3000, 'shutdown');
  await within(c.closed, 3000, 'the client socket to close');
  assert.equal((await c.read(8)).toString(), 'working\n');
  // The server's socket is gone (its 'close' emitted), but close callbacks still wait for the
  // handler to settle: they would otherwise have run at that close, before a turn later.
  await until(() => served!.socket.closed, "the server socket's close");
  await new Promise((r) => setImmediate(r));
  assert.equal(callbacksRan, false, 'close callbacks ran before the handler settled');
  release.resolve();
  const conn = await within(gone.promise, 3000, 'the close callbacks');
  assert.ok(conn.error instanceof ShutdownError, String(conn.error));
  assert.equal(loop.connections, 0);
  assertAllBack(pool);
});

test('shutdown with an AbortSignal ends the grace period when aborted', { timeout: 10_000 }, async (t) => {
  const started = deferred();
  const release = deferred();
  t.after(() => release.resolve());
  let conn: Connection | undefined;
  const { loop, port } = await serve(async (_ctx, c) => {
    conn = c;
    c.reader.skip(c.reader.length);
    started.resolve();
    await release.promise;
  });
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const idle = await RawClient.connect(port); // closed at once by the shutdown: the sign it has acted
  t.after(() => idle.destroy());
  await c.write('x');
  await within(started.promise, 3000, 'the handler');
  await until(() => loop.connections === 2, 'both connections');
  const ac = new AbortController();
  const done = loop.shutdown({ timeout: 60_000, signal: ac.signal });
  await within(idle.closed, 3000, 'the idle connection to close');
  assert.equal(conn!.isActive(), true, 'a running handler is given its grace period');
  ac.abort();
  await within(done, 3000, 'shutdown after abort');
  assert.ok(conn!.error instanceof ShutdownError, String(conn!.error));
  await within(c.closed, 3000, 'the client socket to close');
});
