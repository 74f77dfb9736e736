// What a proxy or a protocol layer relies on, without promises or private objects: send() says
// whether the output went to the socket or waits for the peer, drained() resolves when it has gone,
// waiting and queued tell the state, redispatch() resumes onRequest with no new input, and a close
// with an error can still deliver what was sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnClosedError, dialConnection, type Connection } from '../src/index.js';
import { RawClient, deferred, frame, probeRoundTrips, serve, until, within, withProbe } from './helpers.js';

test('send() is true while the socket takes the output, false once it waits for the peer; drained() resolves when the peer reads', { timeout: 15_000 }, async (t) => {
  const served = deferred<Connection>();
  const { loop, port } = await serve(() => {}, { maxOutboundBytes: 64 * 1024, onPrepare: (c) => void served.resolve(c) });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const client = await RawClient.connect(port);
  t.after(() => client.destroy());
  client.socket.pause(); // the peer does not read
  const conn = await within(served.promise, 3000, 'the connection');
  const chunk = Buffer.alloc(256 * 1024, 7);
  conn.writer.writeBinary(chunk);
  assert.equal(conn.writer.send(), true, 'the first send goes to the socket');
  let sends = 1;
  for (; sends < 400 && conn.writer.send(); sends++) conn.writer.writeBinary(chunk);
  assert.ok(sends < 400, 'a peer that does not read makes sends wait');
  assert.equal(conn.writer.waiting, true);
  assert.ok(conn.writer.queued >= 64 * 1024, `queued: ${conn.writer.queued}`);
  // More output joins the waiting batch.
  conn.writer.writeBinary(Buffer.from('tail'));
  assert.equal(conn.writer.send(), false);
  let drained = false;
  const d = conn.writer.drained().then(() => (drained = true));
  // A wrong resolution would come in a microtask or at the socket's next write callback; the
  // writer's own state says the output still waits.
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false, 'nothing drains while the peer does not read');
  assert.equal(conn.writer.waiting, true);
  assert.ok(conn.writer.queued > 0, 'the output still waits for the peer');
  client.socket.resume();
  await within(d, 10_000, 'drained() once the peer reads');
  assert.equal(conn.writer.waiting, false);
  await until(() => client.received === sends * chunk.length + 4, 'every byte at the peer', 10_000);
  assert.equal(await conn.writer.drained(), undefined, 'resolved at once when nothing waits');
  conn.close();
  assert.throws(() => conn.writer.send(), ConnClosedError);
  await assert.rejects(conn.writer.flush(), ConnClosedError);
});

test('redispatch() calls onRequest again for waiting input, though none arrived', { timeout: 10_000 }, async (t) => {
  let allow = false;
  const calls: number[] = [];
  const served = deferred<Connection>();
  const { loop, port } = await serve(
    withProbe((_ctx, conn) => {
      served.resolve(conn);
      calls.push(conn.reader.length);
      if (!allow) return; // a limit of the handler's own: consumes nothing for now
      conn.writer.writeBinary(conn.reader.next(conn.reader.length));
      return conn.writer.flush();
    }),
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const client = await RawClient.connect(port);
  t.after(() => client.destroy());
  await client.write('hello');
  const conn = await served.promise;
  await until(() => calls.length === 1, 'the first call');
  await probeRoundTrips(port); // a call again by itself would have come by now
  assert.equal(calls.length, 1, 'a handler that consumed nothing is not called again by itself');
  allow = true;
  conn.redispatch();
  assert.equal((await client.read(5)).toString(), 'hello');
  assert.deepEqual(calls, [5, 5]);
  conn.redispatch(); // nothing waiting: no call
  await probeRoundTrips(port);
  assert.equal(calls.length, 2);
});

test('close(error, { graceful: true }) keeps the error and still delivers what was sent, then the FIN', { timeout: 10_000 }, async (t) => {
  const served = deferred<Connection>();
  const { loop, port } = await serve(() => {}, { onPrepare: (c) => void served.resolve(c) });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const client = await RawClient.connect(port);
  t.after(() => client.destroy());
  const conn = await served.promise;
  conn.writer.writeBinary(frame('last words'));
  conn.writer.send();
  const err = new Error('protocol error');
  conn.close(err, { graceful: true });
  assert.equal(conn.isActive(), false);
  assert.equal((await client.readFrame()).toString(), 'last words');
  await within(client.closed, 3000, 'the FIN');
  assert.equal(client.ended, true, 'a FIN, not a reset');
  assert.equal(conn.error, err);
});

test('a dialed connection reports its read path', { timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(() => {});
  t.after(() => loop.shutdown({ timeout: 100 }));
  for (const readMode of ['onread', 'link'] as const) {
    const c = await dialConnection('tcp', { port }, { readMode });
    assert.equal(c.readMode, readMode);
    c.close();
  }
});
