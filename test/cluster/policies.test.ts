// Connections are spread by each policy, counted per worker by the workers' own greetings and by the
// primary's stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCluster, type Cluster } from '@nocopy/transport/cluster';
import { until } from '@nocopy/test-kit';
import { connectEcho, echoWorker, perSlot, type Client } from './helpers.js';
import type * as Policies from '../../packages/transport/src/cluster/policies.js';

// sourceHashSlot is internal to the package (not exported by /cluster): load the built module next to its entry point.
const { sourceHashSlot } = (await import(new URL('./policies.js', import.meta.resolve('@nocopy/transport/cluster')).href)) as typeof Policies;

const port = (c: Cluster) => (c.address as { port: number }).port;

async function closeAll(clients: Client[]): Promise<void> {
  for (const c of clients) c.socket.destroy();
  await Promise.all(clients.map((c) => c.closed));
}

test('round-robin: 6 connections over 3 workers, 2 each; stats agree', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 3, policy: 'round-robin' });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const clients: Client[] = [];
  for (let i = 0; i < 6; i++) clients.push(await connectEcho(port(cluster)));
  assert.deepEqual(perSlot(clients, 3), [2, 2, 2]);
  assert.equal(await clients[0]!.echo('hello'), 'hello');
  await until(() => cluster.stats().connections === 6, () => `stats: ${JSON.stringify(cluster.stats())}`);
  const s = cluster.stats();
  assert.deepEqual(s.workers.map((w) => w.connections), [2, 2, 2]);
  assert.deepEqual(s.workers.map((w) => w.accepted), [2, 2, 2]);
  assert.equal(s.accepted, 6);
  assert.equal(s.refused, 0);
  assert.equal(s.mode, 'primary');
  // Each slot's pid is the one its clients were greeted by.
  for (const c of clients) assert.equal(s.workers[c.slot]!.pid, c.pid);
  await closeAll(clients);
  await until(() => cluster.stats().connections === 0, 'the closes to be reported');
});

test('least-connections: new connections go to the worker with fewest open', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 2, policy: 'least-connections' });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const clients: Client[] = [];
  for (let i = 0; i < 4; i++) clients.push(await connectEcho(port(cluster)));
  assert.deepEqual(perSlot(clients, 2), [2, 2]);
  // Reports come every 20 ms: first both slots report their 2 open.
  await until(() => cluster.stats().workers.every((w) => w.connections === 2), () => `2 open each: ${JSON.stringify(cluster.stats().workers)}`);
  // Close both of slot 0's: once reported, the next connections go to slot 0 until it is level with slot 1.
  const gone = clients.filter((c) => c.slot === 0);
  await closeAll(gone);
  await until(() => cluster.stats().workers[0]!.connections === 0, () => `slot 0 to report 0: ${JSON.stringify(cluster.stats().workers)}`);
  const next: Client[] = [];
  for (let i = 0; i < 2; i++) next.push(await connectEcho(port(cluster)));
  assert.deepEqual(perSlot(next, 2), [2, 0], 'both new connections go to the emptier worker');
  // Round-robin would have split them: the policy is what made the difference.
  await closeAll([...clients.filter((c) => c.slot === 1), ...next]);
});

test('least-connections counts sockets handed but not yet reported', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 2, policy: 'least-connections' });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  // Opened all at once (no report can arrive between them): still an even split.
  const clients = await Promise.all(Array.from({ length: 8 }, () => connectEcho(port(cluster))));
  assert.deepEqual(perSlot(clients, 2), [4, 4]);
  await closeAll(clients);
});

test('source-hash: each source address sticks to the slot its hash names', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 3, policy: 'source-hash' });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const sources = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
  const clients: Client[] = [];
  for (const ip of sources) {
    for (let i = 0; i < 3; i++) {
      const c = await connectEcho(port(cluster), ip);
      assert.equal(c.slot, sourceHashSlot(ip, 3), `${ip} goes to slot ${sourceHashSlot(ip, 3)}`);
      clients.push(c);
    }
  }
  // The chosen addresses do not all hash to one slot, so this also shows the spread.
  assert.ok(new Set(sources.map((ip) => sourceHashSlot(ip, 3))).size > 1);
  await closeAll(clients);
});
