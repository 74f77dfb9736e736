// Round trips in both framings: values, binary, sync and async handlers, notifications, out-of-order
// replies on one connection, many calls in flight, maxInFlight.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FRAMINGS, Gate, RawPeer, client, deferred, registerBasics, sleep, startServer, until, within } from './rpc-helpers.js';

for (const framing of FRAMINGS) {
  describe(`round trips (${framing})`, () => {
    it('echoes nested maps, arrays, strings, numbers and binary', async () => {
      const { server, address } = await startServer({ framing }, (s) => registerBasics(s));
      const c = client(address, { framing });
      try {
        const bin = Buffer.from([0, 1, 2, 0xfe, 0xff]);
        const value = {
          s: 'héllo, wörld ✓',
          n: [0, -1, 1.5, 2 ** 40, -(2 ** 31)],
          t: true,
          f: false,
          nil: null,
          nested: { a: [{ b: { c: ['deep', bin] } }], empty: {}, arr: [] },
          long: 'x'.repeat(70_000),
        };
        const got = (await c.call('echo', value)) as typeof value;
        assert.deepEqual(got, value);
        // Binary in, Buffer out: the same bytes, as a Buffer.
        const b = await c.call('echo', bin);
        assert.ok(Buffer.isBuffer(b), 'binary comes back as a Buffer');
        assert.deepEqual(b, bin);
        const deepBin = got.nested.a[0]!.b.c[1];
        assert.ok(Buffer.isBuffer(deepBin));
        assert.deepEqual(deepBin, bin);
        // A large binary (spans several pooled input nodes).
        const big = Buffer.alloc(300_000);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
        assert.deepEqual(await c.call('echo', big), big);
        // undefined has no MessagePack form: it comes back as null.
        assert.equal(await c.call('echo', undefined), null);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('add, and async handlers', async () => {
      const { server, address } = await startServer({ framing }, (s) => registerBasics(s));
      const c = client(address, { framing });
      try {
        assert.equal(await c.call('add', 2, 3), 5);
        assert.equal(await c.call('add', -7, 0.5), -6.5);
        assert.equal(await c.call('asyncAdd', 40, 2), 42);
        assert.equal(await c.request('asyncAdd', [1, 1]), 2);
        const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => c.call(i % 2 ? 'add' : 'asyncAdd', i, 1000)));
        assert.deepEqual(rs, Array.from({ length: 50 }, (_, i) => i + 1000));
        assert.equal(c.stats().pending, 0);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('a notification runs the server handler and gets no response', async () => {
      const notes: unknown[][] = [];
      const { server, address, port } = await startServer({ framing }, (s) => registerBasics(s, notes));
      const c = client(address, { framing, connections: 1 });
      try {
        await c.notify('note', 'a', 1, { k: [true] });
        // The call after it on the same connection is handled after the notification.
        assert.equal(await c.call('add', 1, 2), 3);
        assert.deepEqual(notes, [['a', 1, { k: [true] }]]);
        assert.equal(c.stats().pending, 0);
        // On the wire: a notification (even to an unknown method) is never answered.
        const raw = await RawPeer.connect(port, framing);
        raw.send([2, 'note', ['raw']]);
        raw.send([2, 'no-such-method', []]);
        raw.send([0, 7, 'echo', ['after']]);
        assert.deepEqual(await raw.next(), [1, 7, null, 'after']);
        raw.send([0, 8, 'echo', ['again']]);
        assert.deepEqual(await raw.next(), [1, 8, null, 'again']);
        assert.equal(raw.received.length, 2, 'only the two requests were answered');
        assert.deepEqual(notes[1], ['raw']);
        raw.destroy();
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('answers out of order: a slow call issued first resolves after a fast one issued later (one connection)', async () => {
      const gate = new Gate();
      const { server, address } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('slow', async (v: unknown) => {
          await gate.wait();
          return v;
        });
      });
      const c = client(address, { framing, connections: 1 });
      try {
        const order: string[] = [];
        const slow = c.call('slow', 'S').then((v) => {
          order.push('slow');
          return v;
        });
        const fast = c.call('echo', 'F').then((v) => {
          order.push('fast');
          return v;
        });
        // If the server answered in order, `fast` would wait behind the gate forever.
        assert.equal(await within(fast, 5000, 'the fast call to overtake the slow one'), 'F');
        assert.deepEqual(order, ['fast']);
        assert.equal(gate.started, 1, 'the slow call is running');
        gate.open();
        assert.equal(await slow, 'S');
        assert.deepEqual(order, ['fast', 'slow']);
        assert.equal(c.stats().connections, 1);
        assert.equal(server.stats().connections, 1);
      } finally {
        gate.open();
        await c.close();
        await server.shutdown();
      }
    });

    it('10,000 calls in flight over 4 connections, every result verified', async () => {
      const { server, address } = await startServer({ framing }, (s) => registerBasics(s));
      const c = client(address, { framing, connections: 4 });
      try {
        const N = 10_000;
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < N; i++) {
          if (i % 3 === 0) calls.push(c.call('asyncAdd', i, 1));
          else if (i % 3 === 1) calls.push(c.call('add', i, 1));
          else calls.push(c.call('echo', { i, s: `v${i}` }));
        }
        assert.equal(c.stats().calls, N);
        const rs = await within(Promise.all(calls), 20_000, '10,000 calls');
        for (let i = 0; i < N; i++) {
          if (i % 3 === 2) assert.deepEqual(rs[i], { i, s: `v${i}` });
          else assert.equal(rs[i], i + 1, `call ${i}`);
        }
        assert.equal(c.stats().pending, 0);
        assert.equal(c.stats().connections, 4);
        assert.equal(server.stats().connections, 4);
        assert.equal(server.stats().errors, 0);
        assert.equal(server.stats().calls, N);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });
  });
}

describe('maxInFlight', () => {
  for (const framing of FRAMINGS) {
    it(`never runs more than maxInFlight calls of one connection at once, and answers them all (${framing})`, async () => {
      let running = 0;
      let peak = 0;
      const { server, address } = await startServer({ framing, maxInFlight: 3 }, (s) =>
        s.register('work', async (i: number) => {
          running++;
          peak = Math.max(peak, running);
          for (let k = 0; k < 3; k++) await sleep(0);
          running--;
          return i * 2;
        }),
      );
      const c = client(address, { framing, connections: 1 });
      try {
        const rs = await within(Promise.all(Array.from({ length: 40 }, (_, i) => c.call('work', i))), 10_000, 'the calls');
        assert.deepEqual(rs, Array.from({ length: 40 }, (_, i) => i * 2));
        assert.equal(peak, 3, 'the connection reached its limit and no further');
        assert.equal(server.stats().inFlight, 0);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });
  }

  it('a connection at its limit does not hold up other connections', async () => {
    const gate = new Gate();
    const { server, address } = await startServer({ maxInFlight: 2 }, (s) => {
      registerBasics(s);
      s.register('slow', async () => {
        await gate.wait();
        return 'slow';
      });
    });
    const blocked = client(address, { connections: 1 });
    const other = client(address, { connections: 1 });
    try {
      const slow = Array.from({ length: 4 }, () => blocked.call('slow'));
      await until(() => gate.started === 2, 'two slow calls to start');
      // The third and fourth wait undecoded; another connection is served meanwhile.
      assert.equal(await other.call('add', 1, 1), 2);
      assert.equal(gate.started, 2);
      const behind = deferred<unknown>();
      blocked.call('echo', 'behind').then(behind.resolve, behind.reject);
      gate.open();
      assert.deepEqual(await Promise.all(slow), ['slow', 'slow', 'slow', 'slow']);
      assert.equal(await behind.promise, 'behind');
    } finally {
      gate.open();
      await blocked.close();
      await other.close();
      await server.shutdown();
    }
  });
});
