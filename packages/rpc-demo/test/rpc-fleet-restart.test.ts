// RPC across servers in their own processes: a rolling restart (SIGTERM, then a new process on the
// same port) of two servers under 32 callers fails no call, and a server killed (SIGKILL) and
// restarted gets calls again within one backoff period.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../src/rpc/client.js';
import { sleep, until, within } from './rpc-helpers.js';
import { type FleetServer, callers, startFleetServer, stopFleetServer } from './fleet-helpers.js';

describe('many servers: restarts', () => {
  it('rolling restart (SIGTERM) of 2 servers under 32 callers: zero failed calls', async (t) => {
    const servers: (FleetServer | null)[] = [await startFleetServer('a0'), await startFleetServer('b0')];
    const addresses = servers.map((s) => `127.0.0.1:${s!.port}`);
    const c = createClient({ addresses, connections: 2, backoff: { initial: 20, max: 200 } });
    const load = callers(32, () => c.call('work', 2));
    try {
      await until(() => load.ok() > 200, 'the load to run');
      for (let round = 1; round <= 2; round++) {
        for (let i = 0; i < 2; i++) {
          const old = servers[i]!;
          servers[i] = null;
          await stopFleetServer(old, 'SIGTERM');
          const name = `${'ab'[i]}${round}`;
          servers[i] = await startFleetServer(name, old.port);
          // A rolling restart waits for the new server to serve before it stops the next one.
          await until(() => (load.byResult.get(name) ?? 0) > 0, `${name} to take calls`, 10_000);
        }
      }
      await sleep(100);
      await load.stop();
      t.diagnostic(`calls answered: ${[...load.byResult].map(([k, v]) => `${k} ${v}`).join(', ')}; failed ${load.failures.length}`);
      assert.deepEqual(load.failures.map(String), [], 'no call failed');
    } finally {
      await load.stop();
      await c.close();
      for (const s of servers) await stopFleetServer(s, 'SIGKILL');
    }
  });

  it('a server killed and restarted gets calls again within one backoff period', async (t) => {
    const max = 300;
    let a: FleetServer | null = await startFleetServer('a');
    const b = await startFleetServer('b');
    const c = createClient({ addresses: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], connections: 2, backoff: { initial: 20, max }, retry: { idempotent: ['work'] } });
    const load = callers(16, () => c.call('work', 1));
    try {
      await until(() => (load.byResult.get('a') ?? 0) > 50, 'a to take calls');
      const port = a.port;
      await stopFleetServer(a, 'SIGKILL');
      a = null;
      await sleep(2 * max);
      a = await startFleetServer('a2', port);
      const restarted = Date.now();
      await until(() => (load.byResult.get('a2') ?? 0) > 0, 'the restarted server to take calls', 10_000);
      const back = Date.now() - restarted;
      await load.stop();
      t.diagnostic(`the restarted server took calls ${back} ms after it listened (backoff max ${max} ms); failed calls ${load.failures.length} (work retried as idempotent)`);
      assert.ok(back <= max + 250, `back within one backoff period: ${back} ms`);
      assert.deepEqual(load.failures.map(String), []);
    } finally {
      await load.stop();
      await c.close();
      await stopFleetServer(a, 'SIGKILL');
      await stopFleetServer(b, 'SIGKILL');
    }
  });
});

describe('many servers: a silent server', () => {
  it('a server that stops answering (SIGSTOP: its kernel still takes the bytes) is routed around within its timeouts', async (t) => {
    const a = await startFleetServer('a');
    const b = await startFleetServer('b');
    const c = createClient({ addresses: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], connections: 2, timeout: 300 });
    const failedAt: number[] = [];
    let running = true;
    let ok = 0;
    const lanes = Array.from({ length: 16 }, async () => {
      while (running) {
        try {
          await c.call('work', 1);
          ok++;
        } catch {
          failedAt.push(Date.now());
        }
      }
    });
    try {
      await until(() => ok > 200, 'the load to run');
      a.proc.kill('SIGSTOP');
      const stopped = Date.now();
      await sleep(3000);
      const recent = failedAt.filter((x) => x > Date.now() - 1000).length;
      running = false;
      await Promise.all(lanes);
      t.diagnostic(`${failedAt.length} calls timed out after the SIGSTOP (the last within ${Math.max(0, ...failedAt) - stopped} ms of it), ${recent} in the last second; ${ok} answered; ejected ${c.stats().ejected}`);
      assert.ok(failedAt.length > 0, 'calls to the silent server timed out');
      assert.equal(recent, 0, 'after a few timeouts no call goes to the silent server');
    } finally {
      running = false;
      await Promise.all(lanes);
      await c.close();
      a.proc.kill('SIGCONT');
      await stopFleetServer(a, 'SIGKILL');
      await stopFleetServer(b, 'SIGKILL');
    }
  });
});

describe('many servers: chaos', () => {
  const seconds = Number(process.env.NOCOPY_CHAOS_SECONDS ?? 20);
  it(`random SIGKILL, SIGTERM and restarts of 3 servers for ${seconds} s under 64 callers of an idempotent method: no wrong reply, no lost call`, { timeout: (seconds + 60) * 1000 }, async (t) => {
    const servers: (FleetServer | null)[] = [];
    for (let i = 0; i < 3; i++) servers.push(await startFleetServer(`s${i}.0`));
    const ports = servers.map((s) => s!.port);
    const c = createClient({
      addresses: ports.map((p) => `127.0.0.1:${p}`),
      connections: 2,
      timeout: 10_000,
      waitForReady: true,
      backoff: { initial: 20, max: 250 },
      retry: { maxAttempts: 5, budget: { maxTokens: 1000, tokenRatio: 0.5 } },
    });
    let wrong = 0;
    let seq = 0;
    const load = callers(64, async () => {
      const key = seq++;
      const r = (await c.call('read', key)) as [string, number];
      if (r[1] !== key) wrong++;
      return r;
    });
    const events: string[] = [];
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    try {
      const end = Date.now() + seconds * 1000;
      let gen = 0;
      while (Date.now() < end) {
        await sleep(300 + Math.floor(rnd() * 700));
        const i = Math.floor(rnd() * 3);
        const s = servers[i];
        // Keep at least one server up: the test is about calls surviving churn, not a fleet that is gone.
        if (s !== null && servers.filter((x) => x !== null).length > 1) {
          // The first two stops are one of each; then either, at random (a fixed seed).
          const stops = events.filter((e) => !e.startsWith('start')).length;
          const signal = stops === 0 ? 'SIGKILL' : stops === 1 ? 'SIGTERM' : rnd() < 0.5 ? 'SIGKILL' : 'SIGTERM';
          servers[i] = null;
          await stopFleetServer(s, signal);
          events.push(`${signal} s${i}`);
        } else if (s === null) {
          servers[i] = await startFleetServer(`s${i}.${++gen}`, ports[i]);
          events.push(`start s${i}`);
        }
      }
      for (let i = 0; i < 3; i++) if (servers[i] === null) servers[i] = await startFleetServer(`s${i}.end`, ports[i]);
      await sleep(300);
      await within(load.stop(), 15_000, 'the callers to finish');
      const stats = c.stats();
      t.diagnostic(`${events.length} events (${events.filter((e) => e.startsWith('SIGKILL')).length} SIGKILL, ${events.filter((e) => e.startsWith('SIGTERM')).length} SIGTERM); ${load.ok()} calls answered, ${wrong} wrong, ${load.failures.length} failed; ${stats.retries} retries, ${stats.retriesThrottled} throttled`);
      assert.equal(wrong, 0, 'no wrong reply');
      assert.deepEqual(load.failures.map(String), [], 'no idempotent call lost');
      assert.ok(events.some((e) => e.startsWith('SIGKILL')) && events.some((e) => e.startsWith('SIGTERM')), 'both kinds of stop happened');
    } finally {
      await load.stop();
      await c.close();
      for (const s of servers) await stopFleetServer(s, 'SIGKILL');
    }
  });
});
