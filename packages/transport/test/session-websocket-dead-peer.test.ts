// WebSocket sessions whose peer died or stopped reading (issue 24, item 2): a heartbeat or write
// timeout ends the session at once (onError, then onClose, without waiting for the peer's close
// frame, which never comes), and shutdown({ timeout }) is honoured. The peer is a ws client that
// pauses its socket after 'open': it reads nothing, answers no ping and no close frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { until, within } from './helpers.js';
import { fastWheel, recorder } from './session-fixtures.js';
import { type Codec, type Session, createSessionClient } from '../src/index.js';
import { createWebSocketSessionServer } from '../src/session/websocket-entry.js';

const whole: Codec<string> = {
  maxMessageLength: 1 << 20,
  decode: (r) => (r.length === 0 ? undefined : r.readString(r.length, 'utf8')),
  encode: (m, w) => void w.writeString(m, 'utf8'),
};

/** A peer that stops reading once open: its socket is paused for good. */
async function deadPeer(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  (ws as unknown as { _socket: Socket })._socket.pause();
  return ws;
}

// The bug held these sessions for ws's 30 s close handshake; 10 s is far from both.
const SOON = 10_000;

test('websocket: a heartbeat timeout closes the session at once (onError then onClose), the slot is free', async (t) => {
  const { listener, rec } = recorder();
  const server = createWebSocketSessionServer<string>({ codec: whole, listener, wheel: fastWheel(), heartbeat: { interval: 200 }, maxConnections: 1 });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const peer = await deadPeer(port);
  t.after(() => peer.terminate());
  await until(() => rec.events.some((e) => e.startsWith('error:')), 'the heartbeat timeout', SOON);
  await until(() => rec.events.includes('close'), 'onClose after the heartbeat timeout', SOON);
  assert.deepEqual(rec.events, ['open', 'error:ERR_HEARTBEAT_TIMEOUT', 'close']);
  assert.equal((rec.reasons[0] as { code?: string }).code, 'ERR_HEARTBEAT_TIMEOUT');
  assert.equal(server.size, 0, 'the maxConnections slot is free');
  // A new peer gets in (maxConnections 1).
  const next = new WebSocket(`ws://127.0.0.1:${port}/`);
  await within(once(next, 'open'), SOON, 'a new session');
  next.terminate();
});

test('websocket: a write timeout closes the session at once (onError then onClose)', async (t) => {
  const { listener, rec } = recorder({
    onOpen(s) {
      // Far more than the socket buffers: send() waits, and the write timeout expires.
      const big = 'x'.repeat(256 * 1024);
      const pump = (): void => {
        if (!s.isActive()) return;
        s.send(big).then(pump, () => {});
      };
      pump();
    },
  });
  const server = createWebSocketSessionServer<string>({ codec: whole, listener, wheel: fastWheel(), writeTimeout: 300, maxOutboundBytes: 64 * 1024 });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const peer = await deadPeer(port);
  t.after(() => peer.terminate());
  await until(() => rec.events.includes('close'), 'onClose after the write timeout', SOON);
  assert.deepEqual(rec.events, ['open', 'error:ERR_WRITE_TIMEOUT', 'close']);
  assert.equal(server.size, 0);
});

test('websocket: shutdown({ timeout }) is honoured with a peer that does not read (no heartbeat)', async () => {
  const { listener, rec } = recorder();
  const server = createWebSocketSessionServer<string>({ codec: whole, listener });
  const { port } = await server.listen({ port: 0 });
  const peer = await deadPeer(port);
  try {
    await until(() => rec.events.includes('open'), 'the session');
    await within(server.shutdown({ timeout: 1000 }), SOON, 'shutdown({ timeout: 1000 })');
    assert.deepEqual(rec.events, ['open', 'close']);
    assert.equal(server.size, 0);
  } finally {
    peer.terminate();
  }
});

test('websocket client session: the server closing it for an oversized message gives onClose a reason (1009)', async (t) => {
  const server = createWebSocketSessionServer<string>({ codec: { ...whole, maxMessageLength: 1024 }, listener: { onMessage() {} }, maxPayload: 1024 });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const { listener, rec } = recorder();
  const client = createSessionClient<string>({ transport: 'websocket', address: `ws://127.0.0.1:${port}/`, codec: whole, listener, reconnect: { initial: 60_000, max: 60_000 } });
  t.after(() => client.close());
  const s = (await client.ready({ timeout: 5000 })) as unknown as Session<string>;
  await s.send('x'.repeat(4096)).catch(() => {});
  await until(() => rec.events.includes('close'), 'the client session to close', SOON);
  const reason = rec.reasons[0] as { code?: string; message?: string } | undefined;
  assert.ok(reason !== undefined, 'onClose got a reason');
  assert.equal(reason.code, 'ERR_CONN_CLOSED');
  assert.match(String(reason.message), /1009/);
  assert.deepEqual(rec.events.filter((e) => e.startsWith('error')), [], 'the peer\'s close is no error of this end');
});
