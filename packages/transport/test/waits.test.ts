// Async reads: reader.waitFor / reader.waitUntil, one at a time, with timeouts and AbortSignals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { BlockPool } from '@nocopy/linkbuffer';
import { AbortError, ConcurrentReadError, ConnClosedError, dialConnection, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, deferred, serve, until, within } from './helpers.js';

/** A dialed connection and the server's end of it, a plain socket the test writes to. */
async function pair(t: { after: (fn: () => void) => void }, pool?: BlockPool): Promise<{ conn: Connection; peer: net.Socket }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const conn = await dialConnection('tcp', { port: (server.address() as AddressInfo).port }, pool ? { pool } : {});
  const [peer] = (await accepted) as [net.Socket];
  peer.on('error', () => {});
  t.after(() => {
    conn.close();
    peer.destroy();
    server.close();
  });
  return { conn, peer };
}

test('a second wait while one is pending rejects with ConcurrentReadError; the first still resolves', { timeout: 10_000 }, async (t) => {
  const { conn, peer } = await pair(t);
  const first = conn.reader.waitFor(5);
  await assert.rejects(conn.reader.waitFor(1), (err: unknown) => {
    assert.ok(err instanceof ConcurrentReadError);
    assert.equal(err.code, 'ERR_CONCURRENT_READ');
    return true;
  });
  await assert.rejects(conn.reader.waitUntil('\n'), ConcurrentReadError);
  peer.write('hel');
  await until(() => conn.reader.length === 3, 'the first part to arrive on its own');
  peer.write('lo');
  await within(first, 3000, 'the first wait');
  assert.equal(conn.reader.readString(5), 'hello');
  // Satisfied waits resolve at once, pending or not.
  await conn.reader.waitFor(0);
});

test('waitUntil resolves with the line when the delimiter arrives, across chunks; the rest stays readable', { timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const { conn, peer } = await pair(t, pool);
  const line = conn.reader.waitUntil('\n');
  peer.write('first ha');
  await until(() => conn.reader.length === 8, 'the first part to arrive on its own');
  peer.write('lf\nsecond');
  assert.equal((await within(line, 3000, 'the line')).toString(), 'first half\n');
  const crlf = conn.reader.waitUntil('\r\n');
  peer.write(' line\r');
  await until(() => conn.reader.length === 'second line\r'.length, 'the CR to arrive without its LF');
  peer.write('\nthird');
  assert.equal((await within(crlf, 3000, 'the CRLF line')).toString(), 'second line\r\n');
  assert.equal(conn.reader.length, 5);
  assert.equal(conn.reader.readString(5), 'third');
  // Already there: resolves at once.
  peer.write('a|b|');
  await conn.reader.waitFor(4);
  assert.equal((await conn.reader.waitUntil(0x7c)).toString(), 'a|');
  assert.equal((await conn.reader.waitUntil('|')).toString(), 'b|');
  conn.reader.release();
  const closed = new Promise<void>((resolve) => conn.addCloseCallback(() => resolve()));
  conn.close();
  await within(closed, 3000, 'the close');
  assertAllBack(pool);
});

test('aborting a wait rejects it with ABORT_ERR; the connection stays usable', { timeout: 10_000 }, async (t) => {
  const { conn, peer } = await pair(t);
  const ac = new AbortController();
  const w = conn.reader.waitUntil('\n', { signal: ac.signal });
  ac.abort(new Error('stop'));
  await assert.rejects(w, (err: unknown) => {
    assert.ok(err instanceof AbortError);
    assert.equal(err.code, 'ABORT_ERR');
    assert.equal((err.cause as Error).message, 'stop');
    return true;
  });
  await assert.rejects(conn.reader.waitFor(1, { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' });
  assert.equal(conn.isActive(), true);
  const next = conn.reader.waitUntil('\n');
  peer.write('ok\n');
  assert.equal((await within(next, 3000, 'the next wait')).toString(), 'ok\n');
});

test('a pending wait rejects with ConnClosedError when we close or the peer closes', { timeout: 10_000 }, async (t) => {
  const a = await pair(t);
  const w1 = a.conn.reader.waitFor(10);
  a.conn.close();
  await assert.rejects(w1, ConnClosedError);
  await assert.rejects(a.conn.reader.waitFor(10), ConnClosedError, 'a wait on a closed connection');

  const b = await pair(t);
  const w2 = b.conn.reader.waitUntil('\n');
  b.peer.end('no newline');
  await assert.rejects(w2, ConnClosedError);
  // What arrived before the FIN is still readable.
  await until(() => b.conn.closed, 'the close');
  assert.equal(b.conn.reader.readString(b.conn.reader.length), 'no newline');
});

test('a handler that loops on waitUntil serves a line protocol and ends when the peer leaves', { timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const ended = deferred<unknown>();
  const { loop, port } = await serve(
    async (_ctx, conn) => {
      try {
        for (;;) {
          const line = await conn.reader.waitUntil('\n');
          conn.writer.writeString(line.toString().toUpperCase());
          conn.reader.release(); // the handler never returns, so it releases what it consumed itself
          await conn.writer.flush();
        }
      } catch (err) {
        ended.resolve(err);
      }
    },
    { pool },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  c.socket.write('hello\nwor');
  assert.equal((await c.read(6)).toString(), 'HELLO\n');
  c.socket.write('ld\nbye\n');
  assert.equal((await c.read(10)).toString(), 'WORLD\nBYE\n');
  c.socket.end();
  const err = await within(ended.promise, 3000, 'the handler to end');
  assert.ok(err instanceof ConnClosedError, String(err));
  await until(() => loop.connections === 0, 'the connection to close');
  assertAllBack(pool);
});
