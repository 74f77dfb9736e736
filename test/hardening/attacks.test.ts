// The three defects of the hostile-peer report, each replayed on real sockets against the RPC server:
// an over-read request that leaked other connections' requests, a reference bomb that turned 306
// bytes into 8 MiB, and 200 stalled peers that held 3 GB. See SECURITY.md ("Fixed defects").
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { createClient, createServer, MalformedMessageError, type RpcClient, type RpcServer } from '@nocopy/rpc-demo';
import { sleep, until, within } from './helpers.js';
import { referenceBomb } from '@nocopy/test-kit';

const MiB = 1024 * 1024;

async function start(server: RpcServer): Promise<number> {
  const addr = await server.listen({ port: 0 });
  return (addr as net.AddressInfo).port;
}

/** An echo server that collects its errors, and one client of it on one connection; both closed after the test. */
async function echoServerAndClient(t: TestContext): Promise<{ port: number; errors: unknown[]; client: RpcClient }> {
  const errors: unknown[] = [];
  const server = createServer({ onError: (e) => errors.push(e) }).register('echo', (x: unknown) => x);
  const port = await start(server);
  t.after(() => server.shutdown({ timeout: 100 }));
  const client = createClient({ address: `127.0.0.1:${port}`, connections: 1 });
  t.after(() => client.close());
  return { port, errors, client };
}

/** Sends `bytes` on a fresh connection; resolves with everything the server sent back before it closed. */
function exchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(got)));
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

/** The reference tree of the report, sent as echo([def(0)]), framed (test-kit's referenceBomb). */
const framedBomb = (depth: number): Buffer => referenceBomb(depth, { framed: true });

test('an over-read request is refused, and no reply carries bytes from beyond its own request', { timeout: 30_000 }, async (t) => {
  // A victim sends its secret once a millisecond all along, on its own connection.
  const { port, errors, client: victim } = await echoServerAndClient(t);
  let running = true;
  let victimCalls = 0;
  const victimLoop = (async () => {
    while (running) {
      const secret = `VICTIM-SECRET-${victimCalls}`;
      assert.equal(await victim.call('echo', secret), secret);
      victimCalls++;
      await sleep(1);
    }
  })();
  // The request of the report (bundled strings over-read, then an unchecked bin8), and the bin8 alone.
  const overRead = Buffer.from('00000013d6620000000f940001a46563686f91c4ffa0a0', 'hex');
  const bin8 = Buffer.from('0000000d940001a46563686f91c4ffa0a0', 'hex');
  let replies = 0;
  for (let i = 0; i < 200; i++) {
    const got = await exchange(port, i % 2 === 0 ? overRead : bin8);
    replies += got.length;
    assert.ok(!got.includes('VICTIM'), `reply ${i} leaked the victim's request: ${got.toString('hex')}`);
  }
  running = false;
  await victimLoop;
  assert.equal(replies, 0, 'a request that cannot be decoded gets no reply at all');
  assert.ok(victimCalls > 20, `the victim kept calling (${victimCalls})`);
  const malformed = errors.filter((e) => e instanceof MalformedMessageError);
  assert.equal(malformed.length, 200, `every hostile request was refused as malformed: ${errors.map(String).slice(0, 3).join('; ')}`);
  assert.ok(malformed.some((e) => /extension type 98/.test((e as Error).message)));
  assert.ok(malformed.some((e) => /binary needs 255 bytes/.test((e as Error).message)));
});

test('the structured-clone reference bomb is refused before anything is built; honest calls go on', { timeout: 30_000 }, async (t) => {
  const { port, errors, client: honest } = await echoServerAndClient(t);
  assert.equal(await honest.call('echo', 'warm'), 'warm');
  const heapBefore = process.memoryUsage().heapUsed;
  for (const depth of [22, 27]) {
    const bomb = framedBomb(depth);
    assert.ok(bomb.length < 400, `${bomb.length} bytes`);
    const t0 = performance.now();
    const got = await exchange(port, bomb);
    assert.equal(got.length, 0, 'no reply');
    assert.ok(performance.now() - t0 < 1000, 'refused at once');
    const t1 = performance.now();
    assert.equal(await honest.call('echo', `after ${depth}`), `after ${depth}`);
    assert.ok(performance.now() - t1 < 500, 'the event loop was not stalled');
  }
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 16 * MiB, 'no amplification');
  const malformed = errors.filter((e) => e instanceof MalformedMessageError);
  assert.equal(malformed.length, 2);
  for (const e of malformed) assert.match((e as Error).message, /extension type 105/);
});

// ---- 200 stalled peers of 15 MiB ----

const cli = fileURLToPath(new URL('../../../packages/rpc-demo/dist/src/cli/rpc.js', import.meta.url));
const peersScript = fileURLToPath(new URL('./flood-peers.js', import.meta.url));

function memory(pid: number): { rss: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]) / 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

function serve(args: string[]): Promise<{ child: ChildProcess; port: number; metrics: string }> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--metrics', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return within(
    new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += String(d);
        const m = / on 127\.0\.0\.1:(\d+) .*metrics on (http:\/\/\S+\/metrics);/.exec(out);
        if (m) resolve({ child, port: Number(m[1]), metrics: m[2]! });
      });
      child.once('exit', (code) => reject(new Error(`nocopy-rpc serve exited with ${code}`)));
    }),
    10_000,
    'nocopy-rpc serve to start',
  );
}

/** The server's pool memory (in_use, idle) in MiB, from its Prometheus endpoint (--metrics). */
async function poolMemory(metrics: string): Promise<{ inUse: number; idle: number }> {
  const text = await (await fetch(metrics)).text();
  const gauge = (state: string) => Number(new RegExp(`^nocopy_pool_memory\\{state="${state}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN) / MiB;
  return { inUse: gauge('in_use'), idle: gauge('idle') };
}

test('200 stalled peers of 15 MiB: RSS stays bounded, honest calls are all answered, each peer is cut at its read timeout, memory comes back', { timeout: 120_000, skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const READ_TIMEOUT = 6000;
  const { child, port, metrics } = await serve(['--max-message-size', '16MiB', '--read-timeout', String(READ_TIMEOUT)]);
  t.after(() => child.kill('SIGKILL'));
  const stderr: string[] = [];
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  const honest = createClient({ address: `127.0.0.1:${port}`, connections: 2, timeout: 5000 });
  t.after(() => honest.close());
  // Warm up, then take the baseline.
  for (let i = 0; i < 200; i++) assert.equal(await honest.call('echo', `warm-${i}`), `warm-${i}`);
  await sleep(500);
  const start = memory(child.pid!).rss;

  let running = true;
  let answered = 0;
  let wrong = 0;
  const failures: string[] = [];
  let worst = 0;
  const caller = async (k: number) => {
    for (let n = 0; running; n++) {
      const v = `honest-${k}-${n}`;
      const t0 = performance.now();
      try {
        if ((await honest.call('echo', v)) === v) answered++;
        else wrong++;
      } catch (err) {
        failures.push(String(err));
      }
      worst = Math.max(worst, performance.now() - t0);
      await sleep(2);
    }
  };
  const callers = [0, 1, 2, 3].map(caller);

  const flood = spawn(process.execPath, [peersScript, String(port), '200', '15', String(16 * MiB - 100), String(READ_TIMEOUT + 20_000)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => flood.kill('SIGKILL'));
  let out = '';
  flood.stdout!.on('data', (d) => (out += String(d)));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, memory(child.pid!).rss)), 100);
  await within(new Promise((resolve) => flood.once('exit', resolve)), READ_TIMEOUT + 30_000, 'the flood peers to be closed');
  clearInterval(sampler);
  const peers = JSON.parse(out) as { connected: number; closed: number; sent: number }[];
  const hwm = memory(child.pid!).peak;

  running = false;
  await Promise.all(callers);
  // After they go, what holds memory (measured, issue 28): the pool keeps up to maxIdleBytes (64 MiB)
  // idle until its decay gives back what went unused for a whole period (2 s, so within 2 to 4 s),
  // and V8 keeps its grown heap (10-20 MiB) until its memory reducer collects, 10-20 s after the
  // load stops (later on a busy machine). The slabs are their own mmaps (glibc's brk heap stayed at
  // 3-4 MiB), so what the pool frees leaves RSS at once. First the pool, read from the server itself:
  let pool = await poolMemory(metrics);
  const poolDeadline = Date.now() + 30_000;
  while (!(pool.inUse === 0 && pool.idle <= 4)) {
    assert.ok(Date.now() < poolDeadline, `the pool to give its memory back: in use ${pool.inUse.toFixed(1)} MiB, idle ${pool.idle.toFixed(1)} MiB after 30 s`);
    await sleep(250); // the polling pace
    pool = await poolMemory(metrics);
  }
  const afterPool = memory(child.pid!).rss;
  // Then RSS (a liveness wait that ends as soon as it is back; V8's heap is the slow part).
  await until(() => memory(child.pid!).rss - start < 64, 'RSS to come back within 64 MiB of the start', 40_000).catch(() => {});
  const end = memory(child.pid!).rss;

  const held = peers.map((p) => p.closed - p.connected).sort((a, b) => a - b);
  t.diagnostic(`server RSS: start ${start.toFixed(0)} MiB, peak ${Math.max(peak, hwm).toFixed(0)} MiB, once the pool was back ${afterPool.toFixed(0)} MiB, after ${end.toFixed(0)} MiB`);
  t.diagnostic(`peers held for ${held[0]!.toFixed(0)}..${held[held.length - 1]!.toFixed(0)} ms (read timeout ${READ_TIMEOUT}); honest calls: ${answered} answered, ${wrong} wrong, ${failures.length} failed, worst ${worst.toFixed(0)} ms`);
  assert.ok(peers.every((p) => p.connected >= 0 && p.closed >= 0), 'every peer connected and was closed');
  // Held from the peer's connect to its close: the read timeout counts from the first byte, and 200 peers
  // pushing 3 GB through a 2-core machine (beside the other test file) delay both ends by a second or more
  // (7.2-7.5 s seen on a loaded machine, also on code from before this bound was questioned). The point is
  // that no peer is held past its timeout by more than the machine's delay: not forever (a stalled peer
  // sends nothing more, so without the timeout it is held until the test ends). The bound is twice the
  // timeout, a liveness bound: +3 s failed once at 9.1 s with three helpers' builds and tests running.
  assert.ok(held[held.length - 1]! <= 2 * READ_TIMEOUT, `every peer cut within twice the read timeout (the slowest after ${held[held.length - 1]!.toFixed(0)} ms)`);
  assert.ok(Math.max(peak, hwm) < 400, `peak RSS under 400 MiB: ${Math.max(peak, hwm).toFixed(0)} MiB`);
  assert.equal(wrong, 0);
  assert.deepEqual(failures, [], 'no honest call failed');
  assert.ok(answered > 100, `honest calls were answered throughout (${answered})`);
  assert.ok(end - start < 64, `RSS back within 64 MiB of the start: ${start.toFixed(0)} -> ${end.toFixed(0)} MiB`);
});
