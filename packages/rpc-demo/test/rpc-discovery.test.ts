// RPC clients that find their servers by name, against real discovery servers started here:
// dnsmasq (A records changed mid-run: new servers receive calls, removed ones drain with zero failed
// calls) and etcd (a server that registers receives calls, one that shuts down is drained with zero
// failed calls, one that is SIGKILLed is dropped when its lease expires).
// Without dnsmasq or etcd these tests skip with the reason; under CI=true they fail with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Dnsmasq, dnsmasqMissing, etcdMissing, freePort, startEtcd } from '@nocopy/test-kit';
import { createServer, type RpcServer } from '../src/rpc/server.js';
import { createClient } from '../src/rpc/client.js';
import { sleep, until, within } from './rpc-helpers.js';
import { callers } from './fleet-helpers.js';

const CI = process.env.CI === 'true';
const noDns = dnsmasqMissing();
const noEtcd = etcdMissing();
const skipDns = noDns !== undefined && !CI ? `dnsmasq unavailable: ${noDns}` : false;
const skipEtcd = noEtcd !== undefined && !CI ? `etcd unavailable: ${noEtcd}` : false;

async function named(name: string, host: string, port: number, registry?: { target: string; ttl?: number }): Promise<RpcServer> {
  const s = createServer({ registry });
  s.register('whoami', () => name);
  // As the CLI's sleep(ms, value?), answering with the server's name: the killed CLI server answers the same calls.
  s.register('sleep', async (ms: number) => {
    await sleep(ms);
    return name;
  });
  await s.listen({ host, port });
  return s;
}

describe('discovery: DNS', () => {
  it('A records change mid-run: the new server receives calls, the removed one drains, zero failed calls', { skip: skipDns, timeout: 60_000 }, async (t) => {
    if (noDns !== undefined) assert.fail(`dnsmasq is needed (CI=true): ${noDns}`);
    const port = await freePort();
    // Three servers on one port, on three loopback addresses: what a headless Service's A records name.
    const a = await named('a', '127.0.0.1', port);
    const b = await named('b', '127.0.0.2', port);
    const c = await named('c', '127.0.0.3', port);
    const dns = await Dnsmasq.start({ hosts: '127.0.0.1 svc.test\n127.0.0.2 svc.test\n', ttl: 1 });
    const client = createClient({ target: `dns://${dns.server}/svc.test:${port}`, connections: 2 });
    const load = callers(32, () => client.call('sleep', 2));
    try {
      await until(() => (load.byResult.get('a') ?? 0) > 50 && (load.byResult.get('b') ?? 0) > 50, 'a and b to take calls', 10_000);
      assert.equal(load.byResult.get('c') ?? 0, 0);
      await dns.setHosts('127.0.0.2 svc.test\n127.0.0.3 svc.test\n');
      // Seen on the next refresh (TTL 1 s): c takes calls, a's connections close once their calls are answered.
      await until(() => (load.byResult.get('c') ?? 0) > 50, 'c to take calls', 15_000);
      await until(() => a.stats().connections === 0, "a's connections to be drained", 10_000);
      const fromA = load.byResult.get('a') ?? 0;
      // 100 more calls answered by b and c: had any gone to the drained a, it would show.
      const others = () => (load.byResult.get('b') ?? 0) + (load.byResult.get('c') ?? 0);
      const othersAt = others();
      await until(() => others() >= othersAt + 100, () => `100 more calls on b and c (${others() - othersAt})`, 10_000);
      await load.stop();
      t.diagnostic(`calls: ${[...load.byResult].map(([k, v]) => `${k} ${v}`).join(', ')}; failed ${load.failures.length}; DNS queries for svc.test: ${dns.queries('A', 'svc.test')}`);
      assert.deepEqual(load.failures.map(String), []);
      assert.equal(load.byResult.get('a') ?? 0, fromA, 'no call went to a once it was drained');
      // The CLI takes the same target.
      // (Not spawnSync: the servers answer from this process.)
      const cli = spawn(process.execPath, [RPC_BIN, 'call', 'whoami', '-a', `dns://${dns.server}/svc.test:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      cli.stdout!.on('data', (d: Buffer) => (out += d));
      cli.stderr!.on('data', (d: Buffer) => (err += d));
      const [code] = (await within(once(cli, 'exit'), 15_000, 'nocopy-rpc call')) as [number];
      assert.equal(code, 0, err);
      assert.match(out, /^"[bc]"\n$/);
    } finally {
      await load.stop();
      await client.close();
      await dns.close();
      for (const s of [a, b, c]) await s.shutdown();
    }
  });
});

// A registered server in its own process, for the SIGKILL case (nocopy-rpc serve --register).
const RPC_BIN = fileURLToPath(new URL('../../bin/nocopy-rpc.js', import.meta.url));

async function serveRegistered(target: string): Promise<{ proc: ReturnType<typeof spawn>; port: number }> {
  const proc = spawn(process.execPath, [RPC_BIN, 'serve', '--port', '0', '--register', target, '--register-ttl', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await within(
    new Promise<number>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /on 127\.0\.0\.1:(\d+) /.exec(line);
        if (m !== null) resolve(Number(m[1]));
      });
    }),
    20_000,
    'serve --register to listen and register',
  );
  return { proc, port };
}

describe('discovery: etcd', () => {
  it('registered servers receive calls; one that shuts down is drained with zero failed calls; one SIGKILLed is dropped when its lease expires', { skip: skipEtcd, timeout: 90_000 }, async (t) => {
    if (noEtcd !== undefined) assert.fail(`etcd is needed (CI=true): ${noEtcd}`);
    const etcd = await startEtcd();
    const target = `etcd://${etcd.hostPort}/services/demo`;
    const a = await named('a', '127.0.0.1', 0, { target, ttl: 2 });
    const client = createClient({ target, connections: 2, retry: { maxAttempts: 1 } });
    const load = callers(16, () => client.call('sleep', 2));
    let killed: Awaited<ReturnType<typeof serveRegistered>> | null = null;
    try {
      await until(() => (load.byResult.get('a') ?? 0) > 50, 'a (registered) to take calls', 15_000);
      const b = await named('b', '127.0.0.1', 0, { target, ttl: 2 });
      await until(() => (load.byResult.get('b') ?? 0) > 50, 'b, registered mid-run, to take calls', 15_000);
      // a shuts down: deregistered, drained; no call fails.
      await within(a.shutdown({ timeout: 5000 }), 10_000, 'the shutdown of a');
      const aDone = load.byResult.get('a') ?? 0;
      await until(() => (load.byResult.get('b') ?? 0) > 200, 'b to carry on');
      assert.equal(load.byResult.get('a') ?? 0, aDone);
      // A server in its own process, registered by the CLI, then SIGKILLed: its lease (2 s) expires and the client drops it.
      killed = await serveRegistered(target);
      await until(() => client.stats().endpoints === 2, 'the CLI server to be found', 15_000);
      const killedAt = Date.now();
      killed.proc.kill('SIGKILL');
      await once(killed.proc, 'exit');
      await until(() => client.stats().endpoints === 1, 'the killed server to be dropped', 15_000);
      const dropped = Date.now() - killedAt;
      // The load goes on on b alone: a call still sent to the dropped server would fail meanwhile.
      const onB = load.byResult.get('b') ?? 0;
      await until(() => (load.byResult.get('b') ?? 0) > onB + 100, 'b to carry on alone', 10_000);
      await load.stop();
      const s = client.stats();
      t.diagnostic(`calls: ${[...load.byResult].map(([k, v]) => `${k} ${v}`).join(', ')}; failed ${load.failures.length} (${[...new Set(load.failures.map((e) => (e as { code?: string }).code))].join(', ')}); the killed server dropped ${dropped} ms after SIGKILL (lease 2 s); endpoints now ${s.endpoints}`);
      assert.ok(dropped >= 1000, `not before its lease expired: ${dropped} ms`);
      // Calls to the killed server that were on the wire fail with mayHaveRun (retries are off here); nothing else fails.
      for (const e of load.failures) assert.equal((e as { mayHaveRun?: boolean }).mayHaveRun, true, String(e));
      await b.shutdown();
    } finally {
      await load.stop();
      await client.close();
      killed?.proc.kill('SIGKILL');
      await a.shutdown();
      await etcd.close();
    }
  });
});

