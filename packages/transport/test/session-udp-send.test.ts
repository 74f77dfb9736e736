// The UDP session server's send path: a reply goes to the peer's literal address without a DNS
// lookup per datagram (the server socket's own lookup answers it), over IPv4 and IPv6, and every
// reply reaches the peer intact and in order; a name that is not a peer's address still resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { once } from 'node:events';
import { until } from './helpers.js';
import { ipv6LoopbackMissing } from '@nocopy/test-kit';
import { type Codec, createSessionClient, createUdpSessionServer } from '../src/index.js';

const whole: Codec<Buffer, Uint8Array> = { maxMessageLength: 2048, decode: (r) => r.next(r.length), encode: (m, w) => w.writeBinary(m) };

/** Counts dns.lookup calls while `fn` runs. */
async function countingLookups(fn: () => Promise<void>): Promise<number> {
  const original = dns.lookup;
  let calls = 0;
  (dns as { lookup: unknown }).lookup = (...args: unknown[]) => {
    calls++;
    return (original as (...a: unknown[]) => unknown)(...args);
  };
  try {
    await fn();
  } finally {
    (dns as { lookup: unknown }).lookup = original;
  }
  return calls;
}

async function echoRound(type: 'udp4' | 'udp6', host: string, t: { after: (fn: () => unknown) => void }): Promise<void> {
  const n = 200;
  const got: string[] = [];
  let sessions = 0;
  // Counting from before the sockets exist: dgram keeps the lookup function it was created with.
  const lookups = await countingLookups(async () => {
    const server = createUdpSessionServer<Buffer, Uint8Array>({ codec: whole, type, listener: { onMessage: (s, m) => void s.send(Buffer.concat([Buffer.from('re:'), m])) } });
    const { port } = await server.listen({ port: 0, host });
    t.after(() => server.shutdown());
    // A connected peer: its own sends look nothing up (binds and connect() do, a few times in all).
    const peer = dgram.createSocket(type);
    t.after(() => peer.close());
    peer.connect(port, host);
    await once(peer, 'connect');
    peer.on('message', (m) => got.push(m.toString()));
    for (let i = 0; i < n; i++) {
      peer.send(Buffer.from(`m${i}`));
      // One at a time: order on loopback is then the order sent.
      await until(() => got.length === i + 1, `reply ${i}`);
    }
    sessions = server.stats().sessions;
  });
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => `re:m${i}`));
  // Binds and connect() account for a few; one per reply (the old path) would be over n.
  assert.ok(lookups < 10, `the server looked up none of its ${n} replies' addresses (${lookups} lookups)`);
  assert.equal(sessions, 1);
}

test('udp send: replies go to the peer literal without a DNS lookup, intact and in order (IPv4)', async (t) => {
  await echoRound('udp4', '127.0.0.1', t);
});

test('udp send: the same over IPv6', async (t) => {
  const missing = await ipv6LoopbackMissing();
  if (missing !== null) {
    if (process.env.CI === 'true') assert.fail(`IPv6 loopback: ${missing}`);
    t.skip(missing);
    return;
  }
  await echoRound('udp6', '::1', t);
});

test('udp send: a name that is no peer address still resolves through dns.lookup (a client session by name)', async (t) => {
  const server = createUdpSessionServer<Buffer, Uint8Array>({ codec: whole, listener: { onMessage: (s, m) => void s.send(m) } });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const got: string[] = [];
  const lookups = await countingLookups(async () => {
    const client = createSessionClient<Buffer, Uint8Array>({ transport: 'udp', address: `localhost:${port}`, codec: whole, listener: { onMessage: (_s, m) => void got.push(m.toString()) } });
    t.after(() => client.close());
    const s = await client.ready({ timeout: 10_000 });
    await s.send(Buffer.from('by name'));
    await until(() => got.length === 1, 'the echo');
  });
  assert.deepEqual(got, ['by name']);
  assert.ok(lookups >= 1, 'localhost was resolved');
});
