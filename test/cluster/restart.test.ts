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
import { sleep, until } from '@nocopy/test-kit';
import { alive, connectEcho, echoWorker, rpcWorker } from './helpers.js';
import { echoChurn, steadyLoad } from './load.js';

const port = (c: Cluster) => (c.address as { port: number }).port;
const primaryScript = fileURLToPath(new URL('./workers/primary.js', import.meta.url));

test('rolling restart under connection churn: new pids in every slot, zero refused connections', async (t) => {
  const cluster = await runCluster({ module: echoWorker, workers: 2 });
  t.after(() => cluster.stop({ timeout: 1000 }));
  const before = cluster.stats().workers.map((w) => w.pid!);
  const churn = echoChurn(port(cluster));
  await sleep(200);
  await cluster.restart({ timeout: 2000 });
  await sleep(200);
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
  t.after(() => cluster.stop({ timeout: 1000 }));
  const client = createClient({ address: `127.0.0.1:${port(cluster)}`, connections: 4, timeout: 5000, retry: { maxAttempts: 1 } });
  t.after(() => client.close());
  const load = steadyLoad(client, 16, 'sleep', 20);
  await sleep(300);
  await cluster.restart({ timeout: 2000 });
  await sleep(300);
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

test('SIGHUP to a primary with signals: true replaces every worker, once per slot for two SIGHUPs in a row', async (t) => {
  const primary = spawn(process.execPath, [primaryScript, echoWorker, '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => primary.kill('SIGKILL'));
  let out = '';
  primary.stdout.setEncoding('utf8');
  primary.stdout.on('data', (d: string) => (out += d));
  await until(() => out.includes('\n'), 'the primary to report its workers', 10_000);
  const { port: p, pids } = JSON.parse(out.split('\n')[0]!) as { port: number; pids: number[] };
  primary.kill('SIGHUP');
  primary.kill('SIGHUP');
  await until(() => out.split('\n').filter((l) => l.includes('"ready"')).length >= 2, 'two new workers', 10_000);
  await until(() => !pids.some(alive), 'the old workers to exit');
  const ready = out.split('\n').filter((l) => l.includes('"ready"')).map((l) => JSON.parse(l) as { ready: number; pid: number });
  assert.deepEqual(ready.map((r) => r.ready), [0, 1], 'one replacement per slot: the second SIGHUP joined the running restart (or the kernel merged the two)');
  const c = await connectEcho(p);
  assert.ok(ready.some((r) => r.pid === c.pid), 'a new worker serves');
  c.socket.destroy();
  const exited = once(primary, 'exit');
  primary.kill('SIGTERM');
  assert.equal((await exited)[0], 0);
});
