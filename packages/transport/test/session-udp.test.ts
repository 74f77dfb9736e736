// UDP sessions: a session per peer address opened by its first datagram, one datagram one decode,
// malformed and oversized datagrams dropped and counted (the session stays), idle expiry,
// maxSessions eviction, and a connected UDP socket as a client session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { sleep, until } from './helpers.js';
import { ipv6LoopbackMissing, loopbackMulticastMissing } from '@nocopy/test-kit';
import { fastWheel, gatedListener, lineCodec } from './session-fixtures.js';
import { type Codec, ShutdownError, StoppableServer, createSessionClient, createUdpSessionServer, lengthField, mapFrames } from '../src/index.js';

const json: Codec<unknown> = mapFrames(lengthField({ maxFrameLength: 1024 }), {
  decode: (f) => JSON.parse(f.toString('utf8')) as unknown,
  encode: (m) => Buffer.from(JSON.stringify(m)),
}, 1024);

function framed(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj));
  const h = Buffer.alloc(4);
  h.writeUint32BE(body.length);
  return Buffer.concat([h, body]);
}

async function peer(): Promise<{ sock: dgram.Socket; got: unknown[]; send: (b: Buffer, port: number) => Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  const got: unknown[] = [];
  sock.on('message', (m) => got.push(JSON.parse(m.subarray(4).toString())));
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { sock, got, send: (b, port) => new Promise((r) => sock.send(b, port, '127.0.0.1', () => r())) };
}

test('udp: a session per peer, one datagram one message, replies as datagrams; bad datagrams dropped and counted', async (t) => {
  const events: string[] = [];
  const server = createUdpSessionServer<unknown>({
    codec: json,
    listener: {
      onOpen: (s) => void events.push(`open ${s.remoteAddress}`),
      onMessage: (s, m) => void s.send({ echo: m, from: s.id }),
      onClose: (s) => void events.push(`close ${s.id}`),
    },
  });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const a = await peer();
  const b = await peer();
  t.after(() => {
    a.sock.close();
    b.sock.close();
  });
  await a.send(framed('a1'), port);
  await a.send(framed('a2'), port);
  await b.send(framed('b1'), port);
  await a.send(Buffer.from('not json at all'), port); // does not decode: dropped
  await a.send(Buffer.concat([framed('x'), Buffer.from('trailing')]), port); // bytes left: dropped
  await a.send(Buffer.from([0, 0, 4, 0, 1, 2]), port); // declares 1024+ bytes: oversized, dropped
  await a.send(framed('a3'), port);
  await until(() => a.got.length === 3 && b.got.length === 1, () => `a ${a.got.length}, b ${b.got.length}`);
  const ids = new Set(a.got.map((m) => (m as { from: number }).from));
  assert.equal(ids.size, 1, 'all of a\'s datagrams went to one session');
  assert.deepEqual(a.got.map((m) => (m as { echo: unknown }).echo), ['a1', 'a2', 'a3']);
  assert.equal(server.size, 2);
  const st = server.stats();
  assert.equal(st.malformed, 3);
  assert.equal(st.datagramsIn, 7);
  assert.equal(events.filter((e) => e.startsWith('open')).length, 2);
});

test('udp: a message larger than maxDatagramSize throws at send(), nothing is truncated', async (t) => {
  let err: unknown;
  const server = createUdpSessionServer<unknown>({
    codec: json,
    maxDatagramSize: 100,
    listener: {
      onMessage(s) {
        try {
          void s.send('x'.repeat(200));
        } catch (e) {
          err = e;
          void s.send('small');
        }
      },
    },
  });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const a = await peer();
  t.after(() => a.sock.close());
  await a.send(framed('hi'), port);
  await until(() => a.got.length === 1, 'reply');
  assert.deepEqual(a.got, ['small']);
  assert.equal((err as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
});

test('udp: idle sessions expire; at maxSessions the least recently active peer makes room', async (t) => {
  const closed: unknown[] = [];
  const server = createUdpSessionServer<unknown>({
    codec: json,
    wheel: fastWheel(),
    idleTimeout: 150,
    maxSessions: 2,
    listener: { onMessage() {}, onClose: (_s, reason) => void closed.push(reason) },
  });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const [p1, p2, p3] = await Promise.all([peer(), peer(), peer()]);
  t.after(() => [p1, p2, p3].forEach((p) => p!.sock.close()));
  // Each datagram is received before the next is sent, and a few ms pass between them so the
  // sessions' lastActive (Date.now()) differ: the order of activity is p2 < p1.
  await p1!.send(framed(1), port);
  await until(() => server.stats().datagramsIn === 1, 'p1\'s first datagram');
  await sleep(5);
  await p2!.send(framed(2), port);
  await until(() => server.stats().datagramsIn === 2, 'p2\'s datagram');
  await sleep(5);
  await p1!.send(framed(1), port); // p1 is now the most recent
  await until(() => server.stats().datagramsIn === 3, 'p1\'s second datagram');
  await until(() => server.size === 2, 'two');
  await p3!.send(framed(3), port);
  await until(() => server.stats().evicted === 1, 'evicted');
  const remotes = [...server.sessions()].map((s) => s.remoteAddress).sort();
  assert.deepEqual(remotes, [p1!, p3!].map((p) => `127.0.0.1:${p.sock.address().port}`).sort(), 'p2, the least recent, went');
  await until(() => server.size === 0, 'all expired', 3000);
  assert.equal(closed.filter((r) => (r as { code?: string })?.code === 'ERR_IDLE_TIMEOUT').length, 2);
});

test('udp: async onMessage keeps a peer\'s datagrams in order; a full queue drops and counts', async (t) => {
  const { seen, release, listener } = gatedListener<unknown>(0);
  const server = createUdpSessionServer<unknown>({ codec: json, maxQueued: 5, listener });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const a = await peer();
  t.after(() => a.sock.close());
  for (let i = 0; i < 10; i++) await a.send(framed(i), port);
  await until(() => server.stats().datagramsIn === 10, 'all received');
  assert.deepEqual(seen, [0]);
  release();
  await until(() => seen.length === 6, () => `${seen.length} seen`);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5], 'in order; the 4 beyond the queue were dropped');
  assert.equal(server.stats().overflowed, 4);
});

test('udp client: a connected socket as a session; replies arrive through the listener', async (t) => {
  const server = createUdpSessionServer<unknown>({ codec: json, listener: { onMessage: (s, m) => void s.send({ re: m }) } });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const got: unknown[] = [];
  const client = createSessionClient<unknown>({
    transport: 'udp',
    address: `127.0.0.1:${port}`,
    codec: json,
    listener: { onMessage: (_s, m) => void got.push(m) },
  });
  t.after(() => client.close());
  const s = await client.ready({ timeout: 2000 });
  assert.equal(s.transport, 'udp');
  assert.equal(s.connection, undefined);
  await s.send('one');
  await s.send({ two: 2 });
  await until(() => got.length === 2, 'replies');
  assert.deepEqual(got, [{ re: 'one' }, { re: { two: 2 } }]);
  assert.equal(s.stats().messagesOut, 2n);
  assert.equal(s.stats().messagesIn, 2n);
});

test('udp over IPv6 (udp6 on ::1)', async (t) => {
  // Skips only when a direct probe finds no IPv6 loopback (allow-listed in test/skip-allow.json);
  // once the probe says ::1 is there, any listen() error is a failure.
  const noV6 = await ipv6LoopbackMissing();
  if (noV6 !== null) {
    t.skip(`no IPv6 loopback here: ${noV6}`);
    return;
  }
  const server = createUdpSessionServer<unknown>({ type: 'udp6', codec: json, listener: { onMessage: (s, m) => void s.send({ v6: m }) } });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const got: unknown[] = [];
  const client = createSessionClient<unknown>({ transport: 'udp', udp: { type: 'udp6' }, address: `[::1]:${port}`, codec: json, listener: { onMessage: (_s, m) => void got.push(m) } });
  t.after(() => client.close());
  await (await client.ready({ timeout: 5000 })).send('six');
  await until(() => got.length === 1, 'reply');
  assert.deepEqual(got, [{ v6: 'six' }]);
  assert.match([...server.sessions()][0]!.remoteAddress!, /^\[::1\]:\d+$/);
});

test('udp multicast: the server joins a group and answers datagrams sent to it', async (t) => {
  const group = '239.255.42.99';
  // Skips only when plain sockets, with no nocopy code, cannot do loopback multicast here (a probe,
  // allow-listed in test/skip-allow.json). Past the probe, a server that fails to join (listen()
  // rejects) or never answers is a failure.
  const noMulticast = await loopbackMulticastMissing(group);
  if (noMulticast !== null) {
    t.skip(`no loopback multicast here: ${noMulticast}`);
    return;
  }
  const server = createUdpSessionServer<unknown>({ codec: json, multicast: { group, interface: '127.0.0.1' }, listener: { onMessage: (s, m) => void s.send({ mc: m }) } });
  const { port } = await server.listen({ port: 0, host: '0.0.0.0' });
  t.after(() => server.shutdown());
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  t.after(() => sock.close());
  const got: unknown[] = [];
  sock.on('message', (m) => got.push(JSON.parse(m.subarray(4).toString())));
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  sock.setMulticastInterface('127.0.0.1');
  sock.setMulticastLoopback(true);
  sock.send(framed('hello group'), port, group);
  await until(() => got.length > 0, 'the reply to a datagram sent to the group', 10_000);
  assert.deepEqual(got, [{ mc: 'hello group' }]);
  assert.equal(server.stats().datagramsIn, 1, 'exactly the one datagram sent to the group arrived');
});

test('udp: one datagram is one message: two lines in one datagram through a delimiter codec are dropped whole and counted (README)', async (t) => {
  const got: string[] = [];
  const server = createUdpSessionServer<string>({ codec: lineCodec(), listener: { onMessage: (_s, m) => void got.push(m) } });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const sock = dgram.createSocket('udp4');
  t.after(() => sock.close());
  const send = (s: string) => new Promise<void>((r) => sock.send(Buffer.from(s), port, '127.0.0.1', () => r()));
  await send('a\nb\n');
  await send('c\n');
  await until(() => got.length === 1, 'the one-line datagram');
  assert.deepEqual(got, ['c']);
  assert.equal(server.stats().malformed, 1);
});

test('udp: shutdown() is one memoized promise that closes every session, then listen() rejects; await using calls it', async () => {
  const closes: unknown[] = [];
  let sock: dgram.Socket;
  {
    await using server = createUdpSessionServer<string>({ codec: lineCodec(), listener: { onMessage: (s, m) => void s.send(m), onClose: (_s, r) => void closes.push(r) } });
    assert.ok(server instanceof StoppableServer);
    const { port } = await server.listen();
    sock = dgram.createSocket('udp4');
    sock.send('one\n', port, '127.0.0.1');
    await once(sock, 'message');
    assert.equal(server.size, 1);
    const stopping = server.shutdown();
    assert.equal(server.shutdown({ timeout: 1 }), stopping, 'the same promise');
    await stopping;
    assert.equal(server.size, 0);
    assert.equal(closes.length, 1);
    await assert.rejects(server.listen(), ShutdownError);
  } // asyncDispose: shutdown() again, already done
  sock.close();
});
