// The client layer's channel over real sockets: weights and priorities, endpoints that come and go
// (the vanished ones drained, not cut), the bound on ejections, fail-fast and waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Channel, type Endpoint, type Resolver, type ResolverListener, StaticResolver, leastPending, resolveOutlier, roundRobin, type Subchannel } from '../src/index.js';
import { resolveBackoff } from '../src/util/index.js';
import { freePort, until } from './helpers.js';

interface Link {
  sock: net.Socket;
  retired: boolean;
}

async function listeners(n: number): Promise<{ servers: net.Server[]; sockets: Set<net.Socket>[]; addresses: string[]; close: () => Promise<void> }> {
  const servers: net.Server[] = [];
  const sockets: Set<net.Socket>[] = [];
  for (let i = 0; i < n; i++) {
    const socks = new Set<net.Socket>();
    sockets.push(socks);
    const s = net.createServer((c) => {
      socks.add(c);
      c.on('error', () => {});
      c.on('close', () => socks.delete(c));
    });
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    servers.push(s);
  }
  return {
    servers,
    sockets,
    addresses: servers.map((s) => `127.0.0.1:${(s.address() as AddressInfo).port}`),
    close: async () => {
      for (const socks of sockets) for (const c of socks) c.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function channel(resolver: Resolver, o: { perEndpoint?: number; balancer?: 'rr' | 'lp'; outlier?: Parameters<typeof resolveOutlier>[0] } = {}) {
  const retired: Link[] = [];
  const ch: Channel<Link> = new Channel<Link>({
    resolver,
    connectionsPerEndpoint: o.perEndpoint ?? 1,
    balancer: o.balancer === 'lp' ? leastPending() : roundRobin(),
    backoff: resolveBackoff({ initial: 10, max: 50 }),
    outlier: resolveOutlier(o.outlier ?? false),
    connector: {
      connect: (address: string, signal: AbortSignal, sub: Subchannel<Link>) =>
        new Promise<Link>((resolve, reject) => {
          const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
          const sock = net.connect(port, host);
          const link: Link = { sock, retired: false };
          sock.once('connect', () => resolve(link));
          sock.once('error', reject);
          sock.once('close', () => ch.lost(sub, link, new Error('closed')));
          signal.addEventListener('abort', () => sock.destroy(), { once: true });
        }),
      retire: (link) => {
        link.retired = true;
        retired.push(link);
        link.sock.end();
      },
    },
  });
  return { ch, retired };
}

/** A resolver whose answers the test pushes. */
class PushResolver implements Resolver {
  listener: ResolverListener | null = null;
  asked = 0;
  start(l: ResolverListener): void {
    this.listener = l;
  }
  push(eps: Endpoint[]): void {
    this.listener!.onEndpoints(eps);
  }
  resolveNow(): void {
    this.asked++;
  }
  async close(): Promise<void> {}
}

function countPicks(ch: Channel<Link>, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const s = ch.pick()!;
    m.set(s.address, (m.get(s.address) ?? 0) + 1);
  }
  return m;
}

test('weights: picks follow the endpoints\' weights; equal weights round-robin exactly', async (t) => {
  const l = await listeners(2);
  const { ch } = channel(new StaticResolver([{ address: l.addresses[0]!, weight: 1 }, { address: l.addresses[1]!, weight: 3 }]));
  const even = channel(new StaticResolver(l.addresses), { perEndpoint: 2 });
  try {
    await until(() => ch.stats().ready === 2 && even.ch.stats().ready === 4, 'ready');
    const picks = countPicks(ch, 8000);
    t.diagnostic(`weights 1:3 -> ${[...picks.values()].join(':')}`);
    const heavy = picks.get(l.addresses[1]!)!;
    assert.ok(Math.abs(heavy - 6000) < 400, `about 3/4 to the weight-3 endpoint: ${heavy}`);
    assert.deepEqual([...countPicks(even.ch, 400).values()], [200, 200]);
  } finally {
    await ch.close();
    await even.ch.close();
    await l.close();
  }
});

test('priorities: only the best priority with a ready endpoint takes calls; the next one when it is down', async () => {
  const l = await listeners(2);
  const { ch } = channel(new StaticResolver([{ address: l.addresses[0]!, priority: 0 }, { address: l.addresses[1]!, priority: 1 }]));
  try {
    await until(() => ch.stats().ready === 2, 'ready');
    assert.deepEqual([...countPicks(ch, 10).keys()], [l.addresses[0]]);
    // The priority-0 server goes away: it stops listening and its connections are reset.
    const closed = new Promise((r) => l.servers[0]!.close(r));
    for (const c of l.sockets[0]!) c.destroy();
    await closed;
    await until(() => ch.pick()?.address === l.addresses[1], 'the priority-1 endpoint');
  } finally {
    await ch.close();
    await l.close();
  }
});

test('endpoints that vanish are retired (drained, not cut), new ones dialed; a lost connection asks the resolver again', async () => {
  const l = await listeners(3);
  const r = new PushResolver();
  const { ch, retired } = channel(r, { perEndpoint: 2 });
  try {
    r.push([{ address: l.addresses[0]! }, { address: l.addresses[1]! }]);
    await until(() => ch.stats().ready === 4, 'four ready');
    r.push([{ address: l.addresses[1]! }, { address: l.addresses[2]! }]);
    assert.equal(retired.length, 2, 'the two links of the vanished endpoint were retired');
    await until(() => ch.stats().ready === 4, 'the new endpoint dialed');
    assert.deepEqual(new Set(countPicks(ch, 40).keys()), new Set([l.addresses[1], l.addresses[2]]));
    const asked = r.asked;
    ch.pick()!.link!.sock.destroy();
    await until(() => r.asked > asked, 'a re-resolution');
    r.push([]);
    await assert.rejects(ch.wait({ timeout: 0, signal: null, waitForReady: false }), { code: 'ERR_UNAVAILABLE' });
  } finally {
    await ch.close();
    await l.close();
  }
});

test('ejection is bounded: of 10 failing endpoints, 10% may be ejected at once', async () => {
  const l = await listeners(10);
  const { ch } = channel(new StaticResolver(l.addresses), { outlier: { consecutiveFailures: 2, latencyFactor: 0, maxEjectionPercent: 10 } });
  try {
    await until(() => ch.stats().ready === 10, 'ready');
    for (const e of ch.endpoints) for (let i = 0; i < 5; i++) ch.report(e, true, 1);
    assert.equal(ch.stats().ejected, 1);
    assert.equal(new Set(countPicks(ch, 90).keys()).size, 9, 'the other nine still take calls');
  } finally {
    await ch.close();
    await l.close();
  }
});

test('fail fast once every endpoint is failing; waitForReady waits until one is back', async () => {
  const port = await freePort();
  const { ch } = channel(new StaticResolver([`127.0.0.1:${port}`]));
  let server: net.Server | null = null;
  try {
    await assert.rejects(ch.wait({ timeout: 2000, signal: null, waitForReady: false }), (e: unknown) => (e as { code?: string }).code === 'ECONNREFUSED');
    const waiting = ch.wait({ timeout: 5000, signal: null, waitForReady: true });
    server = net.createServer((c) => c.on('error', () => {}));
    server.listen(port, '127.0.0.1');
    const sub = await waiting;
    assert.equal(sub.state, 'ready');
  } finally {
    await ch.close();
    await new Promise((r) => (server === null ? r(undefined) : server.close(r)));
  }
});

