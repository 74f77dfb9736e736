// Supervision: a killed worker loses only its own connections and comes back; a crash loop backs
// off instead of spinning; a primary that dies takes its workers with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runCluster, clusterWorkerChannel, WorkerStartError, type Cluster } from '@nocopy/transport/cluster';
import { until } from '@nocopy/test-kit';
import { alive, connectEcho, echoWorker, perSlot, type Client } from './helpers.js';
import { echoChurn } from './load.js';

const port = (c: Cluster) => (c.address as { port: number }).port;
const neverReady = fileURLToPath(new URL('./workers/never-ready.js', import.meta.url));
const primaryScript = fileURLToPath(new URL('./workers/primary.js', import.meta.url));

test('SIGKILL of one worker: only its connections drop, new ones go to the other, it comes back', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 2, restart: { initial: 400, jitter: 0 } });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const clients: Client[] = [];
  for (let i = 0; i < 4; i++) clients.push(await connectEcho(port(cluster)));
  assert.deepEqual(perSlot(clients, 2), [2, 2]);
  const victim = cluster.stats().workers[0]!.pid!;
  const exited = once(cluster, 'worker-exit');
  process.kill(victim, 'SIGKILL');
  const [exit] = await exited;
  assert.deepEqual({ slot: exit.slot, pid: exit.pid, signal: exit.signal, expected: exit.expected }, { slot: 0, pid: victim, signal: 'SIGKILL', expected: false });
  // Its two connections are gone; the other two still echo.
  await Promise.all(clients.filter((c) => c.slot === 0).map((c) => c.closed));
  for (const c of clients.filter((c) => c.slot === 1)) assert.equal(await c.echo('still here'), 'still here');
  // While slot 0 waits to restart, every new connection goes to slot 1.
  assert.equal(cluster.stats().workers[0]!.state, 'down');
  const during: Client[] = [];
  for (let i = 0; i < 3; i++) during.push(await connectEcho(port(cluster)));
  assert.deepEqual(perSlot(during, 2), [0, 3]);
  // It comes back, as a new process in the same slot, and takes connections again.
  const [ready] = await once(cluster, 'worker-ready');
  assert.equal(ready.slot, 0);
  assert.notEqual(ready.pid, victim);
  const after: Client[] = [];
  for (let i = 0; i < 2; i++) after.push(await connectEcho(port(cluster)));
  assert.deepEqual(perSlot(after, 2), [1, 1]);
  const s = cluster.stats();
  assert.equal(s.workers[0]!.restarts, 1);
  assert.equal(s.workers[0]!.pid, ready.pid);
  // The slot's counts add its two workers' (2 before the kill, 1 after); the primary counted all 9.
  assert.equal(s.accepted, 9);
  await until(() => cluster.stats().workers[0]!.accepted === 3 && cluster.stats().workers[1]!.accepted === 6, () => `per-slot counts: ${JSON.stringify(cluster.stats().workers)}`);
  for (const c of [...clients, ...during, ...after]) c.socket.destroy();
});

test('a crash-looping worker backs off exponentially while the other serves', async (t) => {
  const cluster = await runCluster({ module: echoWorker, args: ['--crash-slot=1'], workers: 2, restart: { initial: 40, max: 320, jitter: 0 } });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const delays: number[] = [];
  cluster.on('restart-scheduled', (e) => {
    if (e.slot === 1) delays.push(e.delay);
  });
  // runCluster resolved with slot 1 failed once: its first restart is already scheduled (40 ms).
  await until(() => delays.length >= 5, () => `5 restarts of slot 1, saw ${JSON.stringify(delays)}`, 30_000);
  // 40 80 160 320 320 ...: a wait that doubles up to the cap, never a spin.
  assert.deepEqual(delays.slice(0, 5), [80, 160, 320, 320, 320]);
  assert.ok(cluster.stats().workers[1]!.failures >= 5);
  // The primary is still here, and slot 0 takes every connection.
  const clients = await Promise.all([0, 1, 2].map(() => connectEcho(port(cluster))));
  assert.deepEqual(perSlot(clients, 2), [3, 0]);
  for (const c of clients) c.socket.destroy();
});

/** Collects the cluster's supervision events (the channel also sees clusters that never resolved). */
function watch(): { events: Record<string, unknown>[]; done: () => void } {
  const events: Record<string, unknown>[] = [];
  const fn = (m: unknown) => events.push(m as Record<string, unknown>);
  clusterWorkerChannel.subscribe(fn);
  return { events, done: () => clusterWorkerChannel.unsubscribe(fn) };
}

test('every worker failing its first start rejects runCluster, leaving no process', async () => {
  const w = watch();
  try {
    await assert.rejects(runCluster({ module: echoWorker, args: ['--crash-all'], workers: 2 }), (e: unknown) => e instanceof WorkerStartError && e.code === 'ERR_CLUSTER_WORKER_START');
  } finally {
    w.done();
  }
  const exits = w.events.filter((e) => e.event === 'exit');
  // Both first starts crashed (code 4). On a busy machine slot 0's restart may come up before slot 1
  // has failed: that worker is killed by the rejection (a signal, no code). None is left.
  assert.equal(exits.filter((e) => e.code === 4).length >= 2, true, `exits: ${JSON.stringify(exits)}`);
  assert.ok(exits.every((e) => e.code === 4 || (e.code === null && e.signal !== null)), `exits: ${JSON.stringify(exits)}`);
  assert.ok(!exits.some((e) => alive(e.pid as number)));
  assert.equal(w.events.filter((e) => e.event === 'restart-scheduled').length <= 2, true, 'restarts scheduled before the rejection are cancelled');
});

test('a worker that never calls serveWorker() is killed after startTimeout', async () => {
  const w = watch();
  try {
    await assert.rejects(runCluster({ module: neverReady, workers: 1, startTimeout: 300 }), WorkerStartError);
  } finally {
    w.done();
  }
  const exits = w.events.filter((e) => e.event === 'exit');
  assert.equal(exits.length, 1);
  assert.equal(exits[0]!.signal, 'SIGKILL');
  assert.ok(!alive(exits[0]!.pid as number));
});

test('SIGKILL of the primary takes its workers down: no orphan', async () => {
  const primary = spawn(process.execPath, [primaryScript, echoWorker, '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port: p, pids } = JSON.parse(out) as { port: number; pids: number[] };
  assert.equal(pids.length, 2);
  assert.ok(pids.every(alive));
  // A connected client keeps one worker busy: it must exit anyway.
  const c = await connectEcho(p);
  primary.kill('SIGKILL');
  await once(primary, 'exit');
  await until(() => !pids.some(alive), () => `workers ${pids.filter(alive).join(', ')} to exit`, 10_000);
  await c.closed;
});

test('SIGTERM to one worker: it drains and exits 0, gets no new connections meanwhile, and is replaced; churn loses none', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 2, restart: { initial: 200, jitter: 0 } });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const victim = cluster.stats().workers[0]!.pid!;
  const churn = echoChurn(port(cluster));
  await until(() => churn.done >= 20 || churn.errors.length > 0, 'the churn to run', 20_000);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => cluster.on('worker-exit', (e) => e.pid === victim && resolve(e)));
  process.kill(victim, 'SIGTERM');
  const e = await exited;
  const [ready] = await once(cluster, 'worker-ready');
  const mark = churn.done;
  await until(() => churn.done >= mark + 20 || churn.errors.length > 0, 'the churn to go on after the replacement', 20_000);
  await churn.stop();
  const { done, errors } = churn;
  t.diagnostic(`connections: ${done} completed, ${errors.length} failed`);
  assert.deepEqual({ code: e.code, signal: e.signal }, { code: 0, signal: null }, 'a graceful exit, not death by the signal');
  assert.equal(ready.slot, 0);
  assert.deepEqual(errors, []);
  assert.ok(done > 0);
  assert.equal(cluster.stats().refused, 0);
});
