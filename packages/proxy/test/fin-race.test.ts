// A FIN passed on while forwarded bytes still wait in the receiving socket's write queue, followed by
// the other side's FIN: every byte must still arrive before EOF. The transport once destroyed such a
// socket when the second FIN closed the connection, dropping the end of the stream (the full-duplex
// test in data.test.ts saw a truncated upload now and then under load). The first two tests force
// that interleaving in each direction, watching the proxy's connections through the transport's
// diagnostics channel; the third mixes random chunk sizes, read pauses and FIN orders, seeded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import type net from 'node:net';
import type { Connection } from '@nocopy/transport';
import { Relay, type Role } from '../src/relay.js';
import { assertDrained, pump, RawClient, rng, sleep, startProxy, streamBytes, StreamVerifier, until, Upstream, within } from './helpers.js';

const MiB = 1024 * 1024;

/** Collects the proxy's connections as they open (the transport publishes each one). */
function watchConnections(): { find(role: Role): Connection<Relay> | undefined; [Symbol.dispose](): void } {
  const conns: Connection<Relay>[] = [];
  const onOpen = (m: unknown): void => {
    const c = (m as { connection: Connection<unknown> }).connection;
    if (c.ctx instanceof Relay) conns.push(c as Connection<Relay>);
  };
  diagnostics.subscribe('nocopy:connection:open', onOpen);
  return {
    find: (role) => conns.find((c) => c.ctx.role === role),
    [Symbol.dispose]: () => diagnostics.unsubscribe('nocopy:connection:open', onOpen),
  };
}

test('upload: the client FIN is passed on while bytes wait for the upstream, then the upstream FINs; the upstream still gets every byte', async () => {
  using watch = watchConnections();
  const TOTAL = 24 * MiB + 11;
  const v = new StreamVerifier();
  let server: net.Socket | null = null;
  let upstreamEof = false;
  const up = await new Upstream((s) => {
    server = s;
    s.pause(); // reads nothing until the race is set up
    s.on('data', (c: Buffer) => v.feed(c));
    s.on('end', () => (upstreamEof = true));
  }).listen();
  // A large output limit: the whole upload goes to the upstream socket's queue without waiting.
  const f = await startProxy(up.address, { maxOutboundBytes: 64 * MiB });
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: true }).connected();
    void pump(client.socket, TOTAL, 100_000).then(() => client.socket.end());
    await until(() => watch.find('upstream')?.writeEnded === true, 'the client FIN passed on', 20_000);
    const upc = watch.find('upstream')!;
    assert.ok(upc.writer.queued > 0, 'the precondition: upload bytes still queued when the FIN was passed on');
    server!.end();
    await until(() => upc.peerEnded, 'the upstream FIN at the proxy');
    server!.resume();
    await until(() => upstreamEof, 'EOF at the upstream', 20_000);
    assert.equal(v.check(TOTAL, 'upload'), '');
    await within(client.closed, 10_000, 'client close');
    await assertDrained(f);
    assert.deepEqual(f.errors, []);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('download: the upstream FIN is passed on while bytes wait for the client, then the client FINs; the client still gets every byte', async () => {
  using watch = watchConnections();
  const TOTAL = 24 * MiB + 13;
  const up = await new Upstream((s) => {
    void pump(s, TOTAL, 100_000).then(() => s.end());
  }).listen();
  const f = await startProxy(up.address, { maxOutboundBytes: 64 * MiB });
  try {
    const v = new StreamVerifier();
    const client = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
    client.socket.pause(); // reads nothing until the race is set up
    client.socket.on('data', (c: Buffer) => v.feed(c));
    await client.connected();
    await until(() => watch.find('client')?.writeEnded === true, 'the upstream FIN passed on', 20_000);
    const cc = watch.find('client')!;
    assert.ok(cc.writer.queued > 0, 'the precondition: download bytes still queued when the FIN was passed on');
    client.socket.end();
    await until(() => cc.peerEnded, 'the client FIN at the proxy');
    client.socket.resume();
    await within(client.endReceived, 20_000, 'EOF at the client');
    assert.equal(v.check(TOTAL, 'download'), '');
    await within(client.closed, 10_000, 'client close');
    await assertDrained(f);
    assert.deepEqual(f.errors, []);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

/**
 * One end of the random test, on its socket: sends `total` bytes of the test stream in random chunks
 * with random pauses, then its FIN; reads with random short stalls. Sometimes it also stops reading
 * at a random point of its upload and resumes only a while after its FIN: the proxy's output to it
 * backs up, the other side's FIN may be passed on meanwhile, and then its own FIN arrives (the
 * interleaving that lost bytes).
 */
async function playSide(s: net.Socket, total: number, next: () => number): Promise<void> {
  const stallAt = next() < 0.6 ? Math.floor(next() * total) : -1;
  s.on('data', () => {
    if (next() < 0.03 && !s.isPaused()) {
      s.pause();
      setTimeout(() => s.resume(), Math.floor(next() * 20));
    }
  });
  await sleep(next() < 0.3 ? Math.floor(next() * 40) : 0);
  let sent = 0;
  let stalled = false;
  while (sent < total) {
    if (s.destroyed) return;
    if (!stalled && stallAt >= 0 && sent >= stallAt) {
      stalled = true;
      s.pause();
    }
    const k = Math.min(total - sent, 1 + Math.floor(next() * next() * 300_000));
    const ok = s.write(streamBytes(sent, k));
    sent += k;
    if (!ok) await new Promise((r) => s.once('drain', r));
    if (next() < 0.1) await sleep(Math.floor(next() * 5));
  }
  if (stallAt >= 0) await sleep(Math.floor(next() * 150));
  s.end();
  if (stallAt >= 0) {
    await sleep(Math.floor(next() * 60));
    s.resume();
  }
}

test('random chunk sizes, read stalls, output limits and FIN orders, both directions at once (seeded, repeated): every byte arrives, then EOF', async () => {
  const limits = [64 * 1024, 256 * 1024, 4 * MiB, 64 * MiB];
  for (let seed = 1; seed <= 24; seed++) {
    const next = rng(seed * 7919);
    const UP = 1 + Math.floor(next() * 10 * MiB);
    const DOWN = 1 + Math.floor(next() * 10 * MiB);
    const maxOutboundBytes = limits[Math.floor(next() * limits.length)]!;
    const what = `seed ${seed} (up ${UP}, down ${DOWN}, maxOutboundBytes ${maxOutboundBytes})`;
    const upload = new StreamVerifier();
    let upstreamEof = false;
    const up = await new Upstream((s) => {
      s.on('data', (c: Buffer) => upload.feed(c));
      s.on('end', () => (upstreamEof = true));
      void playSide(s, DOWN, rng(seed * 31 + 1));
    }).listen();
    const f = await startProxy(up.address, { maxOutboundBytes });
    try {
      const download = new StreamVerifier();
      const client = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
      client.socket.on('data', (c: Buffer) => download.feed(c));
      await client.connected();
      await within(playSide(client.socket, UP, rng(seed * 31 + 2)), 30_000, `${what}: upload sent`);
      await within(client.closed, 30_000, `${what}: both directions done`);
      await until(() => upstreamEof, `${what}: EOF at the upstream`);
      assert.equal(download.check(DOWN, `${what}, download`), '');
      assert.equal(upload.check(UP, `${what}, upload`), '');
      assert.equal(client.error, undefined);
      await assertDrained(f, what);
      assert.deepEqual(f.errors, []);
    } finally {
      await f.proxy.shutdown();
      await up.close();
    }
  }
});
