// Per-call timeouts and aborts: the call rejects, its late reply is dropped, nothing is left pending,
// no unhandled rejection, and the connection keeps working.
import { type TestContext, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RpcTimeoutError, RpcError } from '../src/errors.js';
import { Gate, client, registerBasics, startServer, trackUnhandled, until, within } from './rpc-helpers.js';

/** A server with a gated `slow` method and a client with `options`; both closed, and the gate opened, after the test. */
async function setup(t: TestContext, options: Parameters<typeof client>[1]) {
  const gate = new Gate();
  const served = await startServer({}, (s) => {
    registerBasics(s);
    s.register('slow', async (v: unknown) => {
      await gate.wait();
      return v;
    });
  });
  const c = client(served.address, options);
  const unhandled = trackUnhandled();
  t.after(async () => {
    unhandled.stop();
    gate.open();
    await c.close();
    await served.server.shutdown();
  });
  return { gate, c, unhandled, ...served };
}

describe('timeouts and aborts', () => {
  it('a per-call timeout rejects with RpcTimeoutError; the late reply is dropped and the connection goes on', async (t) => {
    const { gate, server, c, unhandled } = await setup(t, { connections: 1, timeout: 0 });
    // Connected first: the timeout counts from the call, a wait for the connection included.
    await c.ready();
    const p = c.request('slow', ['late'], { timeout: 30 });
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof RpcTimeoutError);
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, 'ERR_RPC_TIMEOUT');
      assert.match(e.message, /slow/);
      return true;
    });
    assert.equal(c.stats().pending, 0, 'a timed-out call is no longer pending');
    assert.equal(gate.started, 1, 'the server is still running it');
    // The server answers now; the reply reaches the client before the next call's (same connection, in order).
    gate.open();
    await until(() => server.stats().inFlight === 0, 'the slow handler to finish');
    assert.equal(await c.call('add', 1, 2), 3);
    assert.equal(c.stats().pending, 0);
    assert.equal(c.stats().connections, 1);
    assert.equal(c.stats().dials, 1, 'the late reply did not break the connection');
    // timeout 0: no timeout for this call.
    assert.equal(await c.request('slow', ['now open'], { timeout: 0 }), 'now open');
    assert.deepEqual(unhandled.list, []);
  });

  it('the client default timeout applies when the call sets none', async (t) => {
    const { gate, c } = await setup(t, { connections: 1, timeout: 25 });
    await assert.rejects(c.call('slow', 1), { code: 'ERR_RPC_TIMEOUT' });
    await assert.rejects(c.call('slow', 2), { code: 'ERR_RPC_TIMEOUT' });
    gate.open();
    assert.equal(await c.call('echo', 'ok'), 'ok');
    assert.equal(c.stats().pending, 0);
  });

  it('an abort signal rejects the call with ABORT_ERR; the late reply is dropped', async (t) => {
    const { gate, server, c, unhandled } = await setup(t, { connections: 1, timeout: 0 });
    const ac = new AbortController();
    const p = c.request('slow', ['aborted'], { signal: ac.signal });
    const other = c.request('slow', ['kept']);
    await until(() => gate.started === 2, 'both calls to reach the server');
    ac.abort(new Error('user gave up'));
    await assert.rejects(p, (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'ABORT_ERR');
      assert.equal(((e as Error).cause as Error).message, 'user gave up');
      return true;
    });
    assert.equal(c.stats().pending, 1, 'only the aborted call left');
    gate.open();
    assert.equal(await other, 'kept', 'the other call on the connection is unaffected');
    await until(() => server.stats().inFlight === 0, 'the handlers to finish');
    assert.equal(await c.call('add', 2, 2), 4);
    assert.equal(c.stats().pending, 0);
    assert.equal(c.stats().dials, 1);
    // Aborting after the call settled does nothing.
    const ac2 = new AbortController();
    assert.equal(await c.request('echo', ['x'], { signal: ac2.signal }), 'x');
    ac2.abort();
    // An already aborted signal rejects at once, nothing sent.
    const calls = server.stats().calls;
    await assert.rejects(c.request('echo', ['never'], { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' });
    assert.equal(await c.call('echo', 'y'), 'y');
    assert.equal(server.stats().calls, calls + 1, 'the pre-aborted call was never sent');
    assert.deepEqual(unhandled.list, []);
  });

  it('an abort while the connection is still being dialed rejects the call; nothing is sent', async (t) => {
    const { gate, c } = await setup(t, { connections: 1, timeout: 0 });
    const ac = new AbortController();
    // A fresh client: this call waits for the dial.
    const p = c.request('slow', ['x'], { signal: ac.signal });
    ac.abort();
    await within(
      assert.rejects(p, { code: 'ABORT_ERR' }),
      3000,
      'the aborted call to reject',
    );
    assert.equal(c.stats().pending, 0);
    assert.equal(await c.call('add', 1, 1), 2);
    assert.equal(gate.started, 0, 'the aborted call never ran');
  });

  it('close() rejects pending calls with ERR_RPC_CLOSED, and later calls too', async (t) => {
    const { gate, c } = await setup(t, { connections: 1 });
    const p = c.call('slow', 1);
    const rejected = assert.rejects(p, { code: 'ERR_RPC_CLOSED' });
    await until(() => gate.started === 1, 'the call to reach the server');
    await c.close();
    await rejected;
    await assert.rejects(c.call('echo', 1), { code: 'ERR_RPC_CLOSED' });
    await assert.rejects(c.notify('note'), { code: 'ERR_RPC_CLOSED' });
    assert.equal(c.stats().pending, 0);
  });
});
