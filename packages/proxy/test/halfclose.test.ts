// Half-close travels both ways: a FIN from one side reaches the other after all the data sent before
// it, the other direction stays open until its own FIN, and when both directions are done both
// connections close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { assertDrained, pattern, RawClient, startProxy, until, Upstream, within } from './helpers.js';

test('client FIN: the upstream sees EOF after all data, replies, FINs; the client gets the whole reply, then EOF', async () => {
  const request = pattern(3 * 1024 * 1024 + 5, 1);
  const reply = pattern(5 * 1024 * 1024 + 3, 2);
  let seenAtEof = -1;
  let dataAfterEof = false;
  const up = await new Upstream((s) => {
    let got = 0;
    s.on('data', (c: Buffer) => {
      if (seenAtEof >= 0) dataAfterEof = true;
      got += c.length;
    });
    s.on('end', () => {
      seenAtEof = got;
      // Only now, after the client's FIN, does the upstream answer (like `wc` or an HTTP/1.0 server).
      setTimeout(() => s.end(reply), 20);
    });
  }).listen();
  const f = await startProxy(up.address);
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: true }).connected();
    client.socket.end(request);
    await within(client.endReceived, 10_000, 'EOF at the client');
    assert.equal(seenAtEof, request.length, 'the upstream saw every request byte before EOF');
    assert.equal(dataAfterEof, false);
    assert.ok(client.data().equals(reply), 'the whole reply, then EOF');
    await within(client.closed, 5000, 'client socket closed');
    await assertDrained(f);
    await until(() => up.sockets.size === 0, 'upstream socket closed');
    assert.deepEqual(f.errors, []);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('upstream FIN first: the client gets EOF but can still send; its bytes reach the upstream; then both close', async () => {
  const greeting = pattern(700_000, 3);
  const late = pattern(2 * 1024 * 1024, 4);
  let upstreamGot: Buffer[] = [];
  let upstreamEof = false;
  const up = await new Upstream((s) => {
    s.on('data', (c: Buffer) => upstreamGot.push(c));
    s.on('end', () => (upstreamEof = true));
    s.end(greeting); // half-close at once: the upstream only reads from now on
  }).listen();
  const f = await startProxy(up.address);
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: true }).connected();
    await within(client.endReceived, 10_000, 'EOF from the upstream at the client');
    assert.ok(client.data().equals(greeting));
    assert.equal(f.proxy.stats().clients, 1, 'the pair stays open for the other direction');
    client.socket.write(late);
    await until(() => upstreamGot.reduce((n, c) => n + c.length, 0) >= late.length, 'late bytes at the upstream');
    assert.equal(upstreamEof, false);
    client.socket.end();
    await until(() => upstreamEof, 'EOF at the upstream');
    assert.ok(Buffer.concat(upstreamGot).equals(late));
    await within(client.closed, 5000, 'client socket closed');
    await assertDrained(f);
    await until(() => up.sockets.size === 0, 'upstream socket closed');
  } finally {
    upstreamGot = [];
    await f.proxy.shutdown();
    await up.close();
  }
});

test('request and FIN sent at once, before the upstream dial can finish: both forwarded in order', async () => {
  const up = await new Upstream((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      s.end(`got ${all.length} ${all.equals(pattern(all.length, all.length)) ? 'intact' : 'CORRUPT'}`);
    });
  }).listen();
  const f = await startProxy(up.address);
  try {
    // Written before the connection is even established, so data and FIN wait in the kernel at
    // accept. A request of exactly 64 KiB (or 128 KiB) fills Node's reads, so the same read loop also
    // reads the FIN: it arrives while onConnect is still dialing, a path onDisconnect does not cover.
    // The empty request (FIN only) takes that path too; 1000 bytes usually take the ordinary one.
    const sizes = [0, 1000, 65536, 131072];
    await Promise.all(sizes.flatMap((size) => Array.from({ length: 8 }, async () => {
      const client = RawClient.dial(f.port, { allowHalfOpen: true });
      client.socket.end(pattern(size, size));
      await within(client.endReceived, 5000, `EOF for a ${size} B request`);
      assert.equal(client.data().toString(), `got ${size} intact`);
      await within(client.closed, 5000, `close after a ${size} B request`);
    })));
    await assertDrained(f);
    assert.deepEqual(f.errors, []);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('a client without half-open support (the Node default) still gets the full reply to its last request', async () => {
  const up = await new Upstream((s: net.Socket) => {
    s.on('data', (c: Buffer) => s.write(c));
    s.on('end', () => s.end('bye'));
  }).listen();
  const f = await startProxy(up.address);
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: false }).connected();
    client.socket.end('ping');
    await within(client.closed, 5000, 'client closed');
    assert.equal(client.data().toString(), 'pingbye');
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});
