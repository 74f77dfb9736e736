// Graceful stop under load: every call the RPC servers received is answered before the workers exit.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createClient, type RpcClient } from '@nocopy/rpc-demo';
import { runCluster, type Cluster } from '@nocopy/transport/cluster';
import { until } from '@nocopy/test-kit';
import { alive, callLog, rpcWorker } from './helpers.js';
import { steadyLoad, type Load } from './load.js';

const port = (c: Cluster) => (c.address as { port: number }).port;
const primaryScript = fileURLToPath(new URL('./workers/primary.js', import.meta.url));

test('shutdown() under load: every call in flight is answered, the workers exit', async (t) => {
  using calls = callLog();
  const cluster = await runCluster({ module: rpcWorker, workers: 2, env: calls.env });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const client = createClient({ address: `127.0.0.1:${port(cluster)}`, connections: 4, timeout: 5000 });
  t.after(() => client.close());
  const pids = cluster.stats().workers.map((w) => w.pid!);
  const { load, settled, inFlight } = await inFlightCalls(client, calls);
  await cluster.shutdown({ timeout: 5000 });
  await settled;
  t.diagnostic(`calls: ${load.sent} sent, ${load.ok} answered, ${load.failed} failed; ${inFlight} in flight at shutdown()`);
  assert.equal(load.failed, 0, `failed calls: ${JSON.stringify(load.errors)}`);
  assert.equal(load.ok, load.sent);
  assert.ok(!pids.some(alive), 'every worker has exited when shutdown() resolves');
  assert.equal(cluster.stats().refused, 0);
});

/**
 * 32 loops of 1 s calls until about 32 are running in the workers, then no new call: resolves once
 * every call sent has reached a worker (counted by the worker fixture, not assumed after a sleep),
 * with how many are still unanswered. 1 s calls keep some in flight however slow this machine is.
 */
async function inFlightCalls(client: RpcClient, calls: ReturnType<typeof callLog>): Promise<{ load: Load; settled: Promise<void>; inFlight: number }> {
  const load = steadyLoad(client, 32, 'sleep', 1000);
  await until(() => calls.started() >= 32, () => `32 calls running (${calls.started()})`, 20_000);
  const settled = load.stop();
  await until(() => calls.started() === load.sent, () => `every call sent to reach a worker (${calls.started()} of ${load.sent})`, 20_000);
  const inFlight = load.sent - load.ok - load.failed;
  assert.ok(inFlight > 0, `calls are in flight when the cluster stops (${load.sent} sent, ${load.ok} answered)`);
  return { load, settled, inFlight };
}

/** A primary of 2 RPC workers in a process of its own (its own group if `detached`), with about 32 calls of sleep(1000) in flight, every one of them in a worker. */
async function primaryUnderLoad(t: TestContext, detached: boolean) {
  const calls = callLog();
  t.after(() => calls[Symbol.dispose]());
  const primary = spawn(process.execPath, [primaryScript, rpcWorker, '2'], { stdio: ['ignore', 'pipe', 'inherit'], detached, env: calls.env });
  t.after(() => primary.kill('SIGKILL'));
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port, pids } = JSON.parse(out) as { port: number; pids: number[] };
  const client = createClient({ address: `127.0.0.1:${port}`, connections: 4, timeout: 5000 });
  t.after(() => client.close());
  return { primary, pids, ...(await inFlightCalls(client, calls)) };
}

test('SIGTERM to the primary under load: every call in flight is answered, then it exits 0', async (t) => {
  const { primary, pids, load, settled, inFlight } = await primaryUnderLoad(t, false);
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
  const { primary, pids, load, settled } = await primaryUnderLoad(t, true);
  const exited = once(primary, 'exit');
  process.kill(-primary.pid!, 'SIGINT');
  await settled;
  const [code] = await exited;
  assert.equal(load.failed, 0, `failed calls: ${JSON.stringify(load.errors)}`);
  assert.equal(code, 0);
  await until(() => !pids.some(alive), 'the workers to be gone');
});

test('a second SIGTERM while draining kills the workers instead of waiting', async (t) => {
  using calls = callLog();
  const primary = spawn(process.execPath, [primaryScript, rpcWorker, '1'], { stdio: ['ignore', 'pipe', 'inherit'], env: calls.env });
  t.after(() => primary.kill('SIGKILL'));
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port: p, pids } = JSON.parse(out.split('\n')[0]!) as { port: number; pids: number[] };
  const client = createClient({ address: `127.0.0.1:${p}`, connections: 1, timeout: 20_000 });
  t.after(() => client.close());
  // A call the drain would wait for (drainTimeout 5 s in the primary script): it runs in the worker.
  let outcome: string | null = null;
  const long = client.call('sleep', 4000).then(() => 'answered', () => 'cut').then((o) => (outcome = o));
  await until(() => calls.started() === 1, 'the call to reach the worker', 10_000);
  const exited = once(primary, 'exit');
  primary.kill('SIGTERM');
  // The primary printed { term: 1 } after its stop began: the drain is on, and the second signal
  // cannot be merged with the first.
  await until(() => out.includes('{"term":1}'), 'the primary to handle the first SIGTERM', 10_000);
  assert.equal(outcome, null, 'the call is still running in the drain');
  primary.kill('SIGTERM');
  // Answered means the drain waited its 4 s: the second signal was ignored.
  assert.equal(await long, 'cut', 'the second signal ended the drain');
  const [code] = await exited;
  assert.equal(code, 0);
  assert.ok(out.includes('{"term":2}'), 'both signals were handled');
  await until(() => !pids.some(alive), 'the workers to be gone');
});
