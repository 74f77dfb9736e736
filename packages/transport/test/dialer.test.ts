// The Dialer: timeouts, refusals, aborts, address forms and multiplexed (onRequest) client connections.
// The network here is loopback only: a dial timeout comes from a TLS handshake that never completes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { BlockPool } from '@nocopy/linkbuffer';
import { AbortError, DialError, DialTimeoutError, Dialer, ReadTimeoutError, dialConnection, type Connection } from '../src/index.js';
import { assertAllBack, echoFrames, frame, frames, pattern, serve, until, within } from './helpers.js';

/** A server that accepts and never says a word (so a TLS handshake never completes); it discards what it gets. */
async function silentServer(): Promise<{ server: net.Server; port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.resume(); // so it sees the client's FIN
    sockets.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

function closeAll(s: { server: net.Server; sockets: net.Socket[] }): void {
  for (const x of s.sockets) x.destroy();
  s.server.close();
}

test('a TLS dial whose handshake never completes fails with DialTimeoutError and leaves nothing open', { timeout: 10_000 }, async (t) => {
  const silent = await silentServer();
  t.after(() => closeAll(silent));
  const pool = new BlockPool();
  await assert.rejects(dialConnection('tcp', { port: silent.port }, { tls: true, timeout: 100, pool }), (err: unknown) => {
    assert.ok(err instanceof DialTimeoutError, String(err));
    assert.equal(err.code, 'ERR_DIAL_TIMEOUT');
    return true;
  });
  await until(() => silent.sockets.length === 1 && silent.sockets[0]!.destroyed, 'the dialed socket to be closed');
  assert.equal(pool.stats().blocksOutstanding, 0);
});

test('a dial to a closed port fails with DialError, cause ECONNREFUSED', { timeout: 10_000 }, async () => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  const pool = new BlockPool();
  await assert.rejects(dialConnection('tcp', `127.0.0.1:${port}`, { pool }), (err: unknown) => {
    assert.ok(err instanceof DialError, String(err));
    assert.equal(err.code, 'ERR_DIAL_FAILED');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    return true;
  });
  assert.equal(pool.stats().blocksOutstanding, 0);
});

test('an AbortSignal aborts a dial in progress with ABORT_ERR; an aborted one never dials', { timeout: 10_000 }, async (t) => {
  const silent = await silentServer();
  t.after(() => closeAll(silent));
  const ac = new AbortController();
  const dialing = dialConnection('tcp', { port: silent.port }, { tls: true, timeout: 5000, signal: ac.signal });
  const reason = new Error('changed my mind');
  ac.abort(reason);
  await assert.rejects(dialing, (err: unknown) => {
    assert.ok(err instanceof AbortError, String(err));
    assert.equal(err.code, 'ABORT_ERR');
    assert.equal(err.cause, reason);
    return true;
  });
  await assert.rejects(dialConnection('tcp', { port: silent.port }, { signal: AbortSignal.abort() }), (err: unknown) => {
    assert.ok(err instanceof AbortError);
    assert.equal(err.code, 'ABORT_ERR');
    return true;
  });
  await until(() => silent.sockets.every((s) => s.destroyed), 'aborted sockets to close');
  assert.ok(silent.sockets.length <= 1, 'a pre-aborted dial connected anyway');
});

for (const readMode of ['onread', 'link'] as const) {
  test(`a dialed connection with onRequest gets multiplexed input (readMode ${readMode})`, { timeout: 10_000 }, async (t) => {
    const { loop, port } = await serve(echoFrames);
    t.after(() => loop.shutdown({ timeout: 100 }));
    const pool = new BlockPool();
    const got: Buffer[] = [];
    let running = 0;
    let overlap = false;
    const conn = await dialConnection('tcp', `127.0.0.1:${port}`, {
      pool,
      readMode,
      onRequest: async (_ctx, c) => {
        if (++running > 1) overlap = true;
        for (let f = frames.decode(c.reader); f !== undefined; f = frames.decode(c.reader)) got.push(Buffer.from(f));
        await Promise.resolve();
        running--;
      },
    });
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const p = pattern((i * 211) % 20_000, i);
      sent.push(p);
      conn.writer.writeBinary(frame(p));
      if (i % 10 === 9) await conn.writer.flush(); // many replies in flight at once
    }
    await conn.writer.flush();
    await until(() => got.length === sent.length, 'every reply');
    assert.equal(overlap, false);
    for (let i = 0; i < sent.length; i++) assert.ok(got[i]!.equals(sent[i]!), `reply ${i} differs`);
    const closed = new Promise<void>((resolve) => conn.addCloseCallback(() => resolve()));
    conn.close();
    await within(closed, 3000, 'the close');
    assertAllBack(pool);
  });
}

test('a dialed connection sees the server close: onDisconnect runs and isActive() turns false', { timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve((_ctx, conn) => {
    conn.reader.skip(conn.reader.length);
    conn.close();
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const disconnected: Connection[] = [];
  const conn = await dialConnection('tcp', { port }, { onDisconnect: (_ctx, c) => disconnected.push(c) });
  const closed = new Promise<void>((resolve) => conn.addCloseCallback(() => resolve()));
  conn.writer.writeString('bye');
  await conn.writer.flush();
  await within(closed, 3000, 'the close');
  assert.equal(conn.isActive(), false);
  assert.deepEqual(disconnected, [conn]);
});

test('Dialer defaults apply and per-call options override them', { timeout: 10_000 }, async (t) => {
  const silent = await silentServer();
  t.after(() => closeAll(silent));
  const dialer = new Dialer({ readTimeout: 30 });
  const a = await dialer.dial('tcp', `:${silent.port}`);
  t.after(() => a.close());
  await assert.rejects(a.reader.waitFor(1), ReadTimeoutError);
  const b = await dialer.dial('tcp', { port: silent.port }, { readTimeout: 0 });
  t.after(() => b.close());
  let outcome = 'pending';
  const pending = b.reader.waitFor(1);
  pending.then(() => (outcome = 'resolved'), () => (outcome = 'rejected'));
  // A connection with the default 30 ms, waiting from the same moment, times out: a timeout of
  // 0 ms (were 0 taken as a time) would have fired before it.
  const c = await dialer.dial('tcp', `:${silent.port}`);
  t.after(() => c.close());
  await assert.rejects(c.reader.waitFor(1), ReadTimeoutError);
  assert.equal(outcome, 'pending', 'a read timeout of 0 means none');
  b.close();
  await assert.rejects(pending, { code: 'ERR_CONN_CLOSED' });
});
