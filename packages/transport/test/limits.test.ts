// maxConnections and maxInboundBytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '@nocopy/linkbuffer';
import { InboundLimitError, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, deferred, echoFrames, frame, serve, until, within } from './helpers.js';

test('the connection past maxConnections is refused at once and counted; the others still echo', { timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames, { maxConnections: 2 });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  t.after(() => {
    a.destroy();
    b.destroy();
  });
  assert.equal((await a.roundTrip('a')).toString(), 'a');
  assert.equal((await b.roundTrip('b')).toString(), 'b');

  const c = await RawClient.connect(port);
  c.socket.write(frame('c')); // may fail with EPIPE/ECONNRESET: it is refused
  await within(c.closed, 3000, 'the refused socket to close');
  assert.equal(c.received, 0, 'the refused socket got data');
  assert.deepEqual(loop.stats(), { connections: 2, accepted: 2, refused: 1, closed: 0, inboundBytes: 0, inboundEvicted: 0, inboundPaused: 0 });

  assert.equal((await a.roundTrip('a again')).toString(), 'a again');
  assert.equal((await b.roundTrip('b again')).toString(), 'b again');

  // A slot freed is a slot taken again.
  a.destroy();
  await until(() => loop.connections === 1, 'the first connection to close');
  const d = await RawClient.connect(port);
  t.after(() => d.destroy());
  assert.equal((await d.roundTrip('d')).toString(), 'd');
  assert.equal(loop.stats().refused, 1);
});

test('a frame that can never fit in maxInboundBytes closes the connection with InboundLimitError', { timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const gone = deferred<Connection>();
  const errors: unknown[] = [];
  const { loop, port } = await serve(echoFrames, {
    pool,
    maxInboundBytes: 64 * 1024,
    onError: (err) => errors.push(err),
    onPrepare: (conn) => {
      conn.addCloseCallback((c) => gone.resolve(c));
    },
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  assert.equal((await c.roundTrip('small')).toString(), 'small');
  c.socket.write(frame(Buffer.alloc(1024 * 1024))); // 1 MiB frame, limit 64 KiB
  const conn = await within(gone.promise, 5000, 'the connection to close');
  assert.ok(conn.error instanceof InboundLimitError, `error: ${String(conn.error)}`);
  assert.equal((conn.error as InboundLimitError).code, 'ERR_INBOUND_LIMIT');
  assert.ok(errors.some((e) => e instanceof InboundLimitError), 'reported to onError');
  await within(c.closed, 3000, 'the client socket to close');
  assertAllBack(pool);
});

test('a read wait for more than maxInboundBytes rejects with InboundLimitError', { timeout: 10_000 }, async (t) => {
  const result = deferred<unknown>();
  const { loop, port } = await serve(
    async (_ctx, conn) => {
      conn.reader.skip(conn.reader.length);
      try {
        await conn.reader.waitFor(100_000);
        result.resolve('resolved');
      } catch (err) {
        result.resolve(err);
      }
    },
    { maxInboundBytes: 1000 },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  await c.write('x');
  const err = await within(result.promise, 3000, 'the wait');
  assert.ok(err instanceof InboundLimitError);
});
