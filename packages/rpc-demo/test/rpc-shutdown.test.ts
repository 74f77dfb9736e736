// Shutdown answers every call already received, then closes the connections.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FRAMINGS, Gate, RawPeer, client, outcome, registerBasics, startServer, until, within } from './rpc-helpers.js';

for (const framing of FRAMINGS) {
  describe(`shutdown (${framing})`, () => {
    it('answers every call already received, then closes the connections', async () => {
      const gate = new Gate();
      const { server, address } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('slow', async (i: number) => {
          await gate.wait();
          return { i, done: true };
        });
      });
      const c = client(address, { framing, connections: 3 });
      try {
        const N = 12;
        const calls = Array.from({ length: N }, (_, i) => c.call('slow', i));
        await until(() => gate.started === N, 'every call to reach the server');
        assert.equal(server.stats().inFlight, N);
        let shutDown = false;
        const sd = server.shutdown({ timeout: 5000 }).then(() => (shutDown = true));
        // The handlers finish only now, after shutdown began.
        await new Promise((r) => setImmediate(r));
        assert.equal(shutDown, false, 'shutdown waits for the calls in flight');
        gate.open();
        const rs = await within(Promise.all(calls), 5000, 'the calls to be answered');
        assert.deepEqual(rs, Array.from({ length: N }, (_, i) => ({ i, done: true })));
        await within(sd, 5000, 'shutdown');
        assert.equal(server.stats().connections, 0);
        assert.equal(server.stats().inFlight, 0);
        await until(() => c.stats().connections === 0, 'the client to see its connections close');
        assert.equal(c.stats().pending, 0);
        // Nobody listens any more.
        const after = await outcome(c.call('echo', 1));
        assert.equal(after.ok, false);
      } finally {
        gate.open();
        await c.close();
        await server.shutdown();
      }
    });

    it('with no calls in flight, closes idle connections at once', async () => {
      const { server, address } = await startServer({ framing }, (s) => registerBasics(s));
      const c = client(address, { framing, connections: 2 });
      try {
        assert.deepEqual(await Promise.all([c.call('add', 1, 1), c.call('add', 2, 2)]), [2, 4]);
        await within(server.shutdown({ timeout: 5000 }), 5000, 'shutdown');
        await until(() => c.stats().connections === 0, 'the client to see its connections close');
      } finally {
        await c.close();
      }
    });
  });
}

describe('answering what was received', () => {
  it('shutdown also answers calls received but not yet started (connection at maxInFlight)', async () => {
    const gate = new Gate();
    const { server, address } = await startServer({ maxInFlight: 2 }, (s) =>
      s.register('slow', async (i: number) => {
        await gate.wait();
        return i;
      }),
    );
    const c = client(address, { connections: 1 });
    try {
      const calls = Array.from({ length: 8 }, (_, i) => c.call('slow', i));
      await until(() => gate.started === 2, 'two calls to start');
      // The other six are in the server's input, undecoded, while the connection is at its limit.
      assert.equal(server.stats().inFlight, 2);
      const sd = server.shutdown({ timeout: 5000 });
      gate.open();
      assert.deepEqual(await within(Promise.all(calls), 5000, 'every call to be answered'), [0, 1, 2, 3, 4, 5, 6, 7]);
      await within(sd, 5000, 'shutdown');
      assert.equal(server.stats().connections, 0);
    } finally {
      gate.open();
      await c.close();
      await server.shutdown();
    }
  });

  for (const framing of FRAMINGS) {
    it(`a peer that half-closes after its requests still gets every answer (${framing})`, async () => {
      const { server, port } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('later', async (v: unknown) => {
          await new Promise((r) => setTimeout(r, 5));
          return v;
        });
      });
      const raw = await RawPeer.connect(port, framing);
      try {
        raw.send([0, 1, 'later', ['a']]);
        raw.send([0, 2, 'add', [1, 2]]);
        raw.send([0, 3, 'later', ['c']]);
        raw.socket.end(); // FIN: no more requests
        await within(raw.closed, 5000, 'the server to answer and close');
        const byId = new Map((raw.received as unknown[][]).map((m) => [m[1], m]));
        assert.deepEqual(byId.get(1), [1, 1, null, 'a']);
        assert.deepEqual(byId.get(2), [1, 2, null, 3]);
        assert.deepEqual(byId.get(3), [1, 3, null, 'c']);
        assert.equal(raw.received.length, 3);
      } finally {
        raw.destroy();
        await server.shutdown();
      }
    });
  }
});
