// Strict input at the boundary: each mistake a new user makes fails at once, locally, with a coded
// error, and never takes other calls down with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError } from '@nocopy/transport';
import { FramingMismatchError, MessageTooLargeError, MethodNotFoundError, RemoteError, RpcClosedError, UnencodableValueError } from '../src/errors.js';
import { createClient } from '../src/rpc/client.js';
import { FRAMINGS, Gate, RawPeer, client, lengthPrefixed, registerBasics, startServer, until, within } from './rpc-helpers.js';
import { encode } from '@msgpack/msgpack';

describe('strict input: options and params', () => {
  it('a per-call timeout of NaN, -1 or "abc" rejects with InvalidOptionError; createClient({ timeout: -1 }) throws', async () => {
    const { server, address } = await startServer({}, (s) => registerBasics(s));
    const c = client(address, { connections: 1 });
    try {
      for (const timeout of [NaN, -1, 'abc', 1.5, Infinity]) {
        await assert.rejects(c.request('echo', [1], { timeout: timeout as number }), (e: unknown) => e instanceof InvalidOptionError && /timeout/.test(e.message));
      }
      assert.equal(server.stats().calls, 0, 'nothing was sent');
      assert.throws(() => createClient({ address, timeout: -1 }), InvalidOptionError);
      assert.throws(() => createClient({ address, timeout: NaN }), InvalidOptionError);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('params that are not an array, or hold a function or a symbol, fail that call alone; the others on the connection complete', async () => {
    const gate = new Gate();
    const { server, address } = await startServer({}, (s) => {
      registerBasics(s);
      s.register('slow', async (v: unknown) => {
        await gate.wait();
        return v;
      });
    });
    const c = client(address, { connections: 1 });
    try {
      const inFlight = c.call('slow', 'still here');
      await until(() => gate.started === 1, 'the slow call to reach the server');
      await assert.rejects(c.request('echo', 300 as unknown as unknown[]), (e: unknown) => e instanceof InvalidOptionError && /params/.test(e.message));
      await assert.rejects(c.call('echo', () => 1), (e: unknown) => e instanceof UnencodableValueError && e.code === 'ERR_UNENCODABLE_VALUE' && /function/.test(e.message));
      await assert.rejects(c.call('echo', { nested: [Symbol('s')] }), (e: unknown) => e instanceof UnencodableValueError && /symbol/.test(e.message));
      await assert.rejects(c.call('echo', new Set([1])), UnencodableValueError);
      assert.equal(server.stats().calls, 1, 'only the slow call reached the server');
      gate.open();
      assert.equal(await inFlight, 'still here');
      assert.equal(await c.call('add', 1, 2), 3);
      assert.equal(c.stats().dials, 1, 'the connection was never broken');
    } finally {
      gate.open();
      await c.close();
      await server.shutdown();
    }
  });

  it('addresses that are not host:port are refused by createClient at once', () => {
    for (const address of ['localhost', 'http://127.0.0.1:7777', '127.0.0.1', '127.0.0.1:99999', ':', '', 'a b:1']) {
      assert.throws(() => createClient({ address }), (e: unknown) => e instanceof InvalidOptionError && e.code === 'ERR_INVALID_OPTION', address);
    }
    assert.throws(() => createClient({ addresses: ['127.0.0.1:1', 'localhost'] }), InvalidOptionError);
    assert.throws(() => createClient({ address: 42 as unknown as string }), InvalidOptionError);
    // The option at fault is named: an empty `addresses` beside a valid `address` (issue 24).
    assert.throws(() => createClient({ address: '127.0.0.1:1', addresses: [] }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'addresses');
    assert.throws(() => createClient({ address: '127.0.0.1:1', target: '127.0.0.1:2' }), (e: unknown) => e instanceof InvalidOptionError && /one of address, addresses, target and resolver/.test(e.message));
  });
});

describe('strict input: the server', () => {
  it('register() after shutdown() throws RpcClosedError', async () => {
    const { server } = await startServer({}, (s) => registerBasics(s));
    await server.shutdown();
    assert.throws(() => server.register('late', () => 1), (e: unknown) => e instanceof RpcClosedError && e.code === 'ERR_RPC_CLOSED' && /server/.test(e.message));
  });

  it('a notification to an unknown method reaches onError as MethodNotFoundError', async () => {
    const { server, address, errors } = await startServer({}, (s) => registerBasics(s));
    const c = client(address, { connections: 1 });
    try {
      await c.notify('nosuch', 1);
      await c.call('add', 1, 1); // answered after the notification was handled (same connection, in order)
      const e = errors.find((x) => x instanceof MethodNotFoundError);
      assert.ok(e instanceof MethodNotFoundError, errors.map(String).join('; '));
      assert.match(e.message, /notification.*nosuch/);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});

describe('strict input: framing mismatch', () => {
  for (const [clientFraming, serverFraming] of [
    ['framed', 'stream'],
    ['stream', 'framed'],
  ] as const) {
    it(`a ${clientFraming} client calling a ${serverFraming} server: both errors name the mismatch`, async () => {
      const { server, address, errors } = await startServer({ framing: serverFraming }, (s) => registerBasics(s));
      const c = client(address, { framing: clientFraming, connections: 1 });
      try {
        const r = await within(
          c.call('add', 1, 2).then(
            () => null,
            (e: unknown) => e,
          ),
          5000,
          'the call to fail',
        );
        assert.equal((r as { code?: string } | null)?.code, 'ERR_FRAMING_MISMATCH', String(r));
        assert.match((r as Error).message, new RegExp(`'${serverFraming}'.*'${clientFraming}'`));
        const se = errors.find((e) => e instanceof FramingMismatchError);
        assert.ok(se instanceof FramingMismatchError, errors.map(String).join('; '));
        assert.equal(se.framing, serverFraming);
        assert.equal(se.peerFraming, clientFraming);
        assert.equal(c.stats().pending, 0);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });
  }
});

describe('strict input: a message above the server limit', () => {
  for (const framing of FRAMINGS) {
    it(`is answered with ERR_MESSAGE_TOO_LARGE before the close, when its id is known (${framing})`, async () => {
      const { server, port, errors } = await startServer({ framing, maxMessageSize: 1024 }, (s) => registerBasics(s));
      const raw = await RawPeer.connect(port, framing);
      try {
        const body = encode([0, 300, 'echo', ['x'.repeat(2000)]]);
        raw.write(framing === 'framed' ? lengthPrefixed(body) : body);
        const reply = (await raw.next()) as unknown[];
        assert.equal(reply[0], 1);
        assert.equal(reply[1], 300);
        assert.equal((reply[2] as { code?: string }).code, 'ERR_MESSAGE_TOO_LARGE');
        await within(raw.closed, 5000, 'the server to close the connection');
        assert.ok(errors.some((e) => e instanceof MessageTooLargeError));
      } finally {
        raw.destroy();
        await server.shutdown();
      }
    });
  }

  it('our client sees the RemoteError with the limit in its message', async () => {
    const { server, address } = await startServer({ maxMessageSize: 1024 }, (s) => registerBasics(s));
    const c = client(address, { connections: 1 });
    try {
      await assert.rejects(c.call('echo', 'x'.repeat(5000)), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_MESSAGE_TOO_LARGE' && /1024/.test(e.message));
      assert.equal(await c.call('add', 2, 3), 5, 'the next call reconnects');
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});
