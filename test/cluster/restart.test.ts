// Rolling restart under steady load: workers are replaced one at a time. Zero refused connections,
// and for the RPC load zero failed calls: a draining worker tells its clients ("$/drain"), which send
// no new call there and close once their calls are answered (retries are off, so the drain alone
// keeps every call).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@nocopy/rpc-demo';
import { runCluster, type Cluster } from '@nocopy/transport/cluster';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { until } from '@nocopy/test-kit';
import { alive, connectEcho, echoWorker, rpcWorker } from './helpers.js';
import { echoChurn, steadyLoad } from './load.js';

const port = (c: Cluster) => (c.address as { port: number }).port;
const primaryScript = fileURLToPath(new URL('./workers/primary.js', import.meta.url));

test('rolling restart under connection churn: new pids in every slot, zero refused connections', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 2 });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const before = cluster.stats().workers.map((w) => w.pid!);
  const churn = echoChurn(port(cluster));
  // Churn running before and after the restart: counted, not slept for.
  await until(() => churn.done >= 20, () => `connections before the restart (${churn.done}, ${churn.errors.length} failed)`, 20_000);
  await cluster.restart({ timeout: 2000 });
  const atEnd = churn.done;
  await until(() => churn.done >= atEnd + 20, () => `connections after the restart (${churn.done - atEnd})`, 20_000);
  await churn.stop();
  const { done, errors } = churn;
  const after = cluster.stats();
  t.diagnostic(`connections: ${done} completed, ${errors.length} failed ${JSON.stringify(errors)}; primary refused ${after.refused}`);
  assert.deepEqual(errors, [], 'no connection refused or cut');
  assert.equal(after.refused, 0);
  assert.ok(done > 0);
  assert.deepEqual(after.workers.map((w) => w.restarts), [1, 1]);
  assert.ok(after.workers.every((w, i) => w.pid !== before[i] && w.state === 'ready'));
  assert.ok(!before.some(alive), 'the old workers have exited');
});

test('rolling restart under RPC load: zero refused connections, zero failed calls', async (t) => {
  const cluster = await runCluster({ module: rpcWorker, workers: 2 });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const client = createClient({ address: `127.0.0.1:${port(cluster)}`, connections: 4, timeout: 5000, retry: { maxAttempts: 1 } });
  t.after(() => client.close());
  const load = steadyLoad(client, 16, 'sleep', 20);
  // Calls answered before and after the restart: counted, not slept for.
  await until(() => load.ok >= 50, () => `calls before the restart (${load.ok})`, 20_000);
  await cluster.restart({ timeout: 2000 });
  const atEnd = load.ok;
  await until(() => load.ok >= atEnd + 50, () => `calls after the restart (${load.ok - atEnd})`, 20_000);
  await load.stop();
  const s = cluster.stats();
  t.diagnostic(`calls: ${load.sent} sent, ${load.ok} answered, ${load.failed} failed ${JSON.stringify(load.errors)}; refused connections ${s.refused}`);
  assert.equal(s.refused, 0, 'no connection refused');
  assert.equal(load.failed, 0, `no call failed: ${JSON.stringify(load.errors)}`);
  assert.equal(client.stats().retries, 0, 'and none was retried');
  assert.ok(load.ok > 0);
  // The client recovers: with the restart over, calls succeed again.
  assert.equal(await client.call('echo', 'after'), 'after');
});

test('SIGHUP to a primary with signals: true replaces every worker; a SIGHUP while the restart runs joins it (one replacement per slot)', async (t) => {
  const primary = spawn(process.execPath, [primaryScript, echoWorker, '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => primary.kill('SIGKILL'));
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  const lines = () => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, number>);
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port: p, pids } = lines()[0] as unknown as { port: number; pids: number[] };
  primary.kill('SIGHUP');
  // Slot 0's new worker is ready: the restart is running (slot 1 waits for the old slot 0 to drain),
  // and the first SIGHUP was handled, so the second cannot be merged with it by the kernel.
  await until(() => lines().some((l) => l.ready === 0), 'slot 0 replaced', 10_000);
  primary.kill('SIGHUP');
  await until(() => lines().some((l) => l.hup === 2), 'the primary to handle the second SIGHUP', 10_000);
  await until(() => lines().some((l) => l.ready === 1), 'slot 1 replaced', 10_000);
  await until(() => !pids.some(alive), 'the old workers to exit');
  const c = await connectEcho(p);
  const ready = lines().filter((l) => 'ready' in l);
  assert.ok(ready.some((r) => r.pid === c.pid), 'a new worker serves');
  c.socket.destroy();
  const exited = once(primary, 'exit');
  primary.kill('SIGTERM');
  assert.equal((await exited)[0], 0);
  // Had the second SIGHUP started a restart of its own, slot 0 would have been replaced again.
  assert.deepEqual(lines().filter((l) => 'ready' in l).map((r) => r.ready), [0, 1], 'one replacement per slot');
  assert.deepEqual(lines().filter((l) => 'restarts' in l), [{ restarts: 2 }], 'two workers replaced in all');
});
