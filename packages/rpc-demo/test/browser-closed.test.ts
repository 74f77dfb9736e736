// The browser client once its WebSocket has closed (issue 24, item 3): calls in flight reject with
// ERR_CONN_CLOSED, new calls reject at once with the same code (they never settled before), and
// ready() rejects. Run in Node with the `ws` package as the WebSocket global (the browser client
// needs nothing else); test/browser/rpc-page.test.ts runs it in Chromium.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { BrowserRpcClient } from '../src/browser/client.js';
import { createWebSocketEndpoint } from '../src/websocket/endpoint.js';
import { startServer, within } from './rpc-helpers.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

async function setup(maxMessageSize: number) {
  const served = await startServer({ maxMessageSize }, (s) => s.register('add', (a: number, b: number) => a + b).register('echo', (x: unknown) => x));
  const endpoint = createWebSocketEndpoint({ server: served.server });
  const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
  return { ...served, endpoint, url: `ws://127.0.0.1:${a.port}/` };
}

const closed = { code: 'ERR_CONN_CLOSED' };

describe('BrowserRpcClient after its WebSocket closed', () => {
  it('the server closed it (1009, message too large): new calls reject at once, ready() rejects', async () => {
    const { server, endpoint, url } = await setup(1024);
    const c = new BrowserRpcClient(url);
    try {
      await c.ready();
      assert.equal(await c.request('add', [1, 2]), 3);
      // Too large for the server: the endpoint closes the WebSocket (1009); the call in flight fails.
      await assert.rejects(within(c.request('echo', ['x'.repeat(4096)], { timeout: 0 }), 5000, 'the call in flight to fail'), closed);
      await assert.rejects(within(c.request('add', [1, 2], { timeout: 0 }), 5000, 'a new call to settle'), closed);
      await assert.rejects(within(c.ready(), 5000, 'ready() to settle'), closed);
    } finally {
      c.close();
      await endpoint.shutdown();
      await server.shutdown();
    }
  });

  it('the server went away: a call made after the close rejects at once', async () => {
    const { server, endpoint, url } = await setup(4096);
    const c = new BrowserRpcClient(url);
    try {
      await c.ready();
      assert.equal(await c.request('add', [2, 2]), 4);
      const inFlight = c.request('add', [3, 3], { timeout: 0 }).catch((e: unknown) => e);
      await endpoint.shutdown();
      // Once the close has reached the client (the call in flight settles either way).
      await within(inFlight, 5000, 'the call in flight to settle');
      await new Promise((r) => setTimeout(r, 50));
      await assert.rejects(within(c.request('add', [1, 2], { timeout: 0 }), 5000, 'a new call to settle'), closed);
      await assert.rejects(within(c.ready(), 5000, 'ready() to settle'), closed);
    } finally {
      c.close();
      await server.shutdown();
    }
  });

  it('close(): new calls reject with ERR_CONN_CLOSED', async () => {
    const { server, endpoint, url } = await setup(4096);
    const c = new BrowserRpcClient(url);
    try {
      await c.ready();
      c.close();
      await assert.rejects(within(c.request('add', [1, 2], { timeout: 0 }), 5000, 'a new call to settle'), closed);
      await assert.rejects(within(c.ready(), 5000, 'ready() to settle'), closed);
    } finally {
      await endpoint.shutdown();
      await server.shutdown();
    }
  });
});
