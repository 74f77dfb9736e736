// Graceful stop under load: every call the RPC servers received is answered before the workers exit.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createClient } from '@nocopy/rpc-demo';
import { runCluster, type Cluster } from '@nocopy/transport/cluster';
import { sleep, until } from '@nocopy/test-kit';
import { alive, rpcWorker } from './helpers.js';
import { steadyLoad } from './load.js';

const port = (c: Cluster) => (c.address as { port: number }).port;
const primaryScript = fileURLToPath(new URL('./workers/primary.js', import.meta.url));

test('stop() under load: every call in flight is answered, the workers exit', async (t) => {
  const cluster = await runCluster({ module: rpcWorker, workers: 2 });
  t.after(() => cluster.stop({ timeout: 1000 }));
  const client = createClient({ address: `127.0.0.1:${port(cluster)}`, connections: 4, timeout: 5000 });
  t.after(() => client.close());
  const pids = cluster.stats().workers.map((w) => w.pid!);
  // 32 loops of 300 ms calls: at any moment about 32 calls are running in the workers.
  const load = steadyLoad(client, 32, 'sleep', 300);
  await sleep(500);
  // No new calls from here; those sent have reached the servers (loopback) well within 50 ms.
  const settled = load.stop();
  await sleep(50);
  const inFlight = load.sent - load.ok - load.failed;
  assert.ok(inFlight > 0, 'calls are in flight when the cluster stops');
  await cluster.stop({ timeout: 5000 });
  await settled;
  t.diagnostic(`calls: ${load.sent} sent, ${load.ok} answered, ${load.failed} failed; ${inFlight} in flight at stop()`);
  assert.equal(load.failed, 0, `failed calls: ${JSON.stringify(load.errors)}`);
  assert.equal(load.ok, load.sent);
  assert.ok(!pids.some(alive), 'every worker has exited when stop() resolves');
  assert.equal(cluster.stats().refused, 0);
});

/** A primary of 2 RPC workers in a process of its own (its own group if `detached`), with 32 calls of sleep(300) in flight. */
async function primaryUnderLoad(t: TestContext, detached: boolean) {
  const primary = spawn(process.execPath, [primaryScript, rpcWorker, '2'], { stdio: ['ignore', 'pipe', 'inherit'], detached });
  t.after(() => primary.kill('SIGKILL'));
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port, pids } = JSON.parse(out) as { port: number; pids: number[] };
  const client = createClient({ address: `127.0.0.1:${port}`, connections: 4, timeout: 5000 });
  t.after(() => client.close());
  return { primary, pids, load: steadyLoad(client, 32, 'sleep', 300) };
}

test('SIGTERM to the primary under load: every call in flight is answered, then it exits 0', async (t) => {
  const { primary, pids, load } = await primaryUnderLoad(t, false);
  await sleep(500);
  const settled = load.stop();
  await sleep(50);
  const inFlight = load.sent - load.ok - load.failed;
  assert.ok(inFlight > 0);
  const exited = once(primary, 'exit');
  primary.kill('SIGTERM');
  await settled;
  const [code, signal] = await exited;
  t.diagnostic(`calls: ${load.sent} sent, ${load.ok} answered, ${load.failed} failed; ${inFlight} in flight at SIGTERM`);
  assert.equal(load.failed, 0, `failed calls: ${JSON.stringify(load.errors)}`);
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
  await until(() => !pids.some(alive), 'the workers to be gone');
});

test('SIGINT to the whole process group (Ctrl-C) under load: workers drain too, every call in flight is answered', async (t) => {
  // Its own process group, as a shell gives a foreground job: the signal reaches the primary and every worker.
  const { primary, pids, load } = await primaryUnderLoad(t, true);
  await sleep(500);
  const settled = load.stop();
  await sleep(50);
  assert.ok(load.sent - load.ok - load.failed > 0);
  const exited = once(primary, 'exit');
  process.kill(-primary.pid!, 'SIGINT');
  await settled;
  const [code] = await exited;
  assert.equal(load.failed, 0, `failed calls: ${JSON.stringify(load.errors)}`);
  assert.equal(code, 0);
  await until(() => !pids.some(alive), 'the workers to be gone');
});

test('a second SIGTERM while draining kills the workers instead of waiting', async (t) => {
  const primary = spawn(process.execPath, [primaryScript, rpcWorker, '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => primary.kill('SIGKILL'));
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port: p, pids } = JSON.parse(out) as { port: number; pids: number[] };
  const client = createClient({ address: `127.0.0.1:${p}`, connections: 1, timeout: 20_000 });
  t.after(() => client.close());
  // A call the drain would wait for (drainTimeout 5 s in the primary script).
  const long = client.call('sleep', 4000).then(() => 'answered', () => 'cut');
  await sleep(100);
  const exited = once(primary, 'exit');
  primary.kill('SIGTERM');
  await sleep(200);
  primary.kill('SIGTERM');
  assert.equal(await long, 'cut', 'the second signal ended the drain');
  const [code] = await exited;
  assert.equal(code, 0);
  await until(() => !pids.some(alive), 'the workers to be gone');
});
