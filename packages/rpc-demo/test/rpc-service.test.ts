// Typed services at run time: register(handlers), client.service() proxies, validate hooks. (The
// compile-time half is rpc-types.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError } from '@nocopy/transport';
import { defineService } from '../src/rpc/service.js';
import { RemoteError, RpcError } from '../src/errors.js';
import { RawPeer, client, startServer } from './rpc-helpers.js';

const handlers = defineService({
  add(a: number, b: number): number {
    return a + b;
  },
  async greet(name: string): Promise<string> {
    return `hello ${name} (${this.metadata.lang ?? 'en'})`;
  },
});

describe('typed services', () => {
  it('register(handlers) and client.service<typeof handlers>() call the methods by name; the wire is plain MessagePack-RPC', async () => {
    const { server, address, port } = await startServer({}, (s) => s.register(handlers));
    const c = client(address, { connections: 1 });
    try {
      const api = c.service<typeof handlers>();
      assert.equal(await api.add(40, 2), 42);
      assert.equal(await api.greet('ada'), 'hello ada (en)');
      assert.equal(api.add, api.add, 'one function per method');
      assert.equal(await c.service<typeof handlers>({ metadata: { lang: 'fr' } }).greet('ada'), 'hello ada (fr)', 'per-proxy call options');
      assert.equal(await Promise.resolve(api), api, 'not a thenable');
      await assert.rejects((api as unknown as { nosuch(): Promise<unknown> }).nosuch(), { code: 'ERR_METHOD_NOT_FOUND' });
      // Any MessagePack-RPC peer calls the same methods.
      const raw = await RawPeer.connect(port, 'framed');
      raw.send([0, 1, 'add', [1, 2]]);
      assert.deepEqual(await raw.next(), [1, 1, null, 3]);
      raw.destroy();
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('a validate hook refuses bad params before the handler runs: ERR_INVALID_PARAMS, or the hook error own code', async () => {
    let ran = 0;
    class Unauthorized extends RpcError {
      constructor() {
        super('who are you?', 'ERR_UNAUTHORIZED');
      }
    }
    const { server, address } = await startServer({}, (s) => {
      s.register(
        defineService({
          add(a: number, b: number) {
            ran++;
            return a + b;
          },
        }),
        {
          validate: {
            add: (p) => {
              if (p.length !== 2 || !p.every((x) => typeof x === 'number')) throw new TypeError('add takes two numbers');
            },
          },
        },
      );
      s.register('secret', () => 'x', {
        validate: () => {
          throw new Unauthorized();
        },
      });
    });
    const c = client(address, { connections: 1 });
    try {
      assert.equal(await c.call('add', 1, 2), 3);
      await assert.rejects(c.call('add', 1, '2'), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_INVALID_PARAMS' && /add takes two numbers/.test(e.message));
      await assert.rejects(c.call('secret'), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_UNAUTHORIZED');
      assert.equal(ran, 1, 'the handler ran for the valid call only');
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('register() refuses a service with a non-function, a validator of no method, or a reserved name, and registers nothing', async () => {
    const { server, address } = await startServer();
    const c = client(address, { connections: 1 });
    try {
      assert.throws(() => server.register({ ok: () => 1, bad: 42 } as never), InvalidOptionError);
      assert.throws(() => server.register({ ok: () => 1 }, { validate: { other: () => {} } } as never), InvalidOptionError);
      assert.throws(() => server.register({ ok: () => 1, '$/cancel': () => 2 }), InvalidOptionError);
      assert.throws(() => server.register('$/mine', () => 1), InvalidOptionError);
      assert.throws(() => server.register({}), InvalidOptionError);
      await assert.rejects(c.call('ok'), { code: 'ERR_METHOD_NOT_FOUND' });
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});
