// bench/fleet: the RPC client across many servers, planned past this machine by simulation.
//   1. the balancer's pick: ns per pick with 2 to 1,000 ready endpoints (round-robin, least-pending)
//   2. end to end: one client over 2 and over 1,000 endpoints (listeners spread over 4 server
//      processes on CPU 0; the client in this process, on CPU 1), 64 calls in flight: req/s, client
//      and server CPU µs per call, and the client's memory per endpoint
//   3. re-resolution: the 1,000-record answer pushed again every 100 ms (reordered, weights changed,
//      so the candidates are rebuilt) while the calls run: the time each push takes, the event-loop
//      delay and the calls' p99, against the same run without pushes
// Usage: node bench/dist/fleet/main.js [--quick]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Channel, type Endpoint, type Resolver, type ResolverListener, leastPending, roundRobin } from '@nocopy/transport';
import { resolveBackoff } from '@nocopy/transport/util';
import { createClient } from '@nocopy/rpc-demo';
import { nextMessage, pinnedNode, type ServerCpu } from '../lib/processes.js';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures } from '../lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const seconds = quick ? 0.5 : 3;
const rounds = quick ? 1 : 3;
const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));

// This process is the client: on CPU 1, as bench/lib pins load generators.
if (spawnSync('taskset', ['-c', '0', 'true']).status === 0) spawnSync('taskset', ['-pc', '1', String(process.pid)]);

/** A resolver whose answers the bench pushes. */
class PushResolver implements Resolver {
  listener: ResolverListener | null = null;
  constructor(readonly first: Endpoint[]) {}
  start(l: ResolverListener): void {
    this.listener = l;
    queueMicrotask(() => l.onEndpoints(this.first));
  }
  resolveNow(): void {}
  async close(): Promise<void> {}
}

// ---- 1. pick cost ----
async function pickCost(n: number, balancer: 'round-robin' | 'least-pending'): Promise<number> {
  // Links are plain objects: this measures the channel and the balancer, not sockets.
  const eps = Array.from({ length: n }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}:1` }));
  const ch = new Channel<object>({
    resolver: new PushResolver(eps),
    connectionsPerEndpoint: 1,
    balancer: balancer === 'round-robin' ? roundRobin() : leastPending(),
    backoff: resolveBackoff({}),
    outlier: null,
    connector: { connect: async () => ({}), retire: () => {} },
  });
  while (ch.stats().ready < n) await new Promise((r) => setImmediate(r));
  const iters = quick ? 200_000 : 2_000_000;
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    let sink = 0;
    for (let i = 0; i < iters; i++) {
      const s = ch.pick()!;
      s.load = (s.load + 1) & 7; // loads that differ, as calls in flight do
      sink += s.load;
    }
    samples.push(((performance.now() - t0) * 1e6) / iters);
    if (sink < 0) console.log(sink);
  }
  await ch.close();
  return median(samples);
}

// ---- 2 and 3. end to end ----
interface E2E {
  rps: number;
  clientUsPerCall: number;
  serverUsPerCall: number;
  p99ms: number;
  loopDelayMaxMs: number;
  heapKiBPerEndpoint: number;
  rssKiBPerEndpoint: number;
  pushMs: number[];
}

async function endToEnd(endpoints: number, push: boolean): Promise<E2E> {
  const procs = endpoints >= 4 ? 4 : endpoints;
  const servers = Array.from({ length: procs }, (_, i) => pinnedNode(0, [join(here, 'servers.js'), String(Math.floor(endpoints / procs) + (i < endpoints % procs ? 1 : 0))], true));
  const ports = (await Promise.all(servers.map((s) => nextMessage<{ ports: number[] }>(s)))).flatMap((m) => m.ports);
  global.gc?.();
  const heap0 = process.memoryUsage();
  const eps: Endpoint[] = ports.map((p) => ({ address: `127.0.0.1:${p}` }));
  const resolver = new PushResolver(eps);
  const client = createClient({ resolver, connections: 1, timeout: 30_000 });
  await client.ready({ timeout: 60_000 });
  global.gc?.();
  const heap1 = process.memoryUsage();
  const payload = Buffer.alloc(128, 7);
  // Warm up, then measure.
  let running = true;
  const lat = createHistogram();
  let calls = 0;
  const lanes = Array.from({ length: 64 }, async () => {
    while (running) {
      const t0 = performance.now();
      await client.call('echo', payload);
      lat.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
      calls++;
    }
  });
  await new Promise((r) => setTimeout(r, quick ? 200 : 1000));
  lat.reset();
  calls = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const pushMs: number[] = [];
  let version = 0;
  const pusher = push
    ? setInterval(() => {
        // The same servers, reordered, with weights that change: the candidates are rebuilt on the next pick.
        version++;
        const list = eps.map((e, i) => ({ address: e.address, weight: 1 + ((i + version) % 3) })).reverse();
        const t0 = performance.now();
        resolver.listener!.onEndpoints(list);
        client.call('echo', payload).catch(() => {}); // the first pick after it pays the rebuild
        pushMs.push(performance.now() - t0);
      }, 100)
    : null;
  for (const s of servers) s.send('start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const n = calls;
  if (pusher !== null) clearInterval(pusher);
  loop.disable();
  // The calls in flight finish before the servers report (and exit): their CPU includes those few.
  running = false;
  await Promise.all(lanes);
  await client.close();
  const serverCpu = await Promise.all(
    servers.map((s) => {
      const m = nextMessage<ServerCpu>(s);
      s.send('stop');
      return m;
    }),
  );
  for (const s of servers) s.kill();
  const serverMs = serverCpu.reduce((a, c) => a + c.cpuUserMs + c.cpuSystemMs, 0);
  return {
    rps: (n / wall) * 1000,
    clientUsPerCall: ((cpu.user + cpu.system) / n),
    serverUsPerCall: (serverMs * 1000) / n,
    p99ms: lat.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
    heapKiBPerEndpoint: (heap1.heapUsed - heap0.heapUsed) / 1024 / endpoints,
    rssKiBPerEndpoint: (heap1.rss - heap0.rss) / 1024 / endpoints,
    pushMs,
  };
}

async function main(): Promise<void> {
  console.log(`fleet: the RPC client across many servers (${rounds} round(s) of ${seconds} s; client on CPU 1, servers on CPU 0)`);
  const sizes = [2, 10, 100, 1000];
  const picks: Record<string, number[]> = { 'round-robin': [], 'least-pending': [] };
  for (const b of ['round-robin', 'least-pending'] as const) for (const n of sizes) picks[b]!.push(await pickCost(n, b));
  console.log('\n1. the balancer: ns per pick (ready endpoints, one connection each)');
  printTable(['balancer', ...sizes.map((n) => `${n} endpoints`)], (['round-robin', 'least-pending'] as const).map((b) => [b, ...picks[b]!.map((x) => x.toFixed(1))]));
  recordFigures((['round-robin', 'least-pending'] as const).flatMap((b) => sizes.map((n, i) => figure({ suite: 'fleet', group: `pick, ${b}`, subject: `${n} endpoints`, metric: 'ns/pick', better: 'lower', ...(n !== 2 ? { baseline: '2 endpoints' } : {}) }, [picks[b]![i]!]))));

  const runs = new Map<string, E2E[]>();
  const cases: [string, number, boolean][] = [['2 endpoints', 2, false], ['1,000 endpoints', 1000, false], ['1,000 endpoints, re-resolved every 100 ms', 1000, true]];
  for (let r = 0; r < rounds; r++) for (const [name, n, push] of cases) (runs.get(name) ?? runs.set(name, []).get(name)!).push(await endToEnd(n, push));
  const med = (name: string, f: (e: E2E) => number) => median(runs.get(name)!.map(f));
  console.log('\n2-3. one client, 64 calls in flight, one connection per endpoint, round-robin');
  printTable(
    ['case', 'req/s', 'client µs/call', 'server µs/call', 'p99', 'max loop delay', 'client heap/endpoint', 'client RSS/endpoint', 'push (median, max)'],
    cases.map(([name]) => {
      const pushes = runs.get(name)!.flatMap((e) => e.pushMs);
      return [
        name,
        fmtRate(med(name, (e) => e.rps)),
        med(name, (e) => e.clientUsPerCall).toFixed(2),
        med(name, (e) => e.serverUsPerCall).toFixed(2),
        `${med(name, (e) => e.p99ms).toFixed(2)} ms`,
        `${med(name, (e) => e.loopDelayMaxMs).toFixed(1)} ms`,
        name.startsWith('2 ') ? '-' : `${med(name, (e) => e.heapKiBPerEndpoint).toFixed(1)} KiB`,
        name.startsWith('2 ') ? '-' : `${med(name, (e) => e.rssKiBPerEndpoint).toFixed(1)} KiB`,
        pushes.length === 0 ? '-' : `${median(pushes).toFixed(2)} ms, ${Math.max(...pushes).toFixed(2)} ms`,
      ];
    }),
  );
  recordFigures(
    cases.flatMap(([name]): ReturnType<typeof figure>[] => {
      const rs = runs.get(name)!;
      const base = { suite: 'fleet', group: 'one client, 64 in flight', subject: name, ...(name !== '2 endpoints' ? { baseline: '2 endpoints' } : {}) };
      return [
        figure({ ...base, metric: 'req/s', better: 'higher' }, rs.map((e) => e.rps)),
        figure({ ...base, metric: 'client µs/call', better: 'lower' }, rs.map((e) => e.clientUsPerCall)),
        figure({ ...base, metric: 'p99 ms', better: 'lower' }, rs.map((e) => e.p99ms)),
        figure({ ...base, metric: 'max loop delay ms', better: 'lower' }, rs.map((e) => e.loopDelayMaxMs)),
      ];
    }),
  );
  if (quick) console.log('(--quick: one short round; numbers are not meaningful)');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
