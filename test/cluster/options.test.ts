// The cluster's edges: connections held while no worker is up, a restart whose new workers fail,
// reusePort detection, bad options and a worker module run outside a cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync, mkdtempSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { InvalidOptionError } from '@nocopy/transport';
import { runCluster, reusePortSupported, ClusterStoppedError, ReusePortUnsupportedError, WorkerStartError, type Cluster } from '@nocopy/transport/cluster';
import { until } from '@nocopy/test-kit';
import { connectEcho, echoWorker, perSlot } from './helpers.js';

const port = (c: Cluster) => (c.address as { port: number }).port;

test('while no worker is up, accepted connections wait in the primary and are served when one is', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 1, restart: { initial: 300, jitter: 0 } });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const first = cluster.stats().workers[0]!.pid!;
  const exited = once(cluster, 'worker-exit');
  process.kill(first, 'SIGKILL');
  await exited;
  const waiting = connectEcho(port(cluster));
  await until(() => cluster.stats().pending === 1, 'the connection to wait in the primary');
  const c = await waiting;
  assert.notEqual(c.pid, first, 'served by the restarted worker');
  assert.equal(await c.echo('late'), 'late');
  assert.equal(cluster.stats().pending, 0);
  assert.equal(cluster.stats().refused, 0);
  c.socket.destroy();
});

test('past maxPending, connections are refused and counted', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 1, maxPending: 1, restart: { initial: 500, jitter: 0 } });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const exited = once(cluster, 'worker-exit');
  process.kill(cluster.stats().workers[0]!.pid!, 'SIGKILL');
  await exited;
  const kept = connectEcho(port(cluster));
  await until(() => cluster.stats().pending === 1, 'one connection pending');
  const refused = net.connect(port(cluster), '127.0.0.1');
  refused.on('error', () => {});
  await once(refused, 'close');
  assert.equal(cluster.stats().refused, 1);
  const c = await kept;
  c.socket.destroy();
});

test('restart() whose new workers fail to start rejects and leaves the old ones serving', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-cluster-'));
  const flag = join(dir, 'bad-deploy');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cluster = await runCluster({ module: echoWorker, workers: 2, args: [`--crash-if=${flag}`] });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const pids = cluster.stats().workers.map((w) => w.pid);
  writeFileSync(flag, '');
  await assert.rejects(cluster.restart(), (e: unknown) => e instanceof WorkerStartError && e.slot === 0);
  assert.deepEqual(cluster.stats().workers.map((w) => w.pid), pids, 'the same processes still serve');
  const clients = await Promise.all([0, 1].map(() => connectEcho(port(cluster))));
  assert.deepEqual(perSlot(clients, 2), [1, 1]);
  assert.deepEqual(clients.map((c) => c.pid).sort(), [...pids].sort());
  for (const c of clients) c.socket.destroy();
  // Fixed: the next restart goes through.
  rmSync(flag);
  await cluster.restart();
  assert.ok(cluster.stats().workers.every((w, i) => w.pid !== pids[i] && w.restarts === 1));
});

test('reusePort: detected by trying it; true is refused where unsupported, auto falls back to the primary', async (t) => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const expected = process.platform === 'linux' && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
  const supported = await reusePortSupported();
  assert.equal(supported, expected, `reusePort on Node ${process.version} ${process.platform}`);
  if (supported) return;
  await assert.rejects(runCluster({ module: echoWorker, workers: 1, reusePort: true, listen: { port: 0 } }), (e: unknown) => e instanceof ReusePortUnsupportedError && e.code === 'ERR_REUSEPORT_UNSUPPORTED');
  const cluster = await runCluster({ module: echoWorker, workers: 1, reusePort: 'auto' });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  assert.equal(cluster.stats().mode, 'primary');
  const c = await connectEcho(port(cluster));
  assert.equal(await c.echo('x'), 'x');
  c.socket.destroy();
});

test('bad options throw InvalidOptionError naming the option, before anything is started', async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ module: echoWorker, policy: 'random' }, 'policy'],
    [{ module: echoWorker, workers: 0 }, 'workers'],
    [{ module: '' }, 'module'],
    [{ module: echoWorker, restart: { initial: 500, max: 100 } }, 'restart.max'],
    [{ module: echoWorker, restart: { jitter: 2 } }, 'restart.jitter'],
    [{ module: echoWorker, reusePort: 'yes' }, 'reusePort'],
    [{ module: echoWorker, drainTimeout: -1 }, 'drainTimeout'],
  ];
  for (const [o, name] of cases) {
    await assert.rejects(runCluster(o as never), (e: unknown) => e instanceof InvalidOptionError && e.message.includes(name), name);
  }
});

test('serveWorker() outside a cluster throws NotClusterWorkerError', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { serveWorker } from '@nocopy/transport/cluster'; try { serveWorker({ serve() {} }); } catch (e) { console.log(e.code); }"], { encoding: 'utf8', cwd: process.cwd() });
  assert.equal(r.stdout.trim(), 'ERR_NOT_CLUSTER_WORKER');
});

test('tls: workers terminate TLS for the sockets they are handed', async (t) => {
  const tlsWorker = fileURLToPath(new URL('./workers/tls-echo.js', import.meta.url));
  const ca = readFileSync(new URL('../../../packages/transport/test/fixtures/localhost-cert.pem', import.meta.url));
  const cluster = await runCluster({ module: tlsWorker, workers: 2 });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const slots: number[] = [];
  for (let i = 0; i < 4; i++) {
    const s = tls.connect({ port: port(cluster), host: '127.0.0.1', ca, servername: 'localhost' });
    s.setEncoding('utf8');
    let text = '';
    s.on('data', (d: string) => (text += d));
    await once(s, 'secureConnect');
    await until(() => text.includes('\n'), 'the greeting over TLS');
    slots.push(Number(text.split(' ')[0]));
    s.write('over tls\n');
    await until(() => text.endsWith('over tls\n'), 'the echo over TLS');
    s.end();
    await once(s, 'close');
  }
  assert.deepEqual(slots.sort(), [0, 0, 1, 1]);
  await until(() => cluster.stats().connections === 0, 'the closes to be reported');
  assert.deepEqual(cluster.stats().workers.map((w) => w.accepted), [2, 2]);
});

test('restart() while one runs returns that one; after shutdown() it rejects with ClusterStoppedError; shutdown() twice (or stop(), its alias) is one stop', async () => {
  const cluster = await runCluster({ module: echoWorker, workers: 1 });
  const a = cluster.restart();
  assert.equal(cluster.restart(), a);
  await a;
  assert.equal(cluster.stats().restarts, 1);
  const s1 = cluster.shutdown({ timeout: 1000 });
  assert.equal(cluster.shutdown(), s1);
  assert.equal(cluster.stop(), s1, 'stop() is the alias of shutdown(): the same promise');
  assert.equal(cluster.shuttingDown, true);
  await s1;
  await assert.rejects(cluster.restart(), (e: unknown) => e instanceof ClusterStoppedError && e.code === 'ERR_CLUSTER_STOPPED');
  assert.equal(cluster.stats().workers[0]!.state, 'down');
});
