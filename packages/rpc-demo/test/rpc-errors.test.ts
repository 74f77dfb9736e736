// Errors: thrown and rejected handler errors reach the caller as RemoteError (remote name, message,
// code); unknown methods; results and requests too large or not encodable. The server never crashes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageTooLargeError, RemoteError, RpcError } from '../src/errors.js';
import { FRAMINGS, RawPeer, client, registerBasics, sleep, startServer, until } from './rpc-helpers.js';

class BoomError extends Error {
  readonly code = 'E_BOOM';
}
BoomError.prototype.name = 'BoomError';

function isRemote(name: string, message: string, code: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof RemoteError, `a RemoteError, got ${String(e)}`);
    assert.ok(e instanceof RpcError);
    assert.equal(e.name, 'RemoteError');
    assert.equal(e.remoteName, name);
    assert.equal(e.message, message);
    assert.equal(e.code, code);
    return true;
  };
}

for (const framing of FRAMINGS) {
  describe(`remote errors (${framing})`, () => {
    it('a throwing handler, an async rejection and an unknown method are answered with errors; the server goes on', async () => {
      const { server, address } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('throws', (msg: string) => {
          throw new BoomError(msg);
        });
        s.register('rejects', async (msg: string) => {
          await sleep(0);
          throw new BoomError(msg);
        });
        s.register('throwsPlain', () => {
          throw new TypeError('plain');
        });
        s.register('throwsString', () => {
          throw 'a string'; // eslint-disable-line no-throw-literal
        });
        s.register('rejectsUndefined', () => Promise.reject(undefined));
      });
      const c = client(address, { framing, connections: 1 });
      try {
        await assert.rejects(c.call('throws', 'sync boom'), isRemote('BoomError', 'sync boom', 'E_BOOM'));
        await assert.rejects(c.call('rejects', 'async boom'), isRemote('BoomError', 'async boom', 'E_BOOM'));
        await assert.rejects(c.call('throwsPlain'), isRemote('TypeError', 'plain', 'ERR_REMOTE'));
        await assert.rejects(c.call('throwsString'), isRemote('Error', 'a string', 'ERR_REMOTE'));
        await assert.rejects(c.call('rejectsUndefined'), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_REMOTE');
        await assert.rejects(c.call('nope', 1), isRemote('MethodNotFoundError', 'no such method: nope', 'ERR_METHOD_NOT_FOUND'));
        // Errors and results interleaved on one connection stay matched to their calls.
        const mixed = await Promise.allSettled([c.call('add', 1, 1), c.call('throws', 'x'), c.call('nope'), c.call('asyncAdd', 2, 2), c.call('rejects', 'y')]);
        assert.deepEqual(
          mixed.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as RemoteError).code)),
          [2, 'E_BOOM', 'ERR_METHOD_NOT_FOUND', 4, 'E_BOOM'],
        );
        // Still serving, on the same connection.
        assert.equal(await c.call('add', 20, 22), 42);
        assert.equal(c.stats().connections, 1);
        assert.equal(c.stats().dials, 1, 'no reconnect: the connection survived every error');
        assert.equal(server.stats().errors, 9);
        assert.equal(server.stats().connections, 1);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('a result too large to send is answered with ERR_MESSAGE_TOO_LARGE, not a hang', async () => {
      const { server, address } = await startServer({ framing, maxMessageSize: 1024 }, (s) => {
        registerBasics(s);
        s.register('big', (n: number) => 'x'.repeat(n));
        s.register('bigAsync', async (n: number) => {
          await sleep(0);
          return Buffer.alloc(n);
        });
        s.register('bigError', () => {
          throw new Error('e'.repeat(5000));
        });
      });
      const c = client(address, { framing, connections: 1 });
      try {
        assert.equal(((await c.call('big', 900)) as string).length, 900);
        const tooLarge = (e: unknown) => e instanceof RemoteError && e.code === 'ERR_MESSAGE_TOO_LARGE' && e.remoteName === 'MessageTooLargeError';
        await assert.rejects(c.call('big', 2000), tooLarge);
        await assert.rejects(c.call('bigAsync', 2000), tooLarge);
        // Even the error does not fit: it is replaced by a MessageTooLargeError, which does.
        await assert.rejects(c.call('bigError'), tooLarge);
        assert.equal(await c.call('add', 1, 2), 3);
        assert.equal(c.stats().dials, 1);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('a result MessagePack cannot encode is answered with an error', async () => {
      const { server, address } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('bigint', () => 10n ** 30n);
        s.register('symbol', async () => Symbol('nope'));
      });
      const c = client(address, { framing, connections: 1 });
      try {
        await assert.rejects(c.call('bigint'), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_UNENCODABLE_VALUE' && /the result/.test(e.message));
        await assert.rejects(c.call('symbol'), (e: unknown) => e instanceof RemoteError && e.remoteName === 'UnencodableValueError');
        assert.equal(await c.call('add', 1, 2), 3);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('a request too large for the client is refused locally, nothing sent', async () => {
      const { server, address } = await startServer({ framing }, (s) => registerBasics(s));
      const c = client(address, { framing, connections: 1, maxMessageSize: 1000 });
      try {
        await assert.rejects(c.call('echo', 'x'.repeat(2000)), (e: unknown) => e instanceof MessageTooLargeError && e.code === 'ERR_MESSAGE_TOO_LARGE' && e.limit === 1000);
        assert.equal(c.stats().pending, 0);
        assert.equal(await c.call('echo', 'small'), 'small');
        assert.equal(server.stats().calls, 1, 'the oversized request never reached the server');
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('a response larger than the client accepts closes that connection: its calls fail, the next ones work', async () => {
      const { server, address } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('big', (n: number) => 'x'.repeat(n));
      });
      const c = client(address, { framing, connections: 1, maxMessageSize: 1000 });
      try {
        await assert.rejects(c.call('big', 5000), (e: unknown) => {
          assert.equal((e as { code?: string }).code, 'ERR_CONN_CLOSED');
          assert.ok((e as Error).cause instanceof MessageTooLargeError, String((e as Error).cause));
          return true;
        });
        assert.equal(c.stats().pending, 0);
        assert.equal(((await c.call('big', 500)) as string).length, 500);
        assert.equal(c.stats().dials, 2, 'a new connection');
      } finally {
        await c.close();
        await server.shutdown();
      }
    });

    it('error responses are { name, message, code } maps any MessagePack peer can read', async () => {
      const { server, port } = await startServer({ framing }, (s) =>
        s.register('throws', () => {
          throw new BoomError('wire');
        }),
      );
      const raw = await RawPeer.connect(port, framing);
      try {
        raw.send([0, 1, 'throws', []]);
        assert.deepEqual(await raw.next(), [1, 1, { name: 'BoomError', message: 'wire', code: 'E_BOOM' }, null]);
        raw.send([0, 2, 'missing', []]);
        assert.deepEqual(await raw.next(), [1, 2, { name: 'MethodNotFoundError', message: 'no such method: missing', code: 'ERR_METHOD_NOT_FOUND' }, null]);
      } finally {
        raw.destroy();
        await server.shutdown();
      }
    });
  });
}

describe('notification errors', () => {
  it('a notification handler that throws or rejects, or an unknown notification, is reported to onError, never answered, never a crash', async () => {
    const { server, address, errors } = await startServer({}, (s) => {
      registerBasics(s);
      s.register('badNote', () => {
        throw new BoomError('sync note');
      });
      s.register('badAsyncNote', async () => {
        await sleep(0);
        throw new BoomError('async note');
      });
    });
    const c = client(address, { connections: 1 });
    try {
      await c.notify('badNote');
      await c.notify('badAsyncNote');
      await c.notify('unknownNote');
      assert.equal(await c.call('add', 1, 1), 2);
      await until(() => errors.length >= 3, 'the three notification errors to be reported');
      const messages = errors.map((e) => (e as Error).message).sort();
      assert.deepEqual(messages, ['async note', 'notification to no such method: unknownNote', 'sync note']);
      assert.equal(c.stats().pending, 0);
      assert.equal(c.stats().dials, 1);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});
