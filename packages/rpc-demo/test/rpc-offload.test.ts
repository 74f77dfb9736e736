// Offloaded methods run in the piscina pool: the event loop keeps answering cheap calls meanwhile,
// and a full queue is an answer (ERR_QUEUE_FULL), not a hang.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteError } from '../src/errors.js';
import { fib } from '../src/demo/handlers.js';
import { HANDLERS_FILE, client, outcome, registerBasics, startServer, until, within } from './rpc-helpers.js';

const FIB30 = 832040;

describe('offload', () => {
  it('cheap calls keep completing while offloaded fib(30) calls run: echoes resolve before the fibs', async () => {
    const { server, address } = await startServer({ workers: { filename: HANDLERS_FILE, maxThreads: 1 } }, (s) => {
      registerBasics(s);
      s.register('fib', 'fib', { offload: true });
    });
    const c = client(address, { connections: 1 });
    try {
      assert.equal(fib(30), FIB30);
      const order: string[] = [];
      // Several fibs first (one worker: they run one after another), then echoes on the same connection.
      const fibs = Array.from({ length: 4 }, (_, i) =>
        c.call('fib', 30).then((v) => {
          order.push(`fib${i}`);
          return v;
        }),
      );
      const echoes = Array.from({ length: 10 }, (_, i) =>
        c.call('echo', i).then((v) => {
          order.push(`echo${i}`);
          return v;
        }),
      );
      // Run inline, the fibs would be answered first (in arrival order, before the echoes).
      assert.deepEqual(await within(Promise.all(echoes), 10_000, 'the echoes'), Array.from({ length: 10 }, (_, i) => i));
      assert.ok(!order.some((x) => x.startsWith('fib')), `every echo resolved before any fib: ${order.join(',')}`);
      // Calls made one after another while the fibs still run are answered too.
      let sequential = 0;
      let fibsDone = 0;
      for (const f of fibs) void f.then(() => fibsDone++);
      for (let i = 0; i < 5; i++) {
        assert.equal(await c.call('add', i, 1), i + 1);
        sequential++;
      }
      assert.equal(sequential, 5);
      assert.ok(fibsDone < 4, `the sequential calls completed before the last fib (${fibsDone} done)`);
      assert.deepEqual(await within(Promise.all(fibs), 20_000, 'the fibs'), [FIB30, FIB30, FIB30, FIB30]);
      // (piscina does not promise FIFO among queued tasks: only that the fibs came last.)
      assert.deepEqual(order.slice(-4).sort(), ['fib0', 'fib1', 'fib2', 'fib3']);
      assert.equal(server.stats().offloaded, 4);
      assert.equal(server.stats().errors, 0);
    } finally {
      await c.close();
      await server.shutdown();
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
    const { server, address } = await startServer({ workers: { filename: HANDLERS_FILE, maxThreads: 1, maxQueue: 1 } }, (s) => {
      s.register('fib', 'fib', { offload: true });
    });
    const c = client(address, { connections: 1 });
    try {
      const N = 20;
      const results = await within(Promise.all(Array.from({ length: N }, () => outcome(c.call('fib', 25)))), 20_000, 'every offloaded call to be answered');
      const ok = results.filter((r) => r.ok);
      const refused = results.filter((r) => !r.ok);
      assert.ok(ok.length >= 1, 'some calls ran');
      assert.ok(refused.length >= 1, 'some calls were refused');
      assert.equal(ok.length + refused.length, N);
      for (const r of ok) assert.equal(r.value, 75025);
      for (const r of refused) {
        const e = (r as { error: unknown }).error;
        assert.ok(e instanceof RemoteError, String(e));
        assert.equal(e.code, 'ERR_QUEUE_FULL');
        assert.equal(e.remoteName, 'QueueFullError');
      }
      // The pool drains and serves again.
      assert.equal(await c.call('fib', 25), 75025);
    } finally {
      await c.close();
      await server.shutdown();
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
