// Promises the transport README makes that no other test checked (issue 28, item 6): shutdown and
// servers given to serve(), a second shutdown(), a partial request at shutdown, the read timeout of
// a connection the input budget paused, the linger of a graceful close(), and a handler that works
// longer than idleTimeout, and the session client's stableAfter. Each test names the README sentence it holds the code to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import {
  EventLoop,
  IdleTimeoutError,
  InvalidOptionError,
  ReadTimeoutError,
  ShutdownError,
  createSessionClient,
  delimiter,
  lengthField,
  mapFrames,
  type Connection,
  type OnRequest,
} from '@nocopy/transport';
import { RawClient, deferred, frame, frameEcho, until, within } from '@nocopy/test-kit';

const echo: OnRequest = frameEcho(lengthField({ maxFrameLength: 64 * 1024 * 1024 }));

async function listening(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

test('README "A server you passed to serve() is not closed: it stays listening"; "After shutdown has begun, serve() throws and listen() rejects with ShutdownError"', async (t) => {
  const server = net.createServer();
  // The sockets the server accepts once nobody serves it (the test destroys them, or close() waits).
  const orphans: net.Socket[] = [];
  t.after(() => new Promise<void>((r) => {
    for (const s of orphans) s.destroy();
    server.close(() => r());
  }));
  const port = await listening(server);
  const loop = new EventLoop(echo);
  loop.serve(server);
  const before = await RawClient.connect(port);
  assert.equal((await before.roundTrip('served')).toString(), 'served');
  before.destroy();
  await loop.shutdown({ timeout: 1000 });
  assert.equal(server.listening, true, 'the server stays listening');
  server.on('connection', (s) => void orphans.push(s)); // observes only: reads and answers nothing
  // Nobody serves it: a connection is accepted by the kernel and Node, and no echo comes back.
  const after = await RawClient.connect(port);
  after.write(frame('anyone?')).catch(() => {});
  await assert.rejects(after.read(4, 300), /timed out/);
  after.destroy();
  assert.throws(() => loop.serve(net.createServer()), ShutdownError);
  await assert.rejects(loop.listen({ port: 0 }), ShutdownError);
  await assert.rejects(loop.listen({ port: 0 }), { code: 'ERR_SHUTDOWN' });
});

test('README "serve() throws InvalidOptionError if the server is already served by an EventLoop (this one included)"', async (t) => {
  const server = net.createServer();
  const a = new EventLoop(echo);
  const b = new EventLoop(echo);
  t.after(() => Promise.all([a.shutdown({ timeout: 100 }), b.shutdown({ timeout: 100 })]));
  a.serve(server);
  assert.throws(() => a.serve(server), InvalidOptionError, 'the same loop twice');
  assert.throws(() => b.serve(server), InvalidOptionError, 'another loop');
  assert.throws(() => b.serve(server), { code: 'ERR_INVALID_OPTION' });
});

test('README "Calling shutdown() again returns the same promise (new options are ignored)"', async () => {
  const loop = new EventLoop(echo);
  const { port } = (await loop.listen({ port: 0 })) as AddressInfo;
  // A connection whose handler is running keeps the first shutdown going while the second call comes.
  const gate = deferred();
  const running = deferred();
  const slow = new EventLoop(async (ctx, conn) => {
    running.resolve();
    await gate.promise;
    return echo(ctx, conn);
  });
  const { port: slowPort } = (await slow.listen({ port: 0 })) as AddressInfo;
  const c = await RawClient.connect(slowPort);
  await c.write(frame('x'));
  await running.promise;
  const first = slow.shutdown({ timeout: 10_000 });
  const second = slow.shutdown({ timeout: 1 });
  assert.strictEqual(second, first, 'the very same promise');
  gate.resolve();
  await within(first, 10_000, 'the shutdown');
  // The second call's timeout of 1 ms was ignored: the handler ran to its end and the echo went out.
  assert.equal((await c.readFrame()).toString(), 'x');
  c.destroy();
  const p1 = loop.shutdown();
  assert.strictEqual(loop.shutdown(), p1);
  await p1;
  assert.strictEqual(loop.shutdown(), p1, 'after it resolved too');
  void port;
});

test('README "A connection holding part of a request keeps reading until that request is complete" at shutdown', async () => {
  // The handler reports how much input it saw, so the test knows the first bytes were read.
  let seen = 0;
  const loop = new EventLoop((ctx, conn) => {
    seen = conn.reader.length;
    return echo(ctx, conn);
  });
  const { port } = (await loop.listen({ port: 0 })) as AddressInfo;
  const c = await RawClient.connect(port);
  const whole = frame('a request the peer sent before shutdown began');
  await c.write(whole.subarray(0, 10));
  await until(() => seen === 10, () => `the first 10 bytes read (${seen})`);
  const shut = loop.shutdown({ timeout: 20_000 });
  // Shutdown has begun; the rest of the request arrives, is answered, then the connection closes.
  await c.write(whole.subarray(10));
  assert.equal((await c.readFrame(20_000)).toString(), 'a request the peer sent before shutdown began');
  await within(c.closed, 20_000, 'the server to close the connection once the request was answered');
  await within(shut, 20_000, 'the shutdown');
  assert.equal(loop.stats().connections, 0);
});

test('README "A paused connection\'s read timeout keeps running: a stalled peer is still cut at readTimeout" (paused by the input budget)', async (t) => {
  // A 64 KiB budget: B's partial frame passes 3/4 of it and B is paused. The budget's own relief
  // would close the largest holder after 1 s; the read timeout (300 ms) must cut B first, with
  // ReadTimeoutError. Were B's clock restarted while paused, it would go by InboundBudgetError.
  const closedWith = new Map<number, unknown>();
  const loop = new EventLoop(echo, {
    maxInboundBytesTotal: 64 * 1024,
    readTimeout: 300,
    onPrepare: (conn) => void conn.addCloseCallback((c) => void closedWith.set(c.remotePort!, c.error)),
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const { port } = (await loop.listen({ port: 0 })) as AddressInfo;
  const b = await RawClient.connect(port);
  t.after(() => b.destroy());
  const bPort = b.socket.localPort!;
  const partial = Buffer.alloc(4 + 60 * 1024, 0x62);
  partial.writeUInt32BE(1024 * 1024, 0); // declares 1 MiB: never completes
  await b.write(partial);
  await until(() => loop.stats().inboundPaused === 1, () => `B paused by the budget (${JSON.stringify(loop.stats())})`, 20_000);
  await within(b.closed, 20_000, 'B to be cut');
  await until(() => closedWith.has(bPort), 'the close callback');
  const err = closedWith.get(bPort);
  assert.ok(err instanceof ReadTimeoutError, `closed with ${String(err)}`);
  assert.equal(loop.stats().inboundEvicted, 0, 'not by the budget');
});

test('README "Without error: output already handed to the socket is sent, then the FIN ... or after a linger of writeTimeout ms if the peer does not take it"', async (t) => {
  const BIG = 32 * 1024 * 1024; // far more than the kernel buffers of both sides hold
  const closed = new Map<string, { at: number; error: unknown }>();
  const closeCalled = new Map<string, number>();
  const sendAndClose: OnRequest = async (_ctx, conn) => {
    const name = conn.reader.readString(conn.reader.length);
    conn.writer.writeBinary(Buffer.alloc(BIG, 7));
    await conn.writer.flush(); // below the outbound mark: handed to the socket at once
    closeCalled.set(name, performance.now());
    conn.addCloseCallback((c) => void closed.set(name, { at: performance.now(), error: c.error }));
    conn.close();
  };
  // The reader's loop lingers 60 s: however slowly a busy machine reads 32 MiB, it is within it.
  const patient = new EventLoop(sendAndClose, { writeTimeout: 60_000 });
  const loop = new EventLoop(sendAndClose, { writeTimeout: 300 });
  t.after(() => Promise.all([loop.shutdown({ timeout: 100 }), patient.shutdown({ timeout: 100 })]));
  const { port } = (await loop.listen({ port: 0 })) as AddressInfo;
  const { port: patientPort } = (await patient.listen({ port: 0 })) as AddressInfo;

  // A peer that reads: every byte, then the FIN.
  const reader = await RawClient.connect(patientPort);
  t.after(() => reader.destroy());
  await reader.write('reader');
  await until(() => reader.ended, () => `the FIN after all output (${reader.received} of ${BIG})`, 30_000);
  assert.equal(reader.received, BIG, 'all output handed to the socket arrived before the FIN');

  // A peer that never reads: after the linger (writeTimeout, 300 ms) the socket is destroyed.
  const stuck = await RawClient.connect(port);
  t.after(() => stuck.destroy());
  stuck.socket.pause();
  await stuck.write('stuck');
  await until(() => closed.has('stuck'), 'the stuck connection to finish after its linger', 30_000);
  const lingered = closed.get('stuck')!.at - closeCalled.get('stuck')!;
  // Timers are late, never early: it went no sooner than the linger.
  assert.ok(lingered >= 300 - 2, `destroyed ${lingered.toFixed(0)} ms after close()`);
  assert.ok(stuck.received < BIG, 'the peer took only part of the output');
});

test('README "a handler that works longer than idleTimeout without reading or writing loses its connection"', async (t) => {
  const done = deferred();
  let conn: Connection | undefined;
  const loop = new EventLoop(async (_ctx, c) => {
    conn = c;
    c.reader.skip(c.reader.length);
    await done.promise; // works, without reading or writing, past the idle timeout
  }, { idleTimeout: 200 });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const { port } = (await loop.listen({ port: 0 })) as AddressInfo;
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  await c.write('work');
  await within(c.closed, 20_000, 'the idle timeout to cut the connection while the handler works');
  assert.ok(conn!.error instanceof IdleTimeoutError, `closed with ${String(conn!.error)}`);
  assert.equal(conn!.isActive(), false);
  done.resolve();
  await until(() => conn!.closed, 'the connection to finish once the handler settled');
});

test('README "A session that stayed open reconnect.stableAfter is dialed again at once when it closes and resets the backoff; one that dies sooner keeps it growing"', { timeout: 60_000 }, async (t) => {
  // Accepts 0-3 are dropped at once (the backoff grows 100, 200, 400, 800), accept 4 is held 600 ms
  // (past stableAfter, 300 ms) and then closed, accept 5 is dropped at once, accept 6 is kept.
  const accepts: number[] = [];
  const closedAt: number[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    const k = accepts.push(performance.now()) - 1;
    sockets.push(sock);
    sock.on('error', () => {});
    const drop = () => {
      closedAt[k] = performance.now();
      sock.destroy();
    };
    if (k === 4) setTimeout(drop, 600);
    else if (k !== 6) drop();
  });
  t.after(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  const port = await listening(server);
  const client = createSessionClient<string>({
    address: `127.0.0.1:${port}`,
    codec: mapFrames<string>(delimiter({ delimiter: '\n', maxFrameLength: 1024 }), { decode: (f) => f.toString('latin1'), encode: (m) => Buffer.from(m, 'latin1') }, 1024),
    reconnect: { initial: 100, max: 60_000, jitter: 0, stableAfter: 300 },
    listener: { onMessage() {} },
  });
  t.after(() => client.close());
  await until(() => accepts.length === 7, () => `7 connections (${accepts.length})`, 40_000);
  const gap = (k: number) => accepts[k]! - closedAt[k - 1]!;
  // Counted against the clock: timers are late, never early, so each backoff is a lower bound.
  for (const [k, backoff] of [[1, 100], [2, 200], [3, 400], [4, 800]] as const) {
    assert.ok(gap(k) >= backoff - 2, `connection ${k} came ${gap(k).toFixed(0)} ms after the drop, before its ${backoff} ms backoff`);
  }
  // After the stable session: no backoff, where the grown one would have been 1600 ms.
  assert.ok(gap(5) < 1600, `the stable session was dialed again ${gap(5).toFixed(0)} ms after it closed (the grown backoff is 1600 ms)`);
  // And the backoff starts again: the next drop waits initial (100 ms), not 3200.
  assert.ok(gap(6) >= 100 - 2 && gap(6) < 3200, `after the reset, ${gap(6).toFixed(0)} ms`);
});
