// What a handler throws when it is not an Error (issue 24, item 4): null and undefined fail the call
// (never a success null), a plain object keeps its code, message and data, and a result MessagePack
// cannot encode is answered with UnencodableValueError (ERR_UNENCODABLE_VALUE). Sync, async and
// offloaded handlers alike.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { RemoteError } from '../src/errors.js';
import { client, startServer } from './rpc-helpers.js';

// This file runs from dist/test/; the fixture stays in test/fixtures/ (plain JS, not compiled).
const WORKERS = fileURLToPath(new URL('../../test/fixtures/throwing-workers.mjs', import.meta.url));

function remote(code: string, message?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof RemoteError, `a RemoteError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message !== undefined) assert.match(e.message, message);
    return true;
  };
}

describe('thrown values that are not Errors', () => {
  it('sync, async and offloaded handlers throwing null or undefined fail the call', async () => {
    const { server, address } = await startServer({ workers: { filename: WORKERS, maxThreads: 1 } }, (s) => {
      s.register('syncNull', () => {
        throw null; // eslint-disable-line no-throw-literal
      });
      s.register('syncUndefined', () => {
        throw undefined; // eslint-disable-line no-throw-literal
      });
      s.register('asyncNull', async () => {
        throw null; // eslint-disable-line no-throw-literal
      });
      s.register('offNull', 'throwsNull', { offload: true });
      s.register('offUndefined', 'throwsUndefined', { offload: true });
      s.register('add', (a: number, b: number) => a + b);
    });
    const c = client(address, { connections: 1 });
    try {
      await assert.rejects(c.call('syncNull'), remote('ERR_REMOTE', /null/));
      await assert.rejects(c.call('syncUndefined'), remote('ERR_REMOTE', /undefined/));
      await assert.rejects(c.call('asyncNull'), remote('ERR_REMOTE', /null/));
      await assert.rejects(c.call('offNull'), remote('ERR_REMOTE', /null/));
      await assert.rejects(c.call('offUndefined'), remote('ERR_REMOTE', /undefined/));
      assert.equal(server.stats().errors, 5);
      assert.equal(await c.call('add', 1, 2), 3);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('a thrown plain object keeps its code, message and data', async () => {
    const { server, address } = await startServer({ workers: { filename: WORKERS, maxThreads: 1 } }, (s) => {
      s.register('syncCoded', () => {
        throw { code: 'ERR_QUOTA', message: 'quota exceeded', data: { used: 3 } }; // eslint-disable-line no-throw-literal
      });
      s.register('asyncCoded', async () => {
        throw { code: 'ERR_QUOTA', message: 'quota exceeded', data: { used: 3 } }; // eslint-disable-line no-throw-literal
      });
      s.register('offCoded', 'throwsCoded', { offload: true });
      s.register('bare', () => {
        throw { why: 'no code' }; // eslint-disable-line no-throw-literal
      });
    });
    const c = client(address, { connections: 1 });
    try {
      for (const m of ['syncCoded', 'asyncCoded', 'offCoded']) {
        await assert.rejects(c.call(m), (e: unknown) => {
          remote('ERR_QUOTA', /^quota exceeded$/)(e);
          assert.deepEqual((e as RemoteError).data, { used: 3 }, m);
          return true;
        });
      }
      // No message: the object itself, readable (not "[object Object]").
      await assert.rejects(c.call('bare'), remote('ERR_REMOTE', /no code/));
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('a result MessagePack cannot encode is answered with ERR_UNENCODABLE_VALUE', async () => {
    const { server, address } = await startServer({ workers: { filename: WORKERS, maxThreads: 1 } }, (s) => {
      s.register('bigint', () => 10n ** 30n);
      s.register('symbol', async () => Symbol('nope'));
      s.register('set', () => new Set([1]));
      s.register('offFn', 'unencodable', { offload: true });
      s.register('add', (a: number, b: number) => a + b);
    });
    const c = client(address, { connections: 1 });
    try {
      await assert.rejects(c.call('bigint'), remote('ERR_UNENCODABLE_VALUE', /result/));
      await assert.rejects(c.call('symbol'), remote('ERR_UNENCODABLE_VALUE', /result/));
      await assert.rejects(c.call('set'), remote('ERR_UNENCODABLE_VALUE', /Set/));
      // A function cannot leave the worker (structured clone): the same code.
      await assert.rejects(c.call('offFn'), remote('ERR_UNENCODABLE_VALUE'));
      assert.equal(await c.call('add', 1, 2), 3);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});
