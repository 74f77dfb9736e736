// The callback order of the README: onConnect before onRequest, one onRequest at a time, no
// spinning on unconsumed input, onDisconnect only for the peer's close, close callbacks once and in
// reverse order after a running onRequest settled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Connection } from '../src/index.js';
import { RawClient, deferred, echoFrames, frame, frames, probeRoundTrips, serve, sleep, until, within, withProbe } from './helpers.js';

test('an async onConnect delays onRequest; the ctx it returns reaches onRequest', { timeout: 10_000 }, async (t) => {
  const gate = deferred();
  const events: string[] = [];
  let seenCtx: unknown;
  let prepared: Connection<string> | undefined;
  const { loop, port } = await serve<string>(
    (ctx, conn) => {
      events.push('request');
      seenCtx = ctx;
      return echoFrames(ctx, conn);
    },
    {
      onPrepare: (conn) => ((prepared = conn), 'prepared'),
      onConnect: async (ctx) => {
        events.push(`connect:${ctx}`);
        await gate.promise;
        events.push('connected');
        return 'connected-ctx';
      },
    },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  await c.write(frame('early'));
  await until(() => events.length > 0, 'onConnect');
  // The request is in the connection's input (read while onConnect waits): onRequest must still wait.
  await until(() => (prepared?.reader.length ?? 0) >= frame('early').length, 'the request to be read');
  assert.deepEqual(events, ['connect:prepared']);
  gate.resolve();
  assert.equal((await c.readFrame()).toString(), 'early');
  assert.deepEqual(events, ['connect:prepared', 'connected', 'request']);
  assert.equal(seenCtx, 'connected-ctx');
});

test('at most one onRequest runs at a time while data keeps arriving', { timeout: 10_000 }, async (t) => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const { loop, port } = await serve(async (_ctx, conn) => {
    calls++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      const f = frames.decode(conn.reader);
      if (f === undefined) return;
      await sleep(2); // data keeps arriving meanwhile
      frames.encode(f, conn.writer); // one frame per call
      await conn.writer.flush();
    } finally {
      running--;
    }
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const N = 60;
  const writer = (async () => {
    for (let i = 0; i < N; i++) {
      await c.write(frame(`msg-${i}`));
      if (i % 3 === 0) await sleep(1);
    }
  })();
  for (let i = 0; i < N; i++) assert.equal((await c.readFrame()).toString(), `msg-${i}`);
  await writer;
  assert.equal(maxRunning, 1, 'onRequest overlapped itself');
  assert.ok(calls >= N, `one frame per call means at least ${N} calls, saw ${calls}`);
});

for (const kind of ['sync', 'async'] as const) {
  test(`a ${kind} handler that reads nothing is not spun; more data calls it again`, { timeout: 10_000 }, async (t) => {
    let calls = 0;
    let seen = 0;
    // A probe connection's round trips through the same loop, after the first call, are the sign
    // that a spin (a call again without new data) would have happened by then.
    const { loop, port } = await serve(withProbe((_ctx, conn) => {
      calls++;
      seen = conn.reader.length;
      if (kind === 'async') return sleep(1);
    }));
    t.after(() => loop.shutdown({ timeout: 100 }));
    const c = await RawClient.connect(port);
    t.after(() => c.destroy());
    await c.write('abc');
    await until(() => calls > 0, 'the first onRequest');
    await probeRoundTrips(port);
    assert.equal(calls, 1, 'called again without new data');
    await c.write('def');
    await until(() => calls > 1, 'onRequest after more data');
    await probeRoundTrips(port);
    assert.equal(calls, 2);
    assert.equal(seen, 6, 'the unread input is still there');
  });
}

test('input that arrives while a handler runs is handed to it again, even if that call consumed nothing', { timeout: 10_000 }, async (t) => {
  let calls = 0;
  const { loop, port } = await serve(async (ctx, conn) => {
    calls++;
    const r = conn.reader;
    const size = frames.frameSize(r);
    const complete = size !== undefined && r.length >= size; // decided on the input at call time
    // The first call waits for the rest of the frame to arrive while it runs (read meanwhile).
    if (!complete && size !== undefined) await until(() => r.length >= size, 'the rest of the frame to arrive while the handler runs');
    if (complete) return echoFrames(ctx, conn);
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const whole = frame('split while busy');
  await c.write(whole.subarray(0, 6));
  await until(() => calls === 1, 'the first onRequest');
  await c.write(whole.subarray(6)); // while the first call still sleeps
  assert.equal((await c.readFrame(3000)).toString(), 'split while busy');
});

test('onDisconnect fires when the peer closes, not on our own close()', { timeout: 10_000 }, async (t) => {
  const disconnected: string[] = [];
  const closed: string[] = [];
  const { loop, port } = await serve<string>(
    (ctx, conn) => {
      const line = conn.reader.until(0x0a);
      if (line === null) return;
      if (line.toString() === 'close\n') conn.close();
      else return echoFrames(ctx, conn);
    },
    {
      onPrepare: (conn) => {
        const id = String(conn.remotePort);
        conn.addCloseCallback(() => {
          closed.push(id);
        });
        return id;
      },
      onDisconnect: (ctx, conn) => {
        assert.equal(conn.isActive(), false, 'inactive by the time onDisconnect runs');
        disconnected.push(ctx);
      },
    },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));

  const peer = await RawClient.connect(port);
  const peerId = String(peer.socket.localPort);
  peer.socket.end();
  await until(() => closed.includes(peerId), 'the peer-closed connection to close');
  assert.deepEqual(disconnected, [peerId]);

  const own = await RawClient.connect(port);
  const ownId = String(own.socket.localPort);
  await own.write('close\n');
  await within(own.closed, 3000, 'the server to close');
  await until(() => closed.includes(ownId), 'our own close to finish');
  // onDisconnect, when it runs, runs before the close callbacks (the peer's close above shows it):
  // the close callbacks having run is the sign that it would have run by now.
  assert.deepEqual(disconnected, [peerId], 'no onDisconnect for our own close()');
});

test('close callbacks run once, in reverse order, after a running onRequest settled; one that throws does not stop the rest', { timeout: 10_000 }, async (t) => {
  const order: string[] = [];
  const errors: unknown[] = [];
  let handlerDone = false;
  let conn!: Connection;
  const boom = new Error('boom');
  const { loop, port } = await serve(
    async (_ctx, c) => {
      conn = c;
      c.reader.skip(c.reader.length);
      c.addCloseCallback(() => {
        order.push(`first:${handlerDone}`);
      });
      c.addCloseCallback(() => {
        order.push(`second:${handlerDone}`);
        throw boom;
      });
      c.addCloseCallback(async () => {
        order.push(`third:${handlerDone}`);
      });
      c.close();
      assert.equal(c.isActive(), false, 'isActive() is false synchronously after close()');
      if (!c.socket.destroyed) await within(once(c.socket, 'close'), 5000, 'the socket to close'); // the callbacks must wait for us
      assert.deepEqual(order, []);
      handlerDone = true;
    },
    { onError: (err) => errors.push(err) },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  await c.write('x');
  await until(() => order.length === 3, 'the close callbacks');
  assert.deepEqual(order, ['third:true', 'second:true', 'first:true']);
  assert.deepEqual(errors, [boom]);
  assert.equal(conn.closed, true);

  // Once more: nothing runs twice, and a late callback runs at once (synchronously).
  conn.close();
  let late = 0;
  conn.addCloseCallback(() => {
    late++;
  });
  assert.equal(late, 1, 'a callback added after close runs at once');
  // A second run would be queued by close() itself (synchronously, a microtask or nextTick): a
  // setImmediate turn comes after all of those.
  await new Promise((r) => setImmediate(r));
  assert.equal(order.length, 3);
  assert.equal(late, 1);
});

test('an onPrepare that throws closes the connection and is reported to onError', { timeout: 10_000 }, async (t) => {
  const errors: unknown[] = [];
  const boom = new Error('prepare failed');
  let requests = 0;
  const { loop, port } = await serve(
    () => {
      requests++;
    },
    {
      onPrepare: () => {
        throw boom;
      },
      onError: (err) => errors.push(err),
    },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  c.socket.write('x');
  await within(c.closed, 3000, 'the close');
  await until(() => loop.connections === 0, 'the connection to finish');
  assert.deepEqual(errors, [boom]);
  assert.equal(requests, 0);
});

test('isActive() turns false synchronously on close()', { timeout: 10_000 }, async (t) => {
  const states: boolean[] = [];
  const { loop, port } = await serve((_ctx, conn) => {
    conn.reader.skip(conn.reader.length);
    states.push(conn.isActive());
    conn.close();
    states.push(conn.isActive());
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  await c.write('x');
  await within(c.closed, 3000, 'the close');
  assert.deepEqual(states, [true, false]);
});
