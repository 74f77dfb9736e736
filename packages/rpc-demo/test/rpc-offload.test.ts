// Offloaded methods run in the piscina pool: the event loop keeps answering cheap calls meanwhile,
// and a full queue is an answer (ERR_QUEUE_FULL), not a hang.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteError } from '../src/errors.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANDLERS_FILE, client, outcome, registerBasics, startServer, until, within } from './rpc-helpers.js';

const HOLDING_WORKERS = fileURLToPath(new URL('../../test/fixtures/holding-workers.mjs', import.meta.url));

const FIB30 = 832040;

describe('offload', () => {
  it('cheap calls keep completing while offloaded CPU-bound calls hold the worker: echoes resolve before them', async () => {
    // The offloaded calls hold their worker thread until the test creates `release`, so "before"
    // is decided by the test, not by how fast this machine runs fib(30).
    const dir = mkdtempSync(join(tmpdir(), 'nocopy-offload-'));
    const release = join(dir, 'release');
    const { server, address } = await startServer({ workers: { filename: HOLDING_WORKERS, maxThreads: 1 } }, (s) => {
      registerBasics(s);
      s.register('hold', 'holdUntil', { offload: true });
    });
    const c = client(address, { connections: 1 });
    try {
      const order: string[] = [];
      // Several held calls first (one worker: they run one after another), then echoes on the same connection.
      const holds = Array.from({ length: 4 }, (_, i) =>
        c.call('hold', release, `hold${i}`).then((v) => {
          order.push(`hold${i}`);
          return v;
        }),
      );
      const echoes = Array.from({ length: 10 }, (_, i) =>
        c.call('echo', i).then((v) => {
          order.push(`echo${i}`);
          return v;
        }),
      );
      // Run inline, the first held call would block the event loop and no echo would be answered.
      assert.deepEqual(await within(Promise.all(echoes), 20_000, 'the echoes'), Array.from({ length: 10 }, (_, i) => i));
      // Calls made one after another while the held calls still run are answered too.
      for (let i = 0; i < 5; i++) assert.equal(await within(c.call('add', i, 1), 20_000, `add ${i}`), i + 1);
      assert.deepEqual(order, Array.from({ length: 10 }, (_, i) => `echo${i}`), 'no held call resolved before the release');
      writeFileSync(release, '');
      assert.deepEqual(await within(Promise.all(holds), 20_000, 'the held calls'), ['hold0', 'hold1', 'hold2', 'hold3']);
      // (piscina does not promise FIFO among queued tasks: only that the held calls came last.)
      assert.deepEqual(order.slice(-4).sort(), ['hold0', 'hold1', 'hold2', 'hold3']);
      assert.equal(server.stats().offloaded, 4);
      assert.equal(server.stats().errors, 0);
    } finally {
      writeFileSync(release, '');
      await c.close();
      await server.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an offloaded export that throws, or is missing, answers with an error', async () => {
    const { server, address } = await startServer({ workers: { filename: HANDLERS_FILE, maxThreads: 1 } }, (s) => {
      s.register('fib', 'fib', { offload: true });
      s.register('missing', 'noSuchExport', { offload: true });
    });
    const c = client(address, { connections: 1 });
    try {
      await assert.rejects(c.call('missing', 1), (e: unknown) => e instanceof RemoteError && e.remoteName === 'TypeError' && /noSuchExport/.test(e.message));
      assert.equal(await c.call('fib', 20), 6765);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('a full queue (maxThreads 1, maxQueue 1) refuses calls with ERR_QUEUE_FULL; the rest complete', async () => {
    // Held calls (see the first test): one runs, one waits in the queue, and every other is refused,
    // however the 20 calls arrive, since none ends before the release.
    const dir = mkdtempSync(join(tmpdir(), 'nocopy-offload-'));
    const release = join(dir, 'release');
    const { server, address } = await startServer({ workers: { filename: HOLDING_WORKERS, maxThreads: 1, maxQueue: 1 } }, (s) => {
      s.register('hold', 'holdUntil', { offload: true });
    });
    const c = client(address, { connections: 1 });
    try {
      const N = 20;
      const settled: Awaited<ReturnType<typeof outcome>>[] = [];
      const all = Promise.all(Array.from({ length: N }, (_, i) => outcome(c.call('hold', release, i)).then((r) => (settled.push(r), r))));
      await until(() => settled.length === N - 2, () => `${N - 2} calls refused (${settled.length} answered)`, 20_000);
      assert.ok(settled.every((r) => !r.ok), 'nothing ran to completion before the release');
      writeFileSync(release, '');
      const results = await within(all, 20_000, 'every offloaded call to be answered');
      const ok = results.filter((r) => r.ok);
      const refused = results.filter((r) => !r.ok);
      assert.equal(ok.length, 2, 'the running call and the queued one');
      assert.equal(refused.length, N - 2);
      for (const r of refused) {
        const e = (r as { error: unknown }).error;
        assert.ok(e instanceof RemoteError, String(e));
        assert.equal(e.code, 'ERR_QUEUE_FULL');
        assert.equal(e.remoteName, 'QueueFullError');
      }
      // The pool drains and serves again.
      assert.equal(await c.call('hold', release, 'again'), 'again');
    } finally {
      writeFileSync(release, '');
      await c.close();
      await server.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shutdown answers offloaded calls in flight, then stops the pool', async () => {
    const { server, address } = await startServer({ workers: { filename: HANDLERS_FILE, maxThreads: 1 } }, (s) => {
      s.register('fib', 'fib', { offload: true });
    });
    const c = client(address, { connections: 2 });
    try {
      const calls = Array.from({ length: 4 }, () => c.call('fib', 30));
      await until(() => server.stats().offloaded === 4, 'the calls to be offloaded');
      await within(server.shutdown({ timeout: 10_000 }), 10_000, 'shutdown');
      assert.deepEqual(await Promise.all(calls), [FIB30, FIB30, FIB30, FIB30]);
      assert.equal(server.stats().connections, 0);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('register() refuses offload without a workers option', async () => {
    const { server } = await startServer({});
    try {
      assert.throws(() => server.register('fib', 'fib', { offload: true }), { name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION' });
    } finally {
      await server.shutdown();
    }
  });
});
