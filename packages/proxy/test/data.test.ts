// Bytes through the proxy, both ways, verified byte for byte: random-size payloads against an echo
// upstream (several clients at once), and big streams in each direction. Afterwards nothing is left:
// no connection open on either side, every pooled block back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { assertDrained, echoUpstream, pattern, pump, RawClient, rng, startProxy, streamBytes, StreamVerifier, until, Upstream, within } from './helpers.js';

test('random-size payloads from several clients come back byte for byte through an echo upstream', async () => {
  const up = await echoUpstream();
  const f = await startProxy(up.address);
  try {
    const clients = 6;
    await within(Promise.all(Array.from({ length: clients }, async (_, c) => {
      const next = rng(100 + c);
      const client = await RawClient.dial(f.port, { allowHalfOpen: true }).connected();
      let expected = 0;
      const sent: Buffer[] = [];
      for (let i = 0; i < 25; i++) {
        // Log-uniform sizes from 1 B to 1 MiB, written in random pieces so that reads and writes split anywhere.
        const size = Math.max(1, Math.floor(Math.exp(next() * Math.log(1024 * 1024))));
        const payload = pattern(size, c * 1000 + i);
        sent.push(payload);
        let at = 0;
        while (at < size) {
          const k = Math.min(size - at, 1 + Math.floor(next() * 200_000));
          client.socket.write(payload.subarray(at, at + k));
          at += k;
        }
        expected += size;
        if (next() < 0.3) await client.waitForReceived(expected);
      }
      await client.waitForReceived(expected);
      client.socket.end();
      await within(client.closed, 5000, 'client close');
      const all = Buffer.concat(sent);
      const got = client.data();
      assert.equal(got.length, all.length, `client ${c}: echoed length`);
      assert.ok(got.equals(all), `client ${c}: echoed bytes differ`);
    })), 30_000, 'all clients');
    assert.equal(up.accepted, clients, 'one upstream connection per client');
    await assertDrained(f);
    await until(() => up.sockets.size === 0, 'upstream sockets closed');
    assert.deepEqual(f.errors, []);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('a big stream from the upstream reaches the client complete and in order, then EOF', async () => {
  const TOTAL = 48 * 1024 * 1024 + 12345;
  const up = await new Upstream((s) => {
    void pump(s, TOTAL, 300_000).then(() => s.end());
  }).listen();
  const f = await startProxy(up.address);
  try {
    const v = new StreamVerifier();
    const client = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
    client.socket.on('data', (c: Buffer) => v.feed(c));
    await within(client.endReceived, 30_000, 'EOF at the client');
    assert.equal(v.check(TOTAL, 'download'), '');
    assert.equal(f.proxy.stats().bytesDown, TOTAL);
    client.socket.end();
    await within(client.closed, 5000, 'client close');
    await assertDrained(f);
    assert.deepEqual(f.errors, []);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('a big upload reaches the upstream complete and in order; its digest comes back after EOF', async () => {
  const TOTAL = 40 * 1024 * 1024 + 777;
  const up = await new Upstream((s) => {
    const v = new StreamVerifier();
    s.on('data', (c: Buffer) => v.feed(c));
    s.on('end', () => s.end(`${v.bytes} ${v.mismatchAt}`));
  }).listen();
  const f = await startProxy(up.address);
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: true }).connected();
    await within(pump(client.socket, TOTAL, 200_000), 30_000, 'upload');
    client.socket.end();
    await within(client.endReceived, 30_000, 'the reply and EOF');
    assert.equal(client.data().toString(), `${TOTAL} -1`);
    assert.equal(f.proxy.stats().bytesUp, TOTAL);
    await within(client.closed, 5000, 'client close');
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('both directions at once: a full-duplex stream, each side verifying what the other sent', async () => {
  const UP = 16 * 1024 * 1024;
  const DOWN = 24 * 1024 * 1024;
  let upstreamDigest = '';
  // The upload is the test stream too: a verifier says where a difference starts, the digest confirms.
  const upload = new StreamVerifier();
  const up = await new Upstream((s) => {
    const h = createHash('sha256');
    s.on('data', (c: Buffer) => {
      h.update(c);
      upload.feed(c);
    });
    s.on('end', () => (upstreamDigest = h.digest('hex')));
    void pump(s, DOWN, 123_457).then(() => s.end());
  }).listen();
  const f = await startProxy(up.address);
  try {
    const v = new StreamVerifier();
    const client = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
    client.socket.on('data', (c: Buffer) => v.feed(c));
    await client.connected();
    const expected = createHash('sha256');
    // The upload is the test stream too; its digest is computed chunk by chunk as sent.
    let sent = 0;
    while (sent < UP) {
      const k = Math.min(99_991, UP - sent);
      const chunk = streamBytes(sent, k);
      expected.update(chunk);
      if (!client.socket.write(chunk)) await new Promise((r) => client.socket.once('drain', r));
      sent += k;
    }
    client.socket.end();
    await within(client.closed, 30_000, 'both directions done');
    assert.equal(v.check(DOWN, 'download'), '');
    await until(() => upstreamDigest !== '', 'upstream EOF');
    assert.equal(upload.check(UP, 'upload'), '');
    assert.equal(upstreamDigest, expected.digest('hex'), 'upload digest');
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});
