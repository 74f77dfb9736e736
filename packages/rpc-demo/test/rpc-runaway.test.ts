// Handlers that ignore their signal: a call past its deadline or cancelled frees its in-flight slot
// at once (its reply is dropped), its handler runs on and is counted in stats().runaway, and one
// running long after it was cancelled is reported to onError (ERR_RPC_RUNAWAY).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RawPeer, client, deferred, startServer, until, within } from './rpc-helpers.js';

describe('runaway handlers', () => {
  it('1024 calls whose handler never settles time out; the connection keeps serving (issue 24, item 1)', async () => {
    const { server, address } = await startServer({}, (s) => s.register('hang', () => new Promise(() => {})).register('add', (a: number, b: number) => a + b));
    const c = client(address, { connections: 1 });
    try {
      // Connected first (dial and hello): on a loaded machine the calls could time out before they were sent.
      assert.equal(await c.call('add', 0, 0), 0);
      await Promise.all(Array.from({ length: 1024 }, () => c.request('hang', [], { timeout: 100 }).catch(() => {})));
      await until(() => server.stats().inFlight === 0 && server.stats().runaway === 1024, () => `the slots of the calls past their deadline to be freed: ${JSON.stringify({ ...server.stats(), methods: undefined })}`, 10_000);
      assert.equal(server.stats().cancelled, 1024);
      assert.equal(await c.call('add', 1, 2), 3, 'the same connection is served');
      assert.equal(c.stats().dials, 1);
    } finally {
      await c.close();
      await server.shutdown({ timeout: 2000 });
    }
  });

  it('a deadline frees the slot without a $/cancel (raw peer); the late result is dropped and runaway goes back to 0', async () => {
    const finish = deferred<string>();
    const { server, port, errors } = await startServer({ maxInFlight: 1 }, (s) => s.register('stuck', () => finish.promise).register('echo', (x: unknown) => x));
    const raw = await RawPeer.connect(port, 'framed');
    try {
      raw.send([0, 1, 'stuck', [], 50]);
      // At maxInFlight 1 this waits undecoded until the deadline frees the slot.
      raw.send([0, 2, 'echo', ['next']]);
      assert.deepEqual(await within(raw.next(), 5000, 'the second call'), [1, 2, null, 'next']);
      assert.equal(server.stats().inFlight, 0);
      assert.equal(server.stats().runaway, 1);
      finish.resolve('late');
      await until(() => server.stats().runaway === 0, 'the handler to return');
      raw.send([0, 3, 'echo', ['after']]);
      assert.deepEqual(await within(raw.next(), 5000, 'the third call'), [1, 3, null, 'after'], 'no reply for call 1');
      assert.equal(server.stats().cancelled, 1);
      assert.deepEqual(errors, []);
    } finally {
      finish.resolve('late');
      raw.destroy();
      await server.shutdown({ timeout: 2000 });
    }
  });

  it('a handler still running long after its call was cancelled is reported (ERR_RPC_RUNAWAY), once', async () => {
    const { server, port, errors } = await startServer({ runawayWarning: 100 }, (s) => s.register('hang', () => new Promise(() => {})));
    const raw = await RawPeer.connect(port, 'framed');
    try {
      raw.send([0, 1, 'hang', [], 20]);
      await until(() => errors.length > 0, 'the runaway report', 5000);
      const e = errors[0] as { code?: string; message?: string };
      assert.equal(e.code, 'ERR_RPC_RUNAWAY');
      assert.match(String(e.message), /hang/);
      assert.equal(server.stats().runaway, 1);
    } finally {
      raw.destroy();
      await server.shutdown({ timeout: 2000 });
    }
    assert.equal(errors.length, 1);
  });

  it('shutdown does not wait for a handler past its deadline', async () => {
    const { server, address } = await startServer({}, (s) => s.register('hang', () => new Promise(() => {})));
    const c = client(address, { connections: 1 });
    try {
      await assert.rejects(c.request('hang', [], { timeout: 50 }), { code: 'ERR_RPC_TIMEOUT' });
      await within(server.shutdown({ timeout: 60_000 }), 5000, 'shutdown');
    } finally {
      await c.close();
    }
  });
});
