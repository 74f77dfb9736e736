// RPC over the session layer on TCP (issue 26, item 3): createSessionEndpoint makes each session of a
// session server a peer of the RpcServer, as the WebSocket endpoint does. The same method table,
// limits, deadlines and drain as the RpcServer's own EventLoop: checked here with our client and
// with a raw peer speaking an independent MessagePack codec, in both framings. Also the WebSocket
// endpoint's drain, which shares the code (calls in flight at shutdown are answered).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { BrowserRpcClient } from '../src/browser/client.js';
import { createSessionEndpoint } from '../src/sessions/endpoint.js';
import { createWebSocketEndpoint } from '../src/websocket/endpoint.js';
import type { RpcServer } from '../src/rpc/server.js';
import type { Framing } from '../src/rpc/protocol.js';
import { FRAMINGS, Gate, RawPeer, client, rawFrame, registerBasics, startServer, until, within } from './rpc-helpers.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

/**
 * Sends 2,000 echo calls of 16 KiB (32 MiB of replies, far past what the sockets hold) from a peer
 * that reads nothing, then checks that the write timeout cut it, that fewer than half the calls were
 * decoded (decoding stopped while the replies waited), and that its session is gone.
 */
async function floodUnread(send: (bytes: Uint8Array) => void, framing: Framing, closed: Promise<unknown>, server: RpcServer, errors: unknown[], sessions: () => number): Promise<void> {
  const big = 'x'.repeat(16 * 1024);
  const sent = 2000;
  for (let i = 0; i < sent; i++) send(rawFrame(framing, [0, i, 'echo', [big]]));
  await within(closed, 20_000, 'the write timeout to cut the peer');
  const codes = () => errors.map((e) => (e as { code?: string }).code);
  await until(() => codes().includes('ERR_WRITE_TIMEOUT'), () => `onError: ${codes().join(', ')}`);
  const calls = server.stats().calls;
  assert.ok(calls < sent / 2, `${calls} of ${sent} calls decoded: decoding stopped while the replies waited`);
  await until(() => sessions() === 0, 'the session to close');
}

async function endpointOf(server: RpcServer): Promise<{ port: number; address: string }> {
  const endpoint = createSessionEndpoint({ server });
  const a = (await endpoint.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  return { port: a.port, address: `127.0.0.1:${a.port}` };
}

for (const framing of FRAMINGS) {
  describe(`RpcServer over TCP sessions (${framing})`, () => {
    it('serves the same methods to our client and to a raw peer, counted in the one stats()', async () => {
      const { server } = await startServer({ framing }, (s) => registerBasics(s));
      const { port, address } = await endpointOf(server);
      const c = client(address, { framing });
      const raw = await RawPeer.connect(port, framing);
      try {
        assert.equal(await c.call('add', 1, 2), 3);
        const many = await Promise.all(Array.from({ length: 200 }, (_, i) => c.call('asyncAdd', i, 1)));
        assert.deepEqual(many, Array.from({ length: 200 }, (_, i) => i + 1));
        raw.send([0, 7, 'echo', ['hi']]);
        assert.deepEqual(await raw.next(), [1, 7, null, 'hi']);
        raw.send([0, 8, 'nope', []]);
        const [, id, err] = (await raw.next()) as [number, number, { code: string }];
        assert.equal(id, 8);
        assert.equal(err.code, 'ERR_METHOD_NOT_FOUND');
        const st = server.stats();
        assert.equal(st.methods.asyncAdd!.calls, 200);
        assert.equal(st.errors, 1, 'the one error answer is counted');
        assert.equal(st.inFlight, 0);
      } finally {
        raw.destroy();
        await c.close();
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it('at maxInFlight the input waits; a deadline frees its slot; a vanished peer cancels its calls', async () => {
      const gate = new Gate();
      let hungSignal: AbortSignal | undefined;
      const { server } = await startServer({ framing, maxInFlight: 2 }, (s) =>
        s.register('slow', (x: number) => gate.wait().then(() => x)).register('hang', function (this: { signal: AbortSignal }) {
          hungSignal = this.signal;
          return new Promise(() => {});
        }),
      );
      const { port, address } = await endpointOf(server);
      const c = client(address, { framing });
      try {
        const calls = Array.from({ length: 5 }, (_, i) => c.call('slow', i));
        await until(() => gate.started === 2, 'two calls started');
        // The third is not decoded while two run: no handler starts.
        await new Promise((r) => setTimeout(r, 100)); // a window in which a third start would show
        assert.equal(gate.started, 2);
        gate.open();
        assert.deepEqual(await within(Promise.all(calls), 5000, 'the calls'), [0, 1, 2, 3, 4]);

        // A deadline frees the slot although the handler never returns.
        await assert.rejects(c.request('hang', [], { timeout: 200 }), { code: 'ERR_RPC_TIMEOUT' });
        await until(() => server.stats().inFlight === 0, 'the hung call to leave inFlight');

        // A peer that vanishes mid-call: its call is cancelled and leaves the count.
        const raw = await RawPeer.connect(port, framing);
        raw.send([0, 1, 'hang', []]);
        await until(() => server.stats().inFlight === 1, 'the raw call in flight');
        const signal = hungSignal!;
        assert.equal(signal.aborted, false);
        // Vanished: a reset (a FIN alone is a half-close, after which a plain peer still reads its replies).
        raw.socket.resetAndDestroy();
        await until(() => server.stats().inFlight === 0 && signal.aborted, "the vanished peer's call to be cancelled");
      } finally {
        await c.close();
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it('malformed input: the calls before it are answered, the peer learns why, only that session ends', async () => {
      const gate = new Gate();
      const { server, errors } = await startServer({ framing, maxMessageSize: 1024 }, (s) => s.register('slow', () => gate.wait().then(() => 'done')));
      const { port, address } = await endpointOf(server);
      const other = client(address, { framing });
      const raw = await RawPeer.connect(port, framing);
      try {
        raw.send([0, 1, 'slow', []]);
        await until(() => gate.started === 1, 'the slow call to start');
        // An oversized request whose id can be read: answered with the error, marked closing.
        raw.send([0, 2, 'slow', ['x'.repeat(2000)]]);
        gate.open();
        const replies = [await raw.next(), await raw.next()] as [number, number, unknown, unknown][];
        const byId = new Map(replies.map((m) => [m[1], m]));
        assert.deepEqual(byId.get(1), [1, 1, null, 'done']);
        const refused = byId.get(2)![2] as { code: string; closing: boolean };
        assert.equal(refused.code, 'ERR_MESSAGE_TOO_LARGE');
        assert.equal(refused.closing, true);
        await within(raw.closed, 5000, 'the session to close');
        assert.ok(errors.some((e) => (e as { code?: string }).code === 'ERR_MESSAGE_TOO_LARGE'), 'onError saw it');
        assert.equal(await other.call('slow'), 'done', 'other sessions go on');
      } finally {
        raw.destroy();
        await other.close();
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it('a peer that sends calls and reads no reply: decoding stops while the output waits, the writeTimeout cuts it', async () => {
      const { server, errors } = await startServer({ framing }, (s) => registerBasics(s));
      const endpoint = createSessionEndpoint({ server, transport: { writeTimeout: 1000 } });
      const a = (await endpoint.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
      // A plain socket that never reads (paused from the start, no data listener).
      const socket = net.connect({ port: a.port, host: '127.0.0.1' });
      socket.pause();
      socket.on('error', () => {}); // the cut may come as a reset
      const closed = new Promise((resolve) => socket.once('close', resolve)); // not once(): that rejects on the reset
      await once(socket, 'connect');
      try {
        await floodUnread((bytes) => socket.write(bytes), framing, closed, server, errors, () => endpoint.sessions.size);
      } finally {
        socket.destroy();
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it('one read holding calls and then refused input: the calls are answered, then the refusal, then the close', async () => {
      const { server, errors } = await startServer({ framing, maxMessageSize: 1024 }, (s) => registerBasics(s));
      const { port } = await endpointOf(server);
      const raw = await RawPeer.connect(port, framing);
      try {
        raw.write(Buffer.concat([rawFrame(framing, [0, 1, 'add', [1, 2]]), rawFrame(framing, [0, 2, 'echo', ['x']]), rawFrame(framing, [0, 3, 'echo', ['y'.repeat(2000)]])]));
        assert.deepEqual(await raw.next(), [1, 1, null, 3]);
        assert.deepEqual(await raw.next(), [1, 2, null, 'x']);
        const [, id, err] = (await raw.next()) as [number, number, { code: string; closing: boolean }];
        assert.equal(id, 3);
        assert.equal(err.code, 'ERR_MESSAGE_TOO_LARGE');
        await within(raw.closed, 5000, 'the session to close');
        assert.equal(errors.length, 1);
      } finally {
        raw.destroy();
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it('our client gone while its read is paused at maxInFlight: its call is cancelled, the rest of that read never runs', async () => {
      const gate = new Gate();
      const { server } = await startServer({ framing, maxInFlight: 1 }, (s) => s.register('slow', () => gate.wait()));
      const { port } = await endpointOf(server);
      const raw = await RawPeer.connect(port, framing);
      try {
        // The extensions' hello makes it one of our clients, whose FIN means it waits for nothing more.
        raw.send([0, 100, '$/nocopy', [1]]);
        await raw.next();
        raw.write(Buffer.concat(Array.from({ length: 5 }, (_, i) => rawFrame(framing, [0, i, 'slow', []]))));
        await until(() => gate.started === 1 && server.stats().inFlight === 1, 'the first call to run');
        raw.socket.end();
        await until(() => server.stats().inFlight === 0, 'the call to be cancelled');
        gate.open();
        await new Promise((r) => setImmediate(r));
        assert.equal(gate.started, 1, 'no call of the paused read ran after the close');
        assert.equal(server.stats().methods.slow!.calls, 1);
      } finally {
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it('a plain peer that half-closes still gets every reply, sync and async, then its session closes', async () => {
      const gate = new Gate();
      const { server } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('slow', (x: number) => gate.wait().then(() => x));
      });
      const { port } = await endpointOf(server);
      const raw = await RawPeer.connect(port, framing);
      try {
        raw.send([0, 1, 'slow', [7]]);
        await until(() => gate.started === 1, 'the call to run');
        // Calls and the FIN in one write: the sync reply was accepted before the FIN was seen.
        raw.socket.end(Buffer.concat([rawFrame(framing, [0, 2, 'echo', ['sync']]), rawFrame(framing, [0, 3, 'slow', [9]])]));
        await until(() => gate.started === 2, 'the call after the FIN to run');
        assert.deepEqual(await raw.next(), [1, 2, null, 'sync']);
        gate.open();
        const rest = [await raw.next(), await raw.next()].sort((x, y) => (x as number[])[1]! - (y as number[])[1]!);
        assert.deepEqual(rest, [[1, 1, null, 7], [1, 3, null, 9]]);
        await within(raw.closed, 5000, 'the session to close once the calls are answered');
        assert.equal(server.stats().cancelled, 0);
        assert.equal(server.stats().inFlight, 0);
      } finally {
        gate.open();
        raw.destroy();
        await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      }
    });

    it("shutdown answers the calls in flight, then a call gets a settled rejection; the endpoint's shutdown is memoized", async () => {
      const gate = new Gate();
      const { server } = await startServer({ framing }, (s) => s.register('slow', (x: number) => gate.wait().then(() => x)));
      const endpoint = createSessionEndpoint({ server });
      const a = (await endpoint.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
      const c = client(`127.0.0.1:${a.port}`, { framing });
      const raw = await RawPeer.connect(a.port, framing);
      const calls = Array.from({ length: 10 }, (_, i) => c.call('slow', i));
      raw.send([0, 5, 'slow', [55]]);
      await until(() => gate.started === 11, 'the calls in flight');
      let done = false;
      const sd = server.shutdown({ timeout: 5000 }).then(() => (done = true));
      assert.equal(endpoint.shutdown(), endpoint.shutdown(), 'one promise');
      await new Promise((r) => setTimeout(r, 50)); // shutdown has begun and must still wait
      assert.equal(done, false, 'shutdown waits for the calls in flight');
      gate.open();
      assert.deepEqual(await within(Promise.all(calls), 5000, 'the calls'), Array.from({ length: 10 }, (_, i) => i));
      assert.deepEqual(await raw.next(), [1, 5, null, 55], "the plain peer's call is answered too");
      await within(sd, 10_000, 'shutdown');
      await within(raw.closed, 5000, 'the plain peer to be closed');
      await within(assert.rejects(c.call('slow', 1)), 10_000, 'a call after the close to settle');
      await c.close();
    });
  });
}

describe('RpcServer over TLS sessions', () => {
  it('serves our client over TLS', async () => {
    const fixtures = new URL('../../../transport/test/fixtures/', import.meta.url);
    const key = readFileSync(new URL('localhost-key.pem', fixtures));
    const cert = readFileSync(new URL('localhost-cert.pem', fixtures));
    const { server } = await startServer({}, (s) => registerBasics(s));
    const endpoint = createSessionEndpoint({ server });
    const { port } = await endpoint.listen({ host: '127.0.0.1', port: 0, tls: { key, cert } });
    const c = client(`localhost:${port}`, { dial: { tls: { ca: cert } } });
    try {
      assert.equal(await c.call('asyncAdd', 40, 2), 42);
      const [session] = endpoint.sessions.sessions();
      assert.ok(session?.connection?.socket instanceof TLSSocket, 'the session runs over TLS');
    } finally {
      await c.close();
      await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
    }
  });
});

describe('RpcServer over Unix-socket sessions', () => {
  it('serves our client at a socket path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nocopy-rpc-sessions-'));
    const { server } = await startServer({}, (s) => registerBasics(s));
    const endpoint = createSessionEndpoint({ server });
    const path = await endpoint.listen({ path: join(dir, 'rpc.sock') });
    const c = client(path, { network: 'unix' });
    try {
      assert.equal(await c.call('asyncAdd', 20, 22), 42);
      const [session] = endpoint.sessions.sessions();
      assert.equal(session?.remoteAddress, undefined, 'a Unix peer has no address');
    } finally {
      await c.close();
      await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('RpcServer over WebSocket: shutdown', () => {
  it('answers the calls in flight before the sessions close', async () => {
    const gate = new Gate();
    const { server } = await startServer({}, (s) => s.register('slow', (x: number) => gate.wait().then(() => x)));
    const endpoint = createWebSocketEndpoint({ server });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const ws = new BrowserRpcClient(`ws://127.0.0.1:${a.port}/`);
    await ws.ready();
    const calls = Array.from({ length: 5 }, (_, i) => ws.request('slow', [i]));
    await until(() => gate.started === 5, 'the calls in flight');
    const sd = server.shutdown({ timeout: 5000 });
    await new Promise((r) => setTimeout(r, 50)); // shutdown has begun
    gate.open();
    assert.deepEqual(await within(Promise.all(calls), 5000, 'the calls'), [0, 1, 2, 3, 4]);
    await within(sd, 10_000, 'shutdown');
    ws.close();
  });
});

describe('RpcServer over WebSocket: a peer that vanishes while its input waits at maxInFlight', () => {
  it('its call is cancelled, the waiting one never runs, and its session goes (the session signal)', async () => {
    const signals: AbortSignal[] = [];
    const { server } = await startServer({ maxInFlight: 1 }, (s) =>
      s.register('hang', function (this: { signal: AbortSignal }) {
        signals.push(this.signal);
        return new Promise(() => {}); // never settles, and no deadline: only the peer's going frees it
      }),
    );
    const endpoint = createWebSocketEndpoint({ server });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${a.port}/`);
    ws.on('error', () => {});
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    try {
      ws.send(rawFrame('stream', [0, 1, 'hang', []]));
      ws.send(rawFrame('stream', [0, 2, 'hang', []]));
      await until(() => signals.length === 1 && endpoint.sessions.size === 1, 'the first call to run');
      // The second waits behind maxInFlight: the session's input call is paused, so its close would wait.
      assert.equal(server.stats().inFlight, 1);
      ws.terminate(); // gone without a close frame
      await until(() => signals[0]!.aborted && server.stats().inFlight === 0, 'the call of the vanished peer to be cancelled');
      await until(() => endpoint.sessions.size === 0, 'its session to close');
      assert.equal(signals.length, 1, 'the call that waited never ran');
      assert.equal(server.stats().cancelled, 1);
    } finally {
      await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
    }
  });
});

describe('RpcServer over WebSocket: a peer that reads no reply', () => {
  it('decoding stops while the replies wait, and the writeTimeout cuts the session', async () => {
    const { server, errors } = await startServer({}, (s) => registerBasics(s));
    const endpoint = createWebSocketEndpoint({ server, writeTimeout: 1000 });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${a.port}/`);
    ws.on('error', () => {}); // the cut may come as a reset
    const closed = new Promise((resolve) => ws.once('close', resolve));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.pause(); // reads nothing from here on
    try {
      await floodUnread((bytes) => ws.send(bytes), 'stream', closed, server, errors, () => endpoint.sessions.size);
    } finally {
      ws.terminate();
      await within(server.shutdown({ timeout: 5000 }), 10_000, 'shutdown');
    }
  });
});
