// Read, idle and write timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { BlockPool } from '@nocopy/linkbuffer';
import { ConnClosedError, IdleTimeoutError, ReadTimeoutError, WriteTimeoutError, dialConnection, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, deferred, echoFrames, frame, frames, serve, sleep, until, within } from './helpers.js';

/** A plain net server that hands each accepted socket to the test. */
async function rawServer(): Promise<{ server: net.Server; port: number; next: () => Promise<net.Socket> }> {
  const accepted: net.Socket[] = [];
  let wake: (() => void) | null = null;
  const server = net.createServer((s) => {
    s.on('error', () => {});
    accepted.push(s);
    wake?.();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    next: async () => {
      while (accepted.length === 0) await new Promise<void>((r) => (wake = r));
      return accepted.shift()!;
    },
  };
}

test('a read wait rejects with ReadTimeoutError and the connection stays usable (dialed)', { timeout: 10_000 }, async (t) => {
  const raw = await rawServer();
  t.after(() => raw.server.close());
  const conn = await dialConnection('tcp', { port: raw.port }, { readTimeout: 50 });
  t.after(() => conn.close());
  const peer = await raw.next();
  await assert.rejects(conn.reader.waitFor(4), (err: unknown) => {
    assert.ok(err instanceof ReadTimeoutError);
    assert.equal(err.code, 'ERR_READ_TIMEOUT');
    return true;
  });
  assert.equal(conn.isActive(), true);
  // A per-wait timeout overrides the connection's.
  await assert.rejects(conn.reader.waitFor(1, { timeout: 20 }), ReadTimeoutError);
  peer.write('pong');
  await conn.reader.waitFor(4);
  assert.equal(conn.reader.readString(4), 'pong');
  conn.writer.writeString('ping');
  await conn.writer.flush();
  const [got] = (await once(peer, 'data')) as [Buffer];
  assert.equal(got.toString(), 'ping');
  peer.destroy();
});

test('a read wait in onRequest times out; the handler answers and the connection stays usable', { timeout: 10_000 }, async (t) => {
  const errors: unknown[] = [];
  const { loop, port } = await serve(
    async (ctx, conn) => {
      const r = conn.reader;
      const size = frames.frameSize(r);
      if (size === undefined) return;
      try {
        await r.waitFor(size, { timeout: 50 });
      } catch (err) {
        errors.push(err);
        conn.writer.writeBinary(frame('timeout'));
        return conn.writer.flush();
      }
      return echoFrames(ctx, conn);
    },
    // The partial frame left after the timeout must survive however long the client takes to send
    // the rest on a loaded machine: the connection's own read deadline is far off.
    { readTimeout: 60_000 },
  );
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const whole = frame('hello world');
  await c.write(whole.subarray(0, 6));
  assert.equal((await c.readFrame()).toString(), 'timeout');
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof ReadTimeoutError);
  await c.write(whole.subarray(6));
  assert.equal((await c.readFrame()).toString(), 'hello world');
  assert.equal((await c.roundTrip('again')).toString(), 'again');
  assert.equal(errors.length, 1);
});

test('an idle connection is closed after idleTimeout with IdleTimeoutError', { timeout: 10_000 }, async (t) => {
  const gone = deferred<Connection>();
  const { loop, port } = await serve(echoFrames, {
    idleTimeout: 100,
    onPrepare: (conn) => {
      conn.addCloseCallback((c) => gone.resolve(c));
    },
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  const conn = await within(gone.promise, 3000, 'the idle close');
  assert.ok(conn.error instanceof IdleTimeoutError, `error: ${String(conn.error)}`);
  assert.equal((conn.error as IdleTimeoutError).code, 'ERR_IDLE_TIMEOUT');
  await within(c.closed, 3000, 'the client socket to close');
  assert.equal(c.received, 0);
});

test('traffic keeps a connection with an idle timeout open', { timeout: 10_000 }, async (t) => {
  let closed = false;
  const { loop, port } = await serve(echoFrames, {
    idleTimeout: 300,
    onPrepare: (conn) => {
      conn.addCloseCallback(() => {
        closed = true;
      });
    },
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  // 30 round trips 20 ms apart span two idle timeouts; each one resets the idle clock.
  for (let i = 0; i < 30; i++) {
    assert.equal((await c.roundTrip(`ping-${i}`)).toString(), `ping-${i}`);
    await sleep(20);
  }
  assert.equal(closed, false);
  await until(() => closed, 'the idle close once traffic stops');
});

test('a flush to a peer that never reads rejects with WriteTimeoutError and closes the connection', { timeout: 15_000 }, async (t) => {
  const pool = new BlockPool();
  const result = deferred<unknown>();
  let flushed = 0;
  const gone = deferred<Connection>();
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  const { loop, port } = await serve(() => {}, {
    pool,
    maxOutboundBytes: 64 * 1024,
    writeTimeout: 100,
    onPrepare: (conn) => {
      conn.addCloseCallback((c) => gone.resolve(c));
    },
    onConnect: async (_ctx, conn) => {
      try {
        // Far more than the kernel buffers of both sides can hold.
        for (let i = 0; i < 64; i++) {
          conn.writer.writeString(`chunk ${i}\n`); // pooled memory
          conn.writer.writeBinary(chunk); // referenced
          await conn.writer.flush();
          flushed++;
        }
        result.resolve('all flushed');
      } catch (err) {
        result.resolve(err);
      }
    },
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  c.socket.pause(); // never reads
  t.after(() => c.destroy());
  const err = await within(result.promise, 10_000, 'the flush to fail');
  assert.ok(err instanceof WriteTimeoutError, `flush ended with: ${String(err)}`);
  assert.equal(err.code, 'ERR_WRITE_TIMEOUT');
  assert.ok(flushed < 64, 'some flushes waited');
  const conn = await within(gone.promise, 3000, 'the connection to close');
  assert.ok(conn.error instanceof WriteTimeoutError);
  await assert.rejects(conn.writer.flush(), ConnClosedError);
  assertAllBack(pool);
});
