// WebSocket sessions: one WebSocket message is one decode, replies are WebSocket messages; WSS with
// verification; the heartbeat is a ping and a peer that does not pong is closed; maxPayload from
// the codec; a client session over ws://.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { until } from './helpers.js';
import { fastWheel, gatedListener, lineCodec, recorder } from './session-fixtures.js';
import { type Codec, ShutdownError, StoppableServer, createSessionClient, frames, lengthField, mapFrames } from '../src/index.js';
import { createWebSocketSessionServer } from '../src/session/websocket-entry.js';

/** Messages are the WebSocket messages themselves, as text. */
const whole: Codec<string> = {
  maxMessageLength: 1024,
  decode: (r) => (r.length === 0 ? undefined : r.readString(r.length, 'utf8')),
  encode: (m, w) => void w.writeString(m, 'utf8'),
};

test('websocket: one message one decode, replies as messages, text and binary in; a ws client', async (t) => {
  const { listener, rec } = recorder({ onMessage: (s, m) => void s.send(`echo ${m}`) });
  const server = createWebSocketSessionServer<string>({ codec: whole, listener, sendAs: 'text' });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  const got: [string, boolean][] = [];
  ws.on('message', (d: Buffer, isBinary: boolean) => got.push([d.toString(), isBinary]));
  ws.send('hello');
  ws.send(Buffer.from('bytes'), { binary: true });
  await until(() => got.length === 2, 'two replies');
  assert.deepEqual(got, [['echo hello', false], ['echo bytes', false]]);
  ws.close();
  await until(() => rec.events.includes('close'), 'closed');
  assert.deepEqual(rec.events, ['open', 'message:hello', 'message:bytes', 'close']);
  assert.equal(rec.sessions[0]!.transport, 'websocket');
});

test('websocket: a message above maxPayload (the codec\'s maxMessageLength) closes the session with onError', async (t) => {
  const { listener, rec } = recorder();
  const server = createWebSocketSessionServer<string>({ codec: whole, listener });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  ws.send('x'.repeat(2000));
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, 1009, 'message too big');
  await until(() => rec.events.includes('close'), 'closed');
  assert.match(rec.events.join(' '), /error:WS_ERR_UNSUPPORTED_MESSAGE_LENGTH close$/);
});

test('websocket heartbeat: pings; a peer that does not answer is closed with ERR_HEARTBEAT_TIMEOUT, one that does stays', async (t) => {
  const { listener, rec } = recorder();
  const server = createWebSocketSessionServer<string>({ codec: whole, listener, wheel: fastWheel(), heartbeat: { interval: 30, timeout: 150 } });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const silent = new WebSocket(`ws://127.0.0.1:${port}/`, { autoPong: false });
  const polite = new WebSocket(`ws://127.0.0.1:${port}/`);
  let pings = 0;
  polite.on('ping', () => void pings++);
  await Promise.all([once(silent, 'open'), once(polite, 'open')]);
  await once(silent, 'close');
  assert.ok(rec.errors.some((e) => (e as { code?: string }).code === 'ERR_HEARTBEAT_TIMEOUT'));
  // 6 more pings to the polite one (6 x 30 ms, past the 150 ms timeout): a wrong close would have come by then.
  const heard = pings;
  await until(() => pings >= heard + 6 || polite.readyState !== WebSocket.OPEN, () => `6 more pings (${pings - heard})`, 10_000);
  assert.equal(polite.readyState, WebSocket.OPEN);
  assert.ok(pings >= 5, `${pings} pings`);
  polite.close();
});

test('websocket: WSS with the transport\'s TLS defaults; the session client over wss:// verifies the certificate', async (t) => {
  const dir = new URL('../../test/fixtures/', import.meta.url);
  const key = readFileSync(new URL('localhost-key.pem', dir));
  const cert = readFileSync(new URL('localhost-cert.pem', dir));
  const codec = mapFrames<string>(lengthField({ maxFrameLength: 4096 }), { decode: (f) => f.toString(), encode: (m) => Buffer.from(m) });
  const { listener } = recorder({ onMessage: (s, m) => void s.send(`secure ${m}`) });
  const server = createWebSocketSessionServer<string>({ codec, listener });
  const { port } = await server.listen({ port: 0, tls: { key, cert } });
  t.after(() => server.shutdown());
  const replies: string[] = [];
  const client = createSessionClient<string>({
    transport: 'websocket',
    address: `wss://localhost:${port}/`,
    tls: { ca: cert },
    codec,
    listener: { onMessage: (_s, m) => void replies.push(m) },
  });
  t.after(() => client.close());
  const s = await client.ready({ timeout: 3000 });
  await s.send('hi');
  await until(() => replies.length === 1, 'reply');
  assert.deepEqual(replies, ['secure hi']);
  // Without the CA, verification fails and no session opens.
  const untrusted = createSessionClient<string>({ transport: 'websocket', address: `wss://localhost:${port}/`, codec, reconnect: { initial: 1000 }, listener: { onMessage() {} } });
  await until(() => untrusted.stats().dialFailures >= 1, 'refused');
  assert.equal(untrusted.size, 0);
  await untrusted.close();
});

test('websocket: a wrong path is refused (404); options are checked', async (t) => {
  const server = createWebSocketSessionServer<string>({ codec: lineCodec(), listener: { onMessage() {} }, path: '/chat' });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/other`);
  const [err] = (await once(ws, 'error')) as [Error];
  assert.match(err.message, /404/);
  assert.equal(server.stats().refused, 1);
  assert.throws(() => createWebSocketSessionServer({ codec: lineCodec(), listener: { onMessage() {} }, path: 'x' }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => createSessionClient({ transport: 'websocket', address: 'http://x/', codec: lineCodec(), listener: { onMessage() {} } }), { code: 'ERR_INVALID_OPTION' });
  void frames;
});

test('websocket: many large messages sent at once arrive intact (the pooled output is kept until ws has written it)', async (t) => {
  const { randomBytes } = await import('node:crypto');
  const payloads = Array.from({ length: 60 }, (_, i) => randomBytes(5000 + i * 997));
  const bin: Codec<Buffer, Uint8Array> = { maxMessageLength: 1 << 20, decode: (r) => r.next(r.length), encode: (m, w) => w.writeBinary(m) };
  const server = createWebSocketSessionServer<Buffer, Uint8Array>({
    codec: bin,
    listener: {
      onMessage(s) {
        for (const p of payloads) void s.send(p);
      },
    },
  });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  const got: Buffer[] = [];
  ws.on('message', (d: Buffer) => got.push(d));
  ws.send('go');
  await until(() => got.length === payloads.length, () => `${got.length} of ${payloads.length}`);
  for (let i = 0; i < payloads.length; i++) assert.ok(got[i]!.equals(payloads[i]!), `message ${i} changed`);
  ws.close();
});

test('websocket backpressure: send() waits while the socket buffers past maxOutboundBytes; a peer that never reads is cut at writeTimeout', async (t) => {
  const bin: Codec<Buffer, Uint8Array> = { maxMessageLength: 1 << 20, decode: (r) => r.next(r.length), encode: (m, w) => w.writeBinary(m) };
  const waits: number[] = [];
  const errors: unknown[] = [];
  let sent = 0;
  let sendRejected: unknown = null;
  const server = createWebSocketSessionServer<Buffer, Uint8Array>({
    codec: bin,
    maxOutboundBytes: 256 * 1024,
    writeTimeout: 300,
    listener: {
      async onMessage(s) {
        const chunk = Buffer.alloc(64 * 1024, 7);
        for (let i = 0; i < 400; i++) {
          const t0 = performance.now();
          try {
            await s.send(chunk);
          } catch (e) {
            sendRejected = e;
            return;
          }
          sent++;
          waits.push(performance.now() - t0);
        }
      },
      onError: (_s, e) => void errors.push(e),
    },
  });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  (ws as unknown as { _socket: import('node:net').Socket })._socket.pause(); // never reads
  ws.send('go');
  await until(() => errors.length === 1, 'cut by the write timeout', 10_000);
  assert.equal((errors[0] as { code?: string }).code, 'ERR_WRITE_TIMEOUT');
  assert.ok(sent < 400, `${sent} of 400 chunks were taken: send() did not wait`);
  // The handler's loop ended in a send() that was waiting for room when the timeout cut the session
  // (sent < 400 alone would also hold if the handler had stopped for another reason).
  await until(() => sendRejected !== null, 'the waiting send() to be rejected', 10_000);
  ws.terminate();
});

test('websocket: messages behind a slow onMessage queue up to maxQueued, then reading pauses; none is lost, all in order', async (t) => {
  const { seen, release, listener } = gatedListener('0');
  const server = createWebSocketSessionServer<string>({ codec: whole, maxQueued: 5, listener });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  for (let i = 0; i < 100; i++) ws.send(String(i));
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(seen, ['0'], 'one running, the rest waiting');
  release();
  await until(() => seen.length === 100, () => `${seen.length} of 100`);
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => String(i)));
  ws.close();
});

test('websocket: serve() takes the connections of a TCP server made elsewhere (a cluster worker\'s); shutdown() is one memoized promise, the server stays open', async (t) => {
  const server = createWebSocketSessionServer<string>({ codec: whole, listener: { onMessage: (s, m) => void s.send(`echo ${m}`) }, sendAs: 'text' });
  assert.ok(server instanceof StoppableServer);
  const tcp = net.createServer();
  t.after(() => tcp.close());
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  assert.equal(server.serve(tcp), server);
  assert.equal(server.address(), null, 'nothing listened');
  const ws = new WebSocket(`ws://127.0.0.1:${(tcp.address() as AddressInfo).port}/`);
  await once(ws, 'open');
  ws.send('hi');
  const [reply] = (await once(ws, 'message')) as [Buffer];
  assert.equal(reply.toString(), 'echo hi');
  assert.equal(server.size, 1);
  const closed = once(ws, 'close');
  const stopping = server.shutdown({ timeout: 5000 });
  assert.equal(server.shutdown(), stopping, 'the same promise');
  assert.equal(server.shuttingDown, true);
  await stopping;
  await closed;
  assert.equal(server.size, 0);
  assert.equal(tcp.listening, true, 'the served server stays open');
  assert.throws(() => server.serve(tcp), ShutdownError);
  await assert.rejects(server.listen(), ShutdownError);
});
