// Middleware on both sides, in onion order: seeing method, params, context, result and error;
// short-circuiting (auth by a metadata token, a per-method rate limit, a client-side cache).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteError, RpcError } from '../src/errors.js';
import type { ServerMiddleware } from '../src/rpc/middleware.js';
import type { CallContext } from '../src/rpc/context.js';
import { client, registerBasics, startServer, until } from './rpc-helpers.js';

/** Auth by metadata: a call needs `authorization: Bearer <a known token>`; the user goes in the connection's attributes. */
function auth(tokens: Record<string, string>): ServerMiddleware {
  return (ctx, next) => {
    const m = /^Bearer (.+)$/.exec(ctx.metadata.authorization ?? '');
    const user = m === null ? undefined : tokens[m[1]!];
    if (user === undefined) throw new RpcError(`${ctx.method}: not authenticated`, 'ERR_UNAUTHENTICATED');
    ctx.attributes.set('user', user);
    return next();
  };
}

/** A per-method limit of `limits[method]` calls per window of `windowMs` (fixed window, all clients). */
function rateLimit(limits: Record<string, number>, windowMs: number): ServerMiddleware {
  const used = new Map<string, { start: number; n: number }>();
  return (ctx, next) => {
    const limit = limits[ctx.method];
    if (limit === undefined) return next();
    const now = Date.now();
    let w = used.get(ctx.method);
    if (w === undefined || now - w.start >= windowMs) used.set(ctx.method, (w = { start: now, n: 0 }));
    if (++w.n > limit) throw new RpcError(`${ctx.method}: rate limited`, 'ERR_RATE_LIMITED', { data: { limit, retryAfterMs: w.start + windowMs - now } });
    return next();
  };
}

describe('server middleware', () => {
  it('runs in onion order around the handler, seeing method, params, context, result and error', async () => {
    const log: string[] = [];
    const { server, address } = await startServer({}, (s) => {
      registerBasics(s);
      s.register('boom', () => {
        throw new RpcError('boom', 'ERR_BOOM');
      });
      s.use(async (ctx, next) => {
        log.push(`a> ${ctx.method}(${JSON.stringify(ctx.params)}) ${ctx.metadata.trace ?? '-'}`);
        try {
          const r = await next();
          log.push(`<a ${JSON.stringify(r)}`);
          return r;
        } catch (err) {
          log.push(`<a error ${(err as RpcError).code}`);
          throw err;
        }
      });
      s.use(async (ctx, next) => {
        log.push('b>');
        ctx.params = ctx.params.map((x) => (typeof x === 'number' ? x * 10 : x)); // may rewrite the params
        const r = await next();
        log.push('<b');
        return r;
      });
    });
    const c = client(address, { connections: 1 });
    try {
      assert.equal(await c.request('add', [1, 2], { metadata: { trace: 't9' } }), 30);
      await assert.rejects(c.call('boom'), { code: 'ERR_BOOM' });
      assert.deepEqual(log, ['a> add([1,2]) t9', 'b>', '<b', '<a 30', 'a> boom([]) -', 'b>', '<a error ERR_BOOM']);
      // Methods registered after use() are wrapped too; notifications pass through (id -1).
      const seen: number[] = [];
      server.use((ctx, next) => (seen.push(ctx.id), next()));
      server.register('late', () => 'late');
      assert.equal(await c.call('late'), 'late');
      await c.notify('note', 1);
      await until(() => seen.length === 2, 'the notification to pass');
      assert.equal(seen[1], -1);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('auth by a metadata token: calls without a known token are refused before the handler runs', async () => {
    let ran = 0;
    const { server, address } = await startServer({}, (s) => {
      s.use(auth({ good: 'ada' }));
      s.register('whoami', function (this: CallContext) {
        ran++;
        return this.attributes.get('user');
      });
    });
    const anonymous = client(address, { connections: 1 });
    const bad = client(address, { connections: 1 }).use((call, next) => ((call.options = { ...call.options, metadata: { authorization: 'Bearer bad' } }), next()));
    // The client side of auth: a middleware adds the token to every call.
    const ada = client(address, { connections: 1 }).use((call, next) => {
      call.options = { ...call.options, metadata: { ...call.options.metadata, authorization: 'Bearer good' } };
      return next();
    });
    try {
      assert.equal(await ada.call('whoami'), 'ada');
      assert.equal(await ada.service<{ whoami(): string }>().whoami(), 'ada', 'service proxies pass through client middleware');
      for (const c of [anonymous, bad]) {
        await assert.rejects(c.call('whoami'), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_UNAUTHENTICATED');
      }
      assert.equal(ran, 2);
    } finally {
      await Promise.all([anonymous.close(), bad.close(), ada.close()]);
      await server.shutdown();
    }
  });

  it('a per-method rate limit refuses the calls past it with ERR_RATE_LIMITED and its data; other methods are not limited', async () => {
    const { server, address } = await startServer({}, (s) => {
      registerBasics(s);
      s.use(rateLimit({ echo: 2 }, 60_000));
    });
    const c = client(address, { connections: 1 });
    try {
      assert.equal(await c.call('echo', 1), 1);
      assert.equal(await c.call('echo', 2), 2);
      await assert.rejects(c.call('echo', 3), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, 'ERR_RATE_LIMITED');
        assert.equal((e.data as { limit: number }).limit, 2);
        assert.ok((e.data as { retryAfterMs: number }).retryAfterMs > 0);
        return true;
      });
      for (let i = 0; i < 5; i++) assert.equal(await c.call('add', i, 1), i + 1);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});

describe('client middleware', () => {
  it('runs in onion order, sees results and errors, and can short-circuit (a cache)', async () => {
    let served = 0;
    const { server, address } = await startServer({}, (s) => {
      registerBasics(s);
      s.register('config', () => ({ served: ++served }));
    });
    const log: string[] = [];
    const cache = new Map<string, unknown>();
    const c = client(address, { connections: 1 })
      .use(async (call, next) => {
        log.push(`outer> ${call.method}`);
        try {
          return await next();
        } catch (err) {
          log.push(`outer error ${(err as RpcError).code}`);
          throw err;
        } finally {
          log.push('<outer');
        }
      })
      .use((call, next) => {
        if (call.method !== 'config') return next();
        if (cache.has('config')) return cache.get('config'); // no call sent
        return next().then((v) => (cache.set('config', v), v));
      });
    try {
      assert.deepEqual(await c.call('config'), { served: 1 });
      assert.deepEqual(await c.call('config'), { served: 1 }, 'from the cache');
      assert.equal(served, 1);
      await assert.rejects(c.call('nosuch'), { code: 'ERR_METHOD_NOT_FOUND' });
      assert.deepEqual(log, ['outer> config', '<outer', 'outer> config', '<outer', 'outer> nosuch', 'outer error ERR_METHOD_NOT_FOUND', '<outer']);
      assert.equal(server.stats().calls, 2, 'the cached call never reached the server');
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});
