// RPC over WebSocket natively (issue 26, item 3): each WebSocket session is a peer of the RpcServer,
// with no loopback TCP connection. Its calls reach the same method table and stats as TCP calls, an
// async call leaves the server's in-flight count when its session closes, malformed input reaches
// onError, and the server's shutdown() stops the endpoint. The browser client (run in Node with `ws`
// as its WebSocket) is the peer; test/browser/rpc-page.test.ts runs it in Chromium.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { BrowserRpcClient } from '../src/browser/client.js';
import { createWebSocketEndpoint } from '../src/websocket/endpoint.js';
import { createClient } from '../src/rpc/client.js';
import { client, startServer, until, within } from './rpc-helpers.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

describe('RpcServer over WebSocket', () => {
  it('serves the same methods to TCP and WebSocket peers, counted in one stats()', async () => {
    const { server, address } = await startServer({}, (s) => s.register('add', (a: number, b: number) => a + b).register('later', (x: number) => new Promise((r) => setTimeout(() => r(x * 2), 10))));
    const endpoint = createWebSocketEndpoint({ server });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const ws = new BrowserRpcClient(`ws://127.0.0.1:${a.port}/`);
    const tcp = client(address);
    try {
      await ws.ready();
      assert.equal(await ws.request('add', [1, 2]), 3);
      assert.equal(await ws.request('later', [21]), 42);
      assert.equal(await tcp.call('add', 2, 2), 4);
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => ws.request('later', [i])));
      assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => i * 2));
      const st = server.stats();
      assert.equal(st.methods.add!.calls, 2);
      assert.equal(st.methods.later!.calls, 51);
      assert.equal(st.inFlight, 0);
      await assert.rejects(ws.request('nope', []), { code: 'ERR_METHOD_NOT_FOUND' });
    } finally {
      ws.close();
      await tcp.close();
      await within(server.shutdown(), 5000, 'shutdown');
    }
  });

  it("a session's close cancels its calls in flight; the server's shutdown stops the endpoint", async () => {
    let signal: AbortSignal | undefined;
    const { server } = await startServer({}, (s) => s.register('hang', function (this: { signal: AbortSignal }) {
      signal = this.signal;
      return new Promise(() => {});
    }));
    const endpoint = createWebSocketEndpoint({ server });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const ws = new BrowserRpcClient(`ws://127.0.0.1:${a.port}/`);
    await ws.ready();
    const hung = ws.request('hang', [], { timeout: 0 }).catch((e: unknown) => e);
    await until(() => server.stats().inFlight === 1, 'the call to be in flight');
    ws.close();
    await within(hung, 5000, 'the call to settle');
    await until(() => signal?.aborted === true, "the handler's signal to abort");
    assert.equal(server.stats().inFlight, 0);
    await within(server.shutdown(), 5000, 'shutdown');
    // The endpoint stopped with the server: a new WebSocket is refused.
    const refused = new WebSocket(`ws://127.0.0.1:${a.port}/`);
    await within(new Promise<void>((resolve) => {
      refused.on('error', () => resolve());
      refused.on('close', () => resolve());
    }), 5000, 'the WebSocket to be refused');
  });

  it('malformed input reaches onError and closes that session only', async () => {
    const { server, errors } = await startServer({}, (s) => s.register('add', (a: number, b: number) => a + b));
    const endpoint = createWebSocketEndpoint({ server });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const good = new BrowserRpcClient(`ws://127.0.0.1:${a.port}/`);
    const bad = new WebSocket(`ws://127.0.0.1:${a.port}/`);
    try {
      await good.ready();
      await within(new Promise((r) => bad.once('open', r)), 5000, 'open');
      const closed = new Promise((r) => bad.once('close', r));
      bad.send(Buffer.from([0xc1]));
      await within(closed, 5000, 'the bad session to close');
      await until(() => errors.some((e) => (e as { code?: string }).code === 'ERR_MALFORMED_MESSAGE'), 'onError');
      assert.equal(await good.request('add', [5, 6]), 11);
    } finally {
      good.close();
      await within(server.shutdown(), 5000, 'shutdown');
    }
  });

  it('the Node RpcClient calls over ws://: results, remote errors, deadlines that cancel the handler, and the drain', async () => {
    let signal: AbortSignal | undefined;
    const { server } = await startServer({}, (s) => s.register('add', (a: number, b: number) => a + b).register('hang', function (this: { signal: AbortSignal }) {
      signal = this.signal;
      return new Promise(() => {});
    }));
    const endpoint = createWebSocketEndpoint({ server });
    const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
    const c = createClient({ address: `ws://127.0.0.1:${a.port}/`, timeout: 5000, connections: 1 });
    try {
      assert.equal(await c.call('add', 1, 2), 3);
      const sums = await Promise.all(Array.from({ length: 100 }, (_, i) => c.call('add', i, i)));
      assert.deepEqual(sums, Array.from({ length: 100 }, (_, i) => 2 * i));
      await assert.rejects(c.call('nope'), { code: 'ERR_METHOD_NOT_FOUND' });
      // The hello went through: the deadline travels with the call, and the server aborts the handler.
      await assert.rejects(c.request('hang', [], { timeout: 200 }), { code: 'ERR_RPC_TIMEOUT' });
      await until(() => signal?.aborted === true, "the handler's signal to abort");
      assert.equal(server.stats().methods.add!.calls, 101);
      assert.equal(c.stats().pending, 0);
    } finally {
      await within(server.shutdown(), 5000, 'shutdown');
      await c.close();
    }
  });

  it('a ws:// address is checked, and needs the framed framing', async () => {
    assert.throws(() => createClient({ address: 'ws://' }), { code: 'ERR_INVALID_OPTION' });
    const c = createClient({ address: 'ws://127.0.0.1:1/', framing: 'stream', timeout: 2000 });
    try {
      await assert.rejects(c.call('add', 1, 2));
    } finally {
      await c.close();
    }
  });
});
