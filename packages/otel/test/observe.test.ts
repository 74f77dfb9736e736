// observe(): the stats() of real nocopy objects (an EventLoop, a TCP proxy, an RPC client, a
// BlockPool) as observable instruments, read at collection time; the kind told from stats(); what is
// not a nocopy object refused; disable() stops the points.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop } from '@nocopy/transport';
import { createProxy } from '@nocopy/proxy';
import { createClient, createServer } from '@nocopy/rpc-demo';
import { until } from '@nocopy/test-kit';
import { observe } from '../src/index.js';
import { TestReader, key } from './reader.js';

function setup(): { reader: TestReader; meterProvider: MeterProvider } {
  const reader = new TestReader();
  return { reader, meterProvider: new MeterProvider({ readers: [reader] }) };
}

describe('observe', () => {
  it('reads an EventLoop: live connections and the inbound budget in use', async () => {
    const { reader, meterProvider } = setup();
    // A handler that reads nothing: the bytes stay buffered, counted against the budget.
    const loop = new EventLoop(() => {}, {});
    const addr = (await loop.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo;
    using o = observe(loop, { meterProvider, attributes: { 'nocopy.name': 'edge' } });
    assert.equal(o.kind, 'transport');
    const s = net.connect(addr.port, '127.0.0.1');
    await once(s, 'connect');
    s.write(Buffer.alloc(1000, 1));
    await until(() => loop.stats().inboundBytes === 1000, 'the bytes buffered');
    const n = await reader.numbers();
    assert.equal(n.get(key('nocopy.transport.connections', { 'nocopy.name': 'edge' })), 1);
    assert.equal(n.get(key('nocopy.transport.accepted', { 'nocopy.name': 'edge' })), 1);
    assert.equal(n.get(key('nocopy.transport.inbound.bytes', { 'nocopy.name': 'edge' })), 1000);
    s.destroy();
    await loop.shutdown({ timeout: 1000 });
  });

  it('reads a proxy (bytes each way) and an RPC client; disable() stops the points', async () => {
    const { reader, meterProvider } = setup();
    const upstream = net.createServer((c) => c.pipe(c)).listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const proxy = await createProxy({ listen: { port: 0, host: '127.0.0.1' }, upstream: { port: (upstream.address() as AddressInfo).port, host: '127.0.0.1' } });
    const p = observe(proxy, { meterProvider });
    assert.equal(p.kind, 'proxy');
    const s = net.connect((proxy.address() as AddressInfo).port, '127.0.0.1');
    s.end(Buffer.alloc(5000, 2));
    let got = 0;
    for await (const chunk of s) got += (chunk as Buffer).length;
    assert.equal(got, 5000);
    const n = await reader.numbers();
    assert.equal(n.get(key('nocopy.proxy.bytes', { 'network.io.direction': 'up' })), 5000);
    assert.equal(n.get(key('nocopy.proxy.bytes', { 'network.io.direction': 'down' })), 5000);
    assert.equal(n.get(key('nocopy.proxy.accepted')), 1);

    const server = createServer().register('echo', (x: unknown) => x);
    const addr = (await server.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo;
    const client = createClient({ address: `127.0.0.1:${addr.port}`, connections: 1 });
    try {
      using c = observe(client, { meterProvider });
      using srv = observe(server, { meterProvider });
      assert.deepEqual([c.kind, srv.kind], ['rpc-client', 'rpc-server']);
      for (let i = 0; i < 7; i++) await client.call('echo', i);
      // Disabled: the proxy's next connection is not read any more (the SDK keeps the last value).
      p.disable();
      const s2 = net.connect((proxy.address() as AddressInfo).port, '127.0.0.1');
      s2.end();
      for await (const _ of s2);
      await until(() => proxy.stats().accepted === 2, 'the second connection');
      const m = await reader.numbers();
      assert.equal(m.get(key('nocopy.rpc.client.calls')), 7);
      assert.equal(m.get(key('nocopy.rpc.client.connections')), 1);
      assert.equal(m.get(key('nocopy.rpc.server.calls', { 'rpc.method': 'echo' })), 7);
      assert.equal(m.get(key('nocopy.proxy.accepted')), 1, 'not read once disabled');
    } finally {
      await client.close();
      await server.shutdown();
      await proxy.shutdown();
      upstream.close();
    }
  });

  it('reads a BlockPool: memory in use and idle', async () => {
    const { reader, meterProvider } = setup();
    const pool = new BlockPool();
    using o = observe(pool, { meterProvider });
    assert.equal(o.kind, 'pool');
    const block = pool.acquire(4096);
    const n = await reader.numbers();
    assert.equal(n.get(key('nocopy.pool.memory', { state: 'in_use' })), pool.stats().bytesOutstanding);
    assert.ok(pool.stats().bytesOutstanding >= 4096);
    pool.release(block);
  });

  it('refuses what is not a nocopy object', () => {
    assert.throws(() => observe({} as never), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => observe({ stats: () => ({ what: 1 }) }), { code: 'ERR_INVALID_OPTION', message: /what/ });
  });
});
