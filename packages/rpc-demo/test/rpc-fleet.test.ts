// RPC across several servers, in one process: every connection of every server takes calls, the
// least-pending balancer steers away from a slow server, a shutdown drains its clients without a
// failed call, $health, wait-for-ready, idempotent retries within their budget, and ejection of a
// failing server with its recovery.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { encode, decodeMultiStream } from '@msgpack/msgpack';
import { freePort } from '@nocopy/test-kit';
import { createServer, type RpcServer } from '../src/rpc/server.js';
import { createClient, type ClientOptions } from '../src/rpc/client.js';
import { sleep, until, within } from './rpc-helpers.js';
import { callers } from './fleet-helpers.js';

interface Counted {
  server: RpcServer;
  address: string;
  /** Calls by client connection (the peer's port). */
  byConn: Map<number, number>;
  total: () => number;
}

async function counted(name: string, setup?: (s: RpcServer) => void): Promise<Counted> {
  const server = createServer();
  const byConn = new Map<number, number>();
  server.use((ctx, next) => {
    byConn.set(ctx.peer.port ?? 0, (byConn.get(ctx.peer.port ?? 0) ?? 0) + 1);
    return next();
  });
  server.register('whoami', () => name);
  server.register('read', (k: unknown) => [name, k], { idempotent: true });
  setup?.(server);
  const a = (await server.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo;
  return { server, address: `127.0.0.1:${a.port}`, byConn, total: () => [...byConn.values()].reduce((x, y) => x + y, 0) };
}

function client(addresses: string[], o: Partial<ClientOptions> = {}) {
  return createClient({ addresses, ...o });
}

describe('many servers: spread', () => {
  it('2 servers x 2 connections: every connection takes calls, within 10% of even', async (t) => {
    const a = await counted('a');
    const b = await counted('b');
    const c = client([a.address, b.address], { connections: 2 });
    try {
      await c.call('whoami');
      await until(() => c.stats().connections === 4, 'all four connections');
      a.byConn.clear();
      b.byConn.clear();
      for (let round = 0; round < 50; round++) await Promise.all(Array.from({ length: 64 }, () => c.call('whoami')));
      const perConn = [...a.byConn.values(), ...b.byConn.values()];
      t.diagnostic(`calls: a ${a.total()}, b ${b.total()}; per connection ${perConn.join(', ')}`);
      assert.equal(a.total() + b.total(), 3200);
      assert.equal(perConn.length, 4, 'four connections took calls');
      for (const n of perConn) assert.ok(Math.abs(n - 800) <= 80, `each connection within 10% of 800: ${perConn.join(', ')}`);
    } finally {
      await c.close();
      await a.server.shutdown();
      await b.server.shutdown();
    }
  });

  it('least-pending sends fewer calls to a server made 10x slower; round-robin does not', async (t) => {
    const setup = (ms: number) => (s: RpcServer) => s.register('slow', () => sleep(ms));
    const fast = await counted('fast', setup(2));
    const slow = await counted('slow', setup(20));
    const share: Record<string, number> = {};
    try {
      for (const balancer of ['round-robin', 'least-pending'] as const) {
        const c = client([fast.address, slow.address], { connections: 1, balancer, outlier: false });
        await c.call('whoami');
        await until(() => c.stats().connections === 2, 'both connections');
        fast.byConn.clear();
        slow.byConn.clear();
        const load = callers(32, () => c.call('slow'));
        await sleep(1500);
        await load.stop();
        await c.close();
        assert.equal(load.failures.length, 0);
        share[balancer] = slow.total() / (fast.total() + slow.total());
        t.diagnostic(`${balancer}: fast ${fast.total()}, slow ${slow.total()} calls (slow share ${(share[balancer]! * 100).toFixed(1)}%)`);
      }
      assert.ok(share['round-robin']! > 0.4, 'round-robin gives the slow server its half');
      assert.ok(share['least-pending']! < 0.25, 'least-pending sends the slow server far fewer calls');
    } finally {
      await fast.server.shutdown();
      await slow.server.shutdown();
    }
  });
});

describe('many servers: drain', () => {
  it('a server shutting down under load: zero failed calls, the other takes them; its clients close their connections', async (t) => {
    const setup = (s: RpcServer) => s.register('work', () => sleep(3));
    const a = await counted('a', setup);
    const b = await counted('b', setup);
    const c = client([a.address, b.address], { connections: 2 });
    try {
      await c.call('whoami');
      const load = callers(32, () => c.call('work'));
      await until(() => a.total() > 50 && b.total() > 50, 'both servers to take calls', 10_000);
      const before = a.total();
      // Not idempotent, never retried: only the drain keeps these calls whole.
      await within(a.server.shutdown({ timeout: 5000 }), 6000, 'the drain of a');
      const afterDrain = b.total();
      await until(() => b.total() > afterDrain + 100, 'b to take the calls after the drain', 10_000);
      await load.stop();
      t.diagnostic(`a answered ${a.total()} calls (${a.total() - before} while draining), b ${b.total()}; failed ${load.failures.length}`);
      assert.deepEqual(load.failures, []);
      assert.ok(b.total() > afterDrain, 'b took the calls after the drain');
      assert.equal(a.server.stats().connections, 0);
    } finally {
      await c.close();
      await b.server.shutdown();
    }
  });

  it('$health answers serving, then draining while the server shuts down', async () => {
    const a = await counted('a', (s) => s.register('hold', () => sleep(300)));
    const c = client([a.address], { connections: 1 });
    try {
      assert.deepEqual(await c.call('$health'), { status: 'serving' });
      assert.throws(() => a.server.register('$health', () => 1), { code: 'ERR_INVALID_OPTION' });
      // A plain peer (no hello) keeps its connection through the drain and sees only its replies.
      const raw = net.connect(Number(a.address.split(':')[1]), '127.0.0.1');
      await once(raw, 'connect');
      const got: unknown[] = [];
      const reading = (async () => {
        for await (const m of decodeMultiStream(framedStream(raw))) got.push(m);
      })();
      raw.write(framed(encode([0, 1, 'hold', []])));
      await until(() => a.server.stats().inFlight === 1, 'the plain call to run');
      const stopping = a.server.shutdown({ timeout: 3000 });
      raw.write(framed(encode([0, 2, '$health', []])));
      await within(stopping, 5000, 'the shutdown');
      await reading.catch(() => {});
      assert.deepEqual(got, [[1, 1, null, null]], 'the plain peer got its reply and no notification (its input stopped being read at the drain)');
    } finally {
      await c.close();
    }
  });
});

describe('many servers: waiting and retries', () => {
  it('wait for ready: a call waits for a server that starts later; without it the call fails fast', async () => {
    const port = await freePort();
    const c = client([`127.0.0.1:${port}`], { connections: 1, backoff: { initial: 20, max: 100 } });
    let server: RpcServer | null = null;
    try {
      await assert.rejects(c.call('whoami'), { code: 'ERR_DIAL_FAILED' });
      const waiting = c.request('whoami', [], { waitForReady: true, timeout: 5000 });
      await sleep(200);
      server = createServer().register('whoami', () => 'late');
      await server.listen({ port, host: '127.0.0.1' });
      assert.equal(await within(waiting, 5000, 'the waiting call'), 'late');
      // Waiting for ready is bounded by the call's timeout.
      const nobody = createClient({ address: `127.0.0.1:${await freePort()}`, waitForReady: true, timeout: 200 });
      await assert.rejects(nobody.call('x'), { code: 'ERR_RPC_TIMEOUT' });
      await nobody.close();
    } finally {
      await c.close();
      await server?.shutdown();
    }
  });

  it('a dropped connection: an idempotent call is retried on the other server, a plain one fails with mayHaveRun', async () => {
    const good = await counted('good', (s) => s.register('write', () => 'written'));
    // A server that reads a request and resets the connection (no reply).
    let requests = 0;
    const bad = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.on('data', () => {
        requests++;
        sock.resetAndDestroy();
      });
    });
    bad.listen(0, '127.0.0.1');
    await once(bad, 'listening');
    const badAddress = `127.0.0.1:${(bad.address() as AddressInfo).port}`;
    const c = client([badAddress, good.address], { connections: 1, extensions: false, retry: { idempotent: ['read'] }, outlier: false, backoff: { initial: 10, max: 50 } });
    try {
      await until(() => c.stats().connections === 2, 'both connections');
      const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => c.call(i % 2 === 0 ? 'read' : 'write', i)));
      const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as { code?: string; mayHaveRun?: boolean; method?: string });
      for (const e of failed) {
        assert.equal(e.code, 'ERR_CONN_CLOSED');
        assert.equal(e.mayHaveRun, true);
        assert.equal(e.method, 'write', 'only non-idempotent calls fail');
      }
      assert.ok(c.stats().retries > 0, 'reads were retried');
      assert.equal(results.filter((r) => r.status === 'fulfilled' && Array.isArray(r.value)).length, 20, 'every read succeeded');
    } finally {
      await c.close();
      await good.server.shutdown();
      bad.close();
    }
    assert.ok(requests > 0);
  });

  it('retries stay within the budget: with every server failing, a bucket of 10 allows 4 retries', async (t) => {
    let requests = 0;
    const bad = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.on('data', (d) => {
        requests += countFrames(d);
        sock.resetAndDestroy();
      });
    });
    bad.listen(0, '127.0.0.1');
    await once(bad, 'listening');
    const c = client([`127.0.0.1:${(bad.address() as AddressInfo).port}`], { connections: 1, extensions: false, outlier: false, backoff: { initial: 1, max: 5 }, retry: { idempotent: ['read'], maxAttempts: 5, budget: { maxTokens: 10, tokenRatio: 0.1 } } });
    try {
      for (let i = 0; i < 20; i++) {
        await until(() => c.stats().connections === 1, 'the connection');
        await assert.rejects(c.request('read', [i], { waitForReady: true }), { code: 'ERR_CONN_CLOSED' });
      }
      t.diagnostic(`20 calls, ${c.stats().retries} retries, ${c.stats().retriesThrottled} refused by the budget, ${requests} requests reached the server`);
      assert.equal(c.stats().retries, 4, 'tokens 10 -> 5: four retries, then the bucket is at half');
      assert.equal(requests, 24);
    } finally {
      await c.close();
      bad.close();
    }
  });
});

describe('many servers: ejection', () => {
  it('a server whose calls time out is ejected, then probed back once it recovers', async (t) => {
    let sick = true;
    const setup = (s: RpcServer) => s.register('op', () => (sick ? new Promise(() => {}) : 'ok'));
    const a = await counted('a', setup);
    const b = await counted('b', (s) => s.register('op', () => 'ok'));
    const c = client([a.address, b.address], { connections: 1, timeout: 100, outlier: { consecutiveFailures: 3, baseEjectionTime: 500, latencyFactor: 0 } });
    try {
      await c.call('whoami');
      await until(() => c.stats().connections === 2, 'both connections');
      const first = await Promise.allSettled(Array.from({ length: 20 }, () => c.call('op')));
      const timedOut = first.filter((r) => r.status === 'rejected').length;
      await until(() => c.stats().ejected === 1, 'a to be ejected');
      a.byConn.clear();
      const during = await Promise.allSettled(Array.from({ length: 50 }, () => c.call('op')));
      assert.equal(during.filter((r) => r.status === 'rejected').length, 0, 'no call goes to the ejected server');
      assert.equal(a.total(), 0);
      sick = false;
      const recovered = Date.now();
      await until(() => c.stats().ejected === 0, 'the probe to bring a back', 5000);
      const back = Date.now() - recovered;
      await Promise.all(Array.from({ length: 50 }, () => c.call('op')));
      t.diagnostic(`${timedOut} of 20 calls timed out before the ejection; a back ${back} ms after it recovered (ejection 500 ms), then ${a.total()} calls`);
      assert.ok(a.total() >= 15, `a gets its share back: ${a.total()} of 50`);
    } finally {
      await c.close();
      await a.server.shutdown({ timeout: 100 });
      await b.server.shutdown();
    }
  });
});

describe('many servers: latency outliers', () => {
  it('a server far slower than the others is ejected on its latency, the others take its calls', async (t) => {
    const mk = (name: string, ms: number) => counted(name, (s) => s.register('op', () => sleep(ms).then(() => name)));
    const fleet = [await mk('a', 1), await mk('b', 1), await mk('slow', 40)];
    const c = client(fleet.map((f) => f.address), { connections: 1, outlier: { interval: 400, latencyFactor: 5, minRequests: 10, consecutiveFailures: 0, baseEjectionTime: 60_000 } });
    try {
      await c.ready();
      const load = callers(24, () => c.call('op'));
      await until(() => c.stats().ejected === 1, 'the slow server to be ejected', 10_000);
      // A call written just before the ejection reaches the slow server a loop turn later: once the
      // others have taken 50 more calls, every such call has arrived (all servers are in this process).
      const others = () => fleet[0]!.total() + fleet[1]!.total();
      const ejectedAt = others();
      await until(() => others() >= ejectedAt + 50, () => `50 more calls on a and b (${others() - ejectedAt})`, 10_000);
      const slowAt = fleet[2]!.total();
      // 200 more calls answered by the others: had any gone to the ejected server, it would show.
      const othersAt = others();
      await until(() => others() >= othersAt + 200, () => `200 more calls on a and b (${others() - othersAt})`, 10_000);
      await load.stop();
      t.diagnostic(`calls: ${[...load.byResult].map(([k, v]) => `${k} ${v}`).join(', ')}; the slow one got ${fleet[2]!.total() - slowAt} after its ejection`);
      assert.deepEqual(load.failures, []);
      assert.equal(fleet[2]!.total(), slowAt, 'no call reached the ejected server');
    } finally {
      await c.close();
      for (const f of fleet) await f.server.shutdown();
    }
  });
});

/** A 4-byte length before `b`. */
function framed(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  out.set(b, 4);
  return out;
}

/** The bodies of a framed byte stream. */
async function* framedStream(sock: net.Socket): AsyncGenerator<Uint8Array> {
  let buf = Buffer.alloc(0);
  for await (const chunk of sock) {
    buf = Buffer.concat([buf, chunk as Buffer]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      yield buf.subarray(4, 4 + n);
      buf = buf.subarray(4 + n);
    }
  }
}

/** Framed requests in one chunk (a test server that reads whole chunks). */
function countFrames(d: Buffer): number {
  let n = 0;
  for (let i = 0; i + 4 <= d.length; n++) i += 4 + d.readUInt32BE(i);
  return n;
}
