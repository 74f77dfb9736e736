// Issue 26: the browser client's check allowed 64 levels of nesting where the server's codec writes
// 128, so a reply 65-128 deep that the server sent was refused in the browser. With one rule
// (src/msgpack/rule.ts) every reply the server can encode reaches the browser client: run in Node
// with the `ws` package as the WebSocket global, over the real WebSocket endpoint and RPC server.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { BrowserRpcClient } from '../src/browser/client.js';
import { MAX_DEPTH } from '../src/msgpack/rule.js';
import { createWebSocketEndpoint } from '../src/websocket/endpoint.js';
import { startServer, within } from './rpc-helpers.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

/** `n` arrays, one inside the other, around 0. */
function nested(n: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

function depthOf(v: unknown): number {
  let d = 0;
  while (Array.isArray(v)) {
    v = v[0];
    d++;
  }
  return d;
}

it(`replies nested up to ${MAX_DEPTH} deep reach the browser client`, async () => {
  const served = await startServer({}, (s) => s.register('nested', (n: number) => nested(n)));
  const endpoint = createWebSocketEndpoint({ server: served.server });
  const a: AddressInfo = await endpoint.listen({ host: '127.0.0.1', port: 0 });
  const c = new BrowserRpcClient(`ws://127.0.0.1:${a.port}/`);
  try {
    await within(c.ready(), 10_000, 'the WebSocket to open');
    // The reply [1, id, null, result] adds one level: a result MAX_DEPTH - 1 deep is the deepest.
    for (const n of [64, 100, MAX_DEPTH - 1]) {
      const got = await within(c.request('nested', [n]), 10_000, `nested(${n})`);
      assert.equal(depthOf(got), n);
    }
    // One more the server cannot send: it answers with an error, and the connection goes on.
    await assert.rejects(within(c.request('nested', [MAX_DEPTH]), 10_000, `nested(${MAX_DEPTH})`), (e: { code?: string }) => e.code !== 'ERR_MALFORMED_MESSAGE' && e.code !== 'ERR_CONN_CLOSED');
    assert.equal(depthOf(await within(c.request('nested', [3]), 10_000, 'nested(3)')), 3);
  } finally {
    c.close();
    await endpoint.shutdown();
    await served.server.shutdown();
  }
});
