// Codecs under sessions: limits on the header, malformed input after good messages, TLV with
// routing, JSON over length-prefixed frames, and the same listener over TLS and a Unix socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, frame, until } from './helpers.js';
import { lineCodec, recorder, sessionServer } from './session-fixtures.js';
import {
  type Codec,
  type SessionListener,
  type Session,
  Router,
  type TlvMessage,
  createSessionClient,
  createSessionServer,
  lengthField,
  mapFrames,
  tlvCodec,
} from '../src/index.js';

const json: Codec<unknown> = mapFrames(lengthField({ maxFrameLength: 1024 }), {
  decode: (f) => JSON.parse(f.toString('utf8')) as unknown,
  encode: (m) => Buffer.from(JSON.stringify(m)),
}, 1024);

test('an oversized message is refused on its header, before the body arrives; earlier messages were delivered', async (t) => {
  const got: unknown[] = [];
  const { listener, rec } = recorder();
  const server = createSessionServer<unknown>({
    codec: json,
    listener: { ...(listener as never as SessionListener<unknown>), onMessage: (_s: unknown, m: unknown) => void got.push(m) },
  });
  await server.listen();
  t.after(() => server.shutdown());
  const c = await RawClient.connect((server.address() as { port: number }).port);
  const header = Buffer.alloc(4);
  header.writeUint32BE(1 << 20);
  await c.write(Buffer.concat([frame('{"n":1}'), frame('[2]'), header]));
  await c.closed;
  assert.deepEqual(got, [{ n: 1 }, [2]]);
  assert.deepEqual(rec.events.slice(-2), ['error:ERR_FRAME_TOO_LARGE', 'close']);
});

test('malformed content: onError with a coded error, the session closes, the messages before it were delivered and answered', async (t) => {
  const { listener, rec } = recorder();
  const server = createSessionServer<unknown>({
    codec: json,
    listener: { ...(listener as never as SessionListener<unknown>), onMessage: (s: Session<unknown>, m: unknown) => void s.send({ echo: m }) },
  });
  await server.listen();
  t.after(() => server.shutdown());
  const c = await RawClient.connect((server.address() as { port: number }).port);
  await c.write(Buffer.concat([frame('"a"'), frame('{not json'), frame('"never"')]));
  await c.closed;
  const reply = c.take();
  assert.equal(reply.subarray(4).toString(), '{"echo":"a"}', 'the reply to the good message went out before the close');
  const err = rec.errors[0] as Error & { code: string; cause: unknown };
  assert.equal(err.code, 'ERR_MALFORMED_MESSAGE');
  assert.ok(err.cause instanceof SyntaxError);
  assert.deepEqual(rec.events, ['open', 'error:ERR_MALFORMED_MESSAGE', 'close']);
});

test('a line above the limit: ERR_FRAME_TOO_LARGE, not buffered without end', async (t) => {
  const { listener, rec } = recorder();
  const { server, port } = await sessionServer({ listener, codec: lineCodec(64) });
  t.after(() => server.shutdown());
  const c = await RawClient.connect(port);
  await c.write('ok\n' + 'x'.repeat(100));
  await c.closed;
  assert.deepEqual(rec.events, ['open', 'message:ok', 'error:ERR_FRAME_TOO_LARGE', 'close']);
});

test('TLV messages routed by type; an unknown type is ERR_UNKNOWN_MESSAGE_TYPE', async (t) => {
  const codec = tlvCodec({ maxMessageLength: 4096 });
  const router = new Router<TlvMessage, TlvMessage, number>((m) => m.type)
    .on(1, (s, m) => void s.send({ type: 101, body: Buffer.from(m.body).reverse() }))
    .on(2, async (s, m) => {
      await s.send({ type: 102, body: Buffer.from(String(m.body.length)) });
    });
  const errors: unknown[] = [];
  const server = createSessionServer<TlvMessage>({ codec, listener: router.listener({ onError: (_s, e) => void errors.push(e) }) });
  await server.listen();
  t.after(() => server.shutdown());
  const replies: TlvMessage[] = [];
  const client = createSessionClient<TlvMessage>({
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    codec: tlvCodec({ maxMessageLength: 4096, copy: true }),
    listener: { onMessage: (_s, m) => void replies.push(m) },
  });
  t.after(() => client.close());
  const s = await client.ready({ timeout: 2000 });
  await s.send({ type: 1, body: Buffer.from('abc') });
  await s.send({ type: 2, body: Buffer.alloc(3000) });
  await until(() => replies.length === 2, 'two replies');
  assert.deepEqual(replies.map((r) => [r.type, Buffer.from(r.body).toString()]), [[101, 'cba'], [102, '3000']]);
  // Encoding checks the limit too, synchronously: a bug of the sender, not a network event.
  assert.throws(() => s.send({ type: 1, body: Buffer.alloc(5000) }), { code: 'ERR_FRAME_TOO_LARGE' });
  await s.send({ type: 9, body: Buffer.alloc(0) });
  await until(() => errors.length === 1, 'unknown type reported');
  assert.equal((errors[0] as { code: string }).code, 'ERR_UNKNOWN_MESSAGE_TYPE');
});

test('TLV: a declared length above maxMessageLength is refused on the 8-byte header', async (t) => {
  const { listener, rec } = recorder();
  const server = createSessionServer<TlvMessage>({ codec: tlvCodec({ maxMessageLength: 100 }), listener: listener as never });
  await server.listen();
  t.after(() => server.shutdown());
  const c = await RawClient.connect((server.address() as { port: number }).port);
  const header = Buffer.alloc(8);
  header.writeUint32BE(7, 0);
  header.writeUint32BE(101, 4);
  await c.write(header);
  await c.closed;
  assert.deepEqual(rec.events, ['open', 'error:ERR_FRAME_TOO_LARGE', 'close']);
});

const fixtures = new URL('../../test/fixtures/', import.meta.url);

test('the same codec and listener over TLS', async (t) => {
  const key = readFileSync(new URL('localhost-key.pem', fixtures));
  const cert = readFileSync(new URL('localhost-cert.pem', fixtures));
  const { listener } = recorder({ onMessage: (s, m) => void s.send(`tls ${m}`) });
  const server = createSessionServer<string>({ codec: lineCodec(), listener });
  const addr = (await server.listen({ tls: { key, cert } })) as { port: number };
  t.after(() => server.shutdown());
  const replies: string[] = [];
  const client = createSessionClient<string>({
    address: `localhost:${addr.port}`,
    codec: lineCodec(),
    tls: { ca: cert },
    listener: { onMessage: (_s, m) => void replies.push(m) },
  });
  t.after(() => client.close());
  await (await client.ready({ timeout: 3000 })).send('hi');
  await until(() => replies.length === 1, 'reply');
  assert.deepEqual(replies, ['tls hi']);
});

test('the same codec and listener over a Unix socket', async (t) => {
  const path = join(tmpdir(), `nocopy-session-${process.pid}-${Date.now()}.sock`);
  const { listener } = recorder({ onMessage: (s, m) => void s.send(`unix ${m}`) });
  const server = createSessionServer<string>({ codec: lineCodec(), listener });
  await server.listen({ path });
  t.after(() => server.shutdown());
  const replies: string[] = [];
  const client = createSessionClient<string>({
    address: path,
    network: 'unix',
    codec: lineCodec(),
    listener: { onMessage: (s, m) => void replies.push(`${m} (${s.remoteAddress ?? 'no address'})`) },
  });
  t.after(() => client.close());
  await (await client.ready({ timeout: 3000 })).send('hi');
  await until(() => replies.length === 1, 'reply');
  assert.deepEqual(replies, ['unix hi (no address)']);
});
