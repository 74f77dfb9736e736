// The proxy's lifecycle and options: shutdown() (close() its alias) and `await using`, a shutdown deadline that ends stuck
// pairs, Unix sockets on both ends, maxConnections, the idle timeout, option validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockPool } from '@nocopy/linkbuffer';
import { createProxy, TcpProxy } from '../src/index.js';
import { assertDrained, echoUpstream, proxyRig, pump, RawClient, until, within } from './helpers.js';

test('shutdown() ends idle pairs at once, stops accepting and leaves nothing behind', async () => {
  await using f = await proxyRig('echo');
  const clients = await Promise.all(Array.from({ length: 5 }, async () => {
    const c = await RawClient.dial(f.port, { allowHalfOpen: false }).connected();
    c.socket.write('x');
    await c.waitForReceived(1);
    return c;
  }));
  assert.equal(f.proxy.stats().clients, 5);
  assert.equal(f.proxy.stats().upstreams, 5);
  const started = Date.now();
  await within(f.proxy.shutdown({ timeout: 10_000 }), 5000, 'close');
  assert.ok(Date.now() - started < 2000, 'idle pairs do not wait for the deadline');
  await within(Promise.all(clients.map((c) => c.closed)), 5000, 'clients closed');
  await until(() => f.up.sockets.size === 0, 'upstream sockets closed');
  await assertDrained(f);
  await assert.rejects(RawClient.dial(f.port, { allowHalfOpen: true }).connected(), /ECONNREFUSED/);
  // One memoized promise: shutdown() again and close(), its alias, return it.
  assert.equal(f.proxy.shutdown(), f.proxy.shutdown({ timeout: 1 }));
  assert.equal(f.proxy.close(), f.proxy.shutdown());
  assert.equal(f.proxy.shuttingDown, true);
  await f.proxy.shutdown(); // the rig shuts it down once more
});

/** Resolves once bytesDown has stood still for 200 ms with at least `cap` bytes held (10 s at most). */
async function stuck(stats: () => { bytesDown: number; bufferedBytes: number }, cap: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const s = stats();
    if (s.bytesDown !== last || s.bufferedBytes < cap) {
      last = s.bytesDown;
      since = Date.now();
    } else if (Date.now() - since >= 200) return;
    if (Date.now() > deadline) throw new Error(`the pair never stood still: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('shutdown({ timeout }) destroys pairs still stuck at the deadline', async () => {
  await using f = await proxyRig((s) => void pump(s, 512 * 1024 * 1024).catch(() => {}), { maxInboundBytes: 64 * 1024, maxOutboundBytes: 64 * 1024 });
  const client = RawClient.dial(f.port, { allowHalfOpen: false, keep: false });
  await client.waitForReceived(1);
  client.socket.pause(); // reads nothing until the proxy is closed: the pair cannot finish by itself
  // Stuck, not merely in flight: the output toward the paused client is at its cap and nothing has
  // moved for 200 ms, so the pair cannot settle before the deadline. A full queue alone is not
  // enough: the kernel may still grow its buffers, take the queue and let the pair settle early (a
  // CI run closed after 58 ms that way). Every write happens in this process, so 200 ms of our own
  // event loop without a forwarded byte means the kernel took nothing.
  await stuck(() => f.proxy.stats(), 64 * 1024);
  const started = Date.now();
  await within(f.proxy.shutdown({ timeout: 300 }), 5000, 'close');
  const took = Date.now() - started;
  assert.ok(took >= 250, `closed after ${took} ms, before the deadline`);
  client.socket.resume(); // takes what was sent, then the FIN
  await within(client.closed, 5000, 'client closed');
  await until(() => f.up.sockets.size === 0, 'upstream socket closed');
  await assertDrained(f);
});

test('await using closes the proxy', async () => {
  const up = await echoUpstream();
  let proxy: TcpProxy | undefined;
  {
    await using p = await createProxy({ upstream: up.address });
    proxy = p;
    assert.equal(typeof (p.address() as net.AddressInfo).port, 'number');
  }
  await assert.rejects(RawClient.dial((proxy.address() as net.AddressInfo | null)?.port ?? 1, { allowHalfOpen: true }).connected());
  await up.close();
});

test('Unix sockets: listening on a path and an upstream given as { path }', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-proxy-'));
  const upPath = join(dir, 'up.sock');
  const proxyPath = join(dir, 'proxy.sock');
  const upServer = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  upServer.listen(upPath);
  await once(upServer, 'listening');
  const pool = new BlockPool();
  const proxy = await createProxy({ listen: { path: proxyPath }, upstream: { path: upPath }, pool });
  try {
    assert.equal(proxy.address(), proxyPath);
    assert.equal(proxy.upstream, upPath);
    const s = net.connect({ path: proxyPath, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.end('over unix sockets');
    await within(once(s, 'end'), 5000, 'echo and EOF');
    assert.equal(Buffer.concat(chunks).toString(), 'over unix sockets');
    s.end();
    await until(() => proxy.stats().clients === 0 && proxy.stats().upstreams === 0, 'pair closed');
    assert.equal(pool.stats().blocksOutstanding, 0);
  } finally {
    await proxy.shutdown();
    await new Promise<void>((resolve) => upServer.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('maxConnections: clients beyond it are refused and counted', async () => {
  await using f = await proxyRig('echo', { maxConnections: 2 });
  const a = await RawClient.dial(f.port, { allowHalfOpen: false }).connected();
  const b = await RawClient.dial(f.port, { allowHalfOpen: false }).connected();
  a.socket.write('a');
  b.socket.write('b');
  await a.waitForReceived(1);
  await b.waitForReceived(1);
  const c = RawClient.dial(f.port, { allowHalfOpen: false });
  await within(c.closed, 5000, 'the third client refused');
  assert.equal(c.received, 0);
  assert.equal(f.proxy.stats().refused, 1);
  assert.equal(f.up.accepted, 2);
  a.socket.end();
  b.socket.end();
  await assertDrained(f);
});

test('idleTimeout closes a pair without traffic, without reporting it', async () => {
  await using f = await proxyRig('echo', { idleTimeout: 150 });
  const c = await RawClient.dial(f.port, { allowHalfOpen: false }).connected();
  c.socket.write('once');
  await c.waitForReceived(4);
  await within(c.closed, 5000, 'the idle pair closed');
  await assertDrained(f);
  await until(() => f.up.sockets.size === 0, 'upstream socket closed');
  assert.deepEqual(f.errors, []);
});

test('invalid options are refused with ERR_INVALID_OPTION', async () => {
  const invalid = { code: 'ERR_INVALID_OPTION' };
  assert.throws(() => new TcpProxy({} as never), invalid);
  assert.throws(() => new TcpProxy({ upstream: 'no-port' }), invalid);
  assert.throws(() => new TcpProxy({ upstream: '127.0.0.1:0' }), invalid);
  assert.throws(() => new TcpProxy({ upstream: { port: 70000 } }), invalid);
  assert.throws(() => new TcpProxy({ upstream: '127.0.0.1:1', dialTimeout: -1 }), invalid);
  assert.throws(() => new TcpProxy({ upstream: '127.0.0.1:1', maxInboundBytes: 0 }), invalid);
  assert.throws(() => new TcpProxy({ upstream: '127.0.0.1:1', onError: 'loud' as never }), invalid);
  await assert.rejects(createProxy({ upstream: '127.0.0.1:1', listen: null as never }), invalid);
});
