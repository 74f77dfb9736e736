// Issue 6, the RPC server's limits and hostile-input timeouts: maxMessageSize, maxInFlight, and the
// read (slow-loris) and idle timeouts it applies by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { decode, encode } from '@msgpack/msgpack';
import {
  IdleTimeoutError,
  ReadTimeoutError,
  connectionCloseChannel,
  connectionOpenChannel,
  type Connection,
  type Session,
} from '@nocopy/transport';
import {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_READ_TIMEOUT,
  MessageTooLargeError,
  RemoteError,
  createClient,
  createServer,
  type RpcClient,
  type RpcServer,
  type ServerOptions,
} from '@nocopy/rpc-demo';
import { RawClient, deferred, sleep, trickle, until, whileOpen, within } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function start(options: ServerOptions = {}): Promise<{ server: RpcServer; port: number; errors: unknown[] }> {
  const errors: unknown[] = [];
  const server = createServer({ onError: (e) => errors.push(e), ...options });
  server.register('echo', (x: unknown) => x);
  const { port } = (await server.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo;
  return { server, port, errors };
}

function client(port: number): RpcClient {
  return createClient({ address: `127.0.0.1:${port}`, connections: 1, timeout: 10_000 });
}

/** `msg` MessagePack-encoded behind a 4-byte big-endian length (the 'framed' framing). */
function framed(msg: unknown): Buffer {
  const body = encode(msg);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** Records the server-side connections on `port` as they open and close (diagnostics channels). */
function watch(port: number) {
  const opened: Connection[] = [];
  const closed: { connection: Connection; error: unknown }[] = [];
  const onOpen = (m: unknown) => {
    const { connection } = m as { connection: Connection };
    if (connection.localPort === port) opened.push(connection);
  };
  const onClose = (m: unknown) => {
    const msg = m as { connection: Connection; error: unknown };
    if (msg.connection.localPort === port) closed.push(msg);
  };
  connectionOpenChannel.subscribe(onOpen);
  connectionCloseChannel.subscribe(onClose);
  return {
    opened,
    closed,
    stop: () => {
      connectionOpenChannel.unsubscribe(onOpen);
      connectionCloseChannel.unsubscribe(onClose);
    },
  };
}

test('maxMessageSize: default 4 MiB (gRPC\'s), enforced on the length prefix alone', { timeout: 10_000 }, async (t) => {
  assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 4 * MiB);
  const { server, port, errors } = await start();
  t.after(() => server.shutdown({ timeout: 100 }));
  assert.equal(server.maxMessageSize, 4 * MiB);
  const c = client(port);
  t.after(() => c.close());
  assert.equal(c.maxMessageSize, 4 * MiB);
  assert.equal(await c.call('echo', 'ok'), 'ok');

  // One byte over the default: refused on the 4-byte prefix, before any of the body is buffered.
  const raw = await RawClient.connect(port);
  t.after(() => raw.destroy());
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(4 * MiB + 1);
  raw.socket.write(prefix);
  await within(raw.closed, 3000, 'the oversized connection to close');
  const err = errors.find((e) => e instanceof MessageTooLargeError) as MessageTooLargeError | undefined;
  assert.ok(err, `errors: ${errors.map(String).join(', ')}`);
  assert.equal(err.code, 'ERR_MESSAGE_TOO_LARGE');
  assert.equal(err.size, 4 * MiB + 1);
  assert.equal(err.limit, 4 * MiB);
  assert.equal(await c.call('echo', 'still ok'), 'still ok');
});

test('maxMessageSize: an oversized message closes its own connection only (framed and stream)', { timeout: 15_000 }, async (t) => {
  const limit = 1024;
  const { server, port, errors } = await start({ maxMessageSize: limit });
  t.after(() => server.shutdown({ timeout: 100 }));
  server.register('big', () => 'x'.repeat(2 * limit));
  const bystander = client(port);
  const offender = client(port);
  t.after(() => bystander.close());
  t.after(() => offender.close());
  assert.equal(await bystander.call('echo', 'before'), 'before');
  assert.equal(await offender.call('echo', 'before'), 'before');
  const bystanderCall = bystander.call('echo', 'during');

  // The client's own limit is the default 4 MiB, so it sends; the server answers with the reason, then closes.
  await assert.rejects(offender.call('echo', 'y'.repeat(2 * limit)), (e: unknown) => {
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.code, 'ERR_MESSAGE_TOO_LARGE');
    return true;
  });
  const tooLarge = errors.filter((e) => e instanceof MessageTooLargeError) as MessageTooLargeError[];
  assert.equal(tooLarge.length, 1, `errors: ${errors.map(String).join(', ')}`);
  assert.equal(tooLarge[0]!.code, 'ERR_MESSAGE_TOO_LARGE');
  assert.equal(tooLarge[0]!.limit, limit);
  assert.ok(tooLarge[0]!.size > limit);

  // The other connection is untouched: its call answered, same connection (no second dial).
  assert.equal(await bystanderCall, 'during');
  assert.equal(await bystander.call('echo', 'after'), 'after');
  assert.equal(bystander.stats().dials, 1);

  // A result over the limit is not sent: the call gets ERR_MESSAGE_TOO_LARGE, the connection stays.
  await assert.rejects(bystander.call('big'), (e: unknown) => {
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.code, 'ERR_MESSAGE_TOO_LARGE');
    return true;
  });
  assert.equal(await bystander.call('echo', 'after big'), 'after big');
  assert.equal(bystander.stats().dials, 1);

  // The offender may reconnect and make calls within the limit.
  assert.equal(await offender.call('echo', 'again'), 'again');

  // 'stream' framing (no prefix): an incomplete message already past the limit is refused.
  const stream = await start({ maxMessageSize: limit, framing: 'stream' });
  t.after(() => stream.server.shutdown({ timeout: 100 }));
  const raw = await RawClient.connect(stream.port);
  t.after(() => raw.destroy());
  const whole = encode([0, 1, 'echo', ['z'.repeat(4 * limit)]]);
  raw.socket.write(whole.subarray(0, 2 * limit)); // never completed
  await within(raw.closed, 3000, 'the stream connection to close');
  // Nothing but the refusal of request 1 (its id was in the first bytes): [1, 1, { ... }, nil].
  const refusal = decode(raw.take()) as [number, number, { code: string }, null];
  assert.deepEqual([refusal[0], refusal[1], refusal[2].code, refusal[3]], [1, 1, 'ERR_MESSAGE_TOO_LARGE', null]);
  assert.ok(stream.errors.some((e) => e instanceof MessageTooLargeError), `errors: ${stream.errors.map(String).join(', ')}`);
});

test('maxInFlight: default 1024 calls run at once per connection; the rest wait, none lost', { timeout: 15_000 }, async (t) => {
  const { server, port, errors } = await start();
  t.after(() => server.shutdown({ timeout: 100 }));
  const gate = deferred();
  let started = 0;
  server.register('wait', async (i: number) => {
    started++;
    await gate.promise;
    return i;
  });
  const c = client(port);
  t.after(() => c.close());
  const n = 1100;
  const calls = Array.from({ length: n }, (_, i) => c.call('wait', i));
  await until(() => started >= 1024, () => `1024 calls to start (${started})`);
  // The rest are at the server, buffered undecoded input (not lost on the way): they must still be waiting.
  await until(() => server.stats().transport.inboundBytes > 0, 'the calls beyond the limit to be buffered at the server');
  await new Promise((r) => setImmediate(r));
  assert.equal(started, 1024);
  assert.equal(server.stats().inFlight, 1024);
  gate.resolve();
  assert.deepEqual(await within(Promise.all(calls), 5000, 'every call'), Array.from({ length: n }, (_, i) => i));
  assert.equal(started, n);
  assert.equal(server.stats().errors, 0);
  assert.equal(c.stats().dials, 1);
  assert.deepEqual(errors, []);
});

test('maxInFlight: at the limit decoding stops and reading pauses; each finished call lets one more in', { timeout: 15_000 }, async (t) => {
  const maxInFlight = 4;
  const maxInboundBytes = 64 * KiB;
  const { server, port, errors } = await start({ maxInFlight, transport: { maxInboundBytes } });
  t.after(() => server.shutdown({ timeout: 100 }));
  const conns = watch(port);
  t.after(() => conns.stop());
  const gates: { promise: Promise<void>; resolve: () => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  server.register('slow', async (i: number, _pad: string) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    const g = deferred();
    gates[i] = g;
    await g.promise;
    running--;
    return i;
  });
  const c = client(port);
  t.after(() => c.close());
  const n = 32;
  const pad = 'p'.repeat(16 * KiB); // 32 x 16 KiB: far more than maxInboundBytes
  const calls = Array.from({ length: n }, (_, i) => c.call('slow', i, pad));
  await until(() => running === maxInFlight, 'the first calls to start');
  await until(() => conns.opened.length === 1, 'the server connection');
  const conn = conns.opened[0]!;
  await until(() => conn.reader.length >= maxInboundBytes, () => `the server to buffer up to its limit (${conn.reader.length})`);
  // Reading is paused at the limit; the buffered calls beyond maxInFlight have been seen and wait.
  assert.equal(conn.socket.isPaused(), true, 'reading paused at the inbound limit');
  await new Promise((r) => setImmediate(r));
  assert.equal(running, maxInFlight, 'calls beyond maxInFlight started');
  // Undecoded input stops at the inbound limit plus one read: reading paused instead of buffering 512 KiB.
  assert.ok(conn.reader.length < maxInboundBytes + 64 * KiB, `the server buffered ${conn.reader.length} bytes`);

  // Each call that finishes frees one place, and exactly one waiting call starts.
  for (let k = 0; k < 8; k++) {
    gates[k]!.resolve();
    assert.equal(await within(calls[k]!, 3000, `call ${k}`), k);
    await until(() => gates[maxInFlight + k] !== undefined, `call ${maxInFlight + k} to start`);
    assert.equal(running, maxInFlight);
  }
  // Release the rest as they come in.
  for (let k = 8; k < n; k++) {
    await until(() => gates[k] !== undefined, `call ${k} to start`);
    gates[k]!.resolve();
  }
  assert.deepEqual(await within(Promise.all(calls), 5000, 'every call'), Array.from({ length: n }, (_, i) => i));
  assert.equal(maxRunning, maxInFlight);
  assert.equal(server.stats().errors, 0);
  assert.equal(server.stats().inFlight, 0);
  assert.equal(c.stats().dials, 1, 'the connection was never dropped');
  assert.equal(conn.isActive(), true);
  assert.deepEqual(conns.closed, []);
  assert.deepEqual(errors, []);
});

test('RPC timeouts: 30 s read and 5 min idle by default (exported), applied; overridable through transport', { timeout: 15_000 }, async (t) => {
  assert.equal(DEFAULT_READ_TIMEOUT, 30_000);
  assert.equal(DEFAULT_IDLE_TIMEOUT, 300_000);

  // The idle timeout is the session's (no input or output for that long): a default server sets the default.
  const dflt = await start();
  t.after(() => dflt.server.shutdown({ timeout: 100 }));
  const seen = watch(dflt.port);
  t.after(() => seen.stop());
  const c0 = client(dflt.port);
  t.after(() => c0.close());
  assert.equal(await c0.call('echo', 1), 1);
  await until(() => seen.opened.length === 1, 'the server connection');
  assert.equal((seen.opened[0]!.ctx as Session).idleTimeout, DEFAULT_IDLE_TIMEOUT);

  // Options passed through with no value (`{ readTimeout: opts.readTimeout }`) keep the defaults too:
  // idle stays armed, and a message near maxMessageSize (4 MiB) still fits the input buffer.
  const passed = await start({ transport: { readTimeout: undefined, idleTimeout: undefined, maxInboundBytes: undefined } });
  t.after(() => passed.server.shutdown({ timeout: 100 }));
  const seenPassed = watch(passed.port);
  t.after(() => seenPassed.stop());
  const c1 = client(passed.port);
  t.after(() => c1.close());
  const big = Buffer.alloc(4 * MiB - 64, 1);
  const echoed = (await c1.call('echo', big)) as Uint8Array;
  assert.equal(echoed.length, big.length);
  await until(() => seenPassed.opened.length === 1, 'the server connection');
  assert.equal((seenPassed.opened[0]!.ctx as Session).idleTimeout, DEFAULT_IDLE_TIMEOUT);
  assert.deepEqual(passed.errors, []);

  // Overriding the read timeout only keeps the idle default.
  const { server, port, errors } = await start({ transport: { readTimeout: 300 } });
  t.after(() => server.shutdown({ timeout: 100 }));
  const conns = watch(port);
  t.after(() => conns.stop());
  const good = client(port);
  t.after(() => good.close());
  assert.equal(await good.call('echo', 'hello'), 'hello');
  await until(() => conns.opened.length === 1, 'the good connection');
  assert.equal((conns.opened[0]!.ctx as Session).idleTimeout, DEFAULT_IDLE_TIMEOUT);

  // Slow-loris: a request whose bytes trickle in, one every 100 ms, never completes in time.
  const loris = await RawClient.connect(port);
  t.after(() => loris.destroy());
  const msg = framed([0, 7, 'echo', ['s'.repeat(100)]]);
  const trickling = trickle(loris, msg);
  t.after(() => trickling.stop());
  // Meanwhile a well-behaved client calls every 50 ms.
  const goodLoop = whileOpen(loris, async (i) => assert.equal(await good.call('echo', i), i), 50, 'the slow-loris connection');
  await within(loris.closed, 5000, 'the slow-loris connection to close');
  trickling.stop();
  const sent = trickling.sent();
  const goodCalls = await goodLoop;
  assert.ok(sent >= 2 && sent < msg.length - 1, `sent ${sent} of ${msg.length} bytes`);
  assert.equal(loris.received, 0, 'the partial request was answered');
  await until(() => conns.closed.length === 1, 'the close to be published');
  assert.ok(conns.closed[0]!.error instanceof ReadTimeoutError, `closed with ${String(conns.closed[0]!.error)}`);
  assert.ok(goodCalls >= 2, `the good client made ${goodCalls} calls`);
  assert.equal(good.stats().dials, 1, 'the good connection was not dropped');
  // The cut is reported to onError once (the session layer reports the timeouts of this end), and nothing else.
  assert.deepEqual(errors.map((e) => (e as { code?: string }).code), ['ERR_READ_TIMEOUT']);

  // The idle timeout, overridden small: a silent connection is closed, a busy one is not.
  const idle = await start({ transport: { idleTimeout: 300 } });
  t.after(() => idle.server.shutdown({ timeout: 100 }));
  const idleConns = watch(idle.port);
  t.after(() => idleConns.stop());
  const busy = client(idle.port);
  t.after(() => busy.close());
  const mute = await RawClient.connect(idle.port);
  t.after(() => mute.destroy());
  await whileOpen(mute, async (i) => assert.equal(await busy.call('echo', i), i), 100, 'the mute connection', 100);
  await until(() => idleConns.closed.length === 1, 'the close to be published');
  assert.ok(idleConns.closed[0]!.error instanceof IdleTimeoutError, `closed with ${String(idleConns.closed[0]!.error)}`);
  // The busy client goes on calling, for longer than the idle timeout again, on its one connection.
  for (let i = 0; i < 6; i++) {
    assert.equal(await busy.call('echo', i), i);
    await sleep(100);
  }
  assert.equal(busy.stats().dials, 1);
});
