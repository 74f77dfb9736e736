// The CLIs on several processes: `nocopy-rpc serve --processes N` and `nocopy-proxy --processes N`
// run a cluster primary with N workers behind one address; SIGTERM stops them gracefully.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createClient } from '@nocopy/rpc-demo';
import { until } from '@nocopy/test-kit';
import { proxyBin, rpcBin, run, start } from '../cli/run-cli.js';
import { alive } from './helpers.js';

/** The child processes of `pid` (Linux /proc), or null where that is not available. */
function children(pid: number): number[] | null {
  const f = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(f)) return null;
  return readFileSync(f, 'utf8').trim().split(/\s+/).filter((x) => x !== '').map(Number);
}

test('nocopy-rpc serve --processes 2: two workers behind one address; SIGTERM exits 0 and takes them down', async (t) => {
  const r = await start(rpcBin, ['serve', '--port', '0', '--processes', '2']);
  t.after(() => r.child.kill('SIGKILL'));
  assert.match(r.line, /^nocopy-rpc serving echo, add, sleep, fib on 127\.0\.0\.1:\d+ .*2 processes/);
  const port = Number(/:(\d+)/.exec(r.line)![1]);
  const kids = children(r.child.pid!);
  if (kids !== null) assert.equal(kids.length, 2, 'two worker processes');
  const client = createClient({ address: `127.0.0.1:${port}`, connections: 4 });
  t.after(() => client.close());
  const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => client.call('add', i, 1)));
  assert.deepEqual(sums, Array.from({ length: 20 }, (_, i) => i + 1));
  await client.close();
  r.child.kill('SIGTERM');
  assert.deepEqual(await r.exit, { code: 0, signal: null });
  if (kids !== null) await until(() => !kids.some(alive), 'the workers to exit');
  assert.equal(r.stderr(), '');
});

test('nocopy-rpc serve --processes 2: a rolling restart (SIGHUP) under 32 callers fails no call', async (t) => {
  const r = await start(rpcBin, ['serve', '--port', '0', '--processes', '2']);
  t.after(() => r.child.kill('SIGKILL'));
  const port = Number(/:(\d+)/.exec(r.line)![1]);
  const before = children(r.child.pid!);
  // Retries off: only the drain signal keeps the calls of a restarted worker whole.
  const client = createClient({ address: `127.0.0.1:${port}`, connections: 4, retry: { maxAttempts: 1 } });
  t.after(() => client.close());
  let running = true;
  let ok = 0;
  const failures: unknown[] = [];
  const loops = Array.from({ length: 32 }, async (_, i) => {
    while (running) {
      try {
        if ((await client.call('sleep', 2, i)) === i) ok++;
      } catch (err) {
        failures.push(err);
      }
    }
  });
  await until(() => ok > 200, 'the load to run');
  r.child.kill('SIGHUP');
  if (before !== null) {
    // Both workers replaced: new pids, and the old ones gone.
    await until(() => {
      const now = children(r.child.pid!) ?? [];
      return now.length === 2 && !now.some((p) => before.includes(p)) && !before.some(alive);
    }, 'both workers to be replaced', 20_000);
  } else await new Promise((res) => setTimeout(res, 3000));
  const atRestart = ok;
  await until(() => ok > atRestart + 200, 'calls on the new workers');
  running = false;
  await Promise.all(loops);
  t.diagnostic(`${ok} calls answered, ${failures.length} failed, ${client.stats().retries} retried`);
  assert.deepEqual(failures.map(String), []);
  await client.close();
  r.child.kill('SIGTERM');
  assert.deepEqual(await r.exit, { code: 0, signal: null });
});

test('nocopy-rpc serve --processes takes a positive integer, and not with --websocket', async () => {
  const r = await run(rpcBin, ['serve', '--processes', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--processes/);
  const w = await run(rpcBin, ['serve', '--processes', '2', '--websocket', '0']);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /--processes and --websocket do not combine/);
});

test('nocopy-proxy --processes takes a positive integer', async () => {
  const r = await run(proxyBin, ['--upstream', '127.0.0.1:1', '--processes', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--processes must be an integer >= 1/);
});

test('nocopy-proxy --processes 2: bytes pass through two workers; SIGTERM exits 0', async (t) => {
  const upstream = net.createServer((s) => s.pipe(s));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.after(() => upstream.close());
  const up = (upstream.address() as net.AddressInfo).port;
  const r = await start(proxyBin, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up}`, '--processes', '2']);
  t.after(() => r.child.kill('SIGKILL'));
  const port = Number(/:(\d+)/.exec(r.line)![1]);
  const kids = children(r.child.pid!);
  if (kids !== null) assert.equal(kids.length, 2);
  for (let i = 0; i < 4; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.end(`hello ${i}`);
    let got = '';
    for await (const d of c) got += String(d);
    assert.equal(got, `hello ${i}`);
  }
  r.child.kill('SIGTERM');
  assert.deepEqual(await r.exit, { code: 0, signal: null });
  if (kids !== null) await until(() => !kids.some(alive), 'the workers to exit');
});
