// Errors with structured detail: a handler's error reaches the client's RemoteError with its name,
// message, code and data; data that cannot be encoded is left out, never the error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteError, RpcError } from '../src/errors.js';
import { RawPeer, client, startServer } from './rpc-helpers.js';

class QuotaError extends RpcError {
  constructor(used: number) {
    super('quota exceeded', 'ERR_QUOTA', { data: { used, limit: 100, window: ['1m', 60] } });
  }
}
QuotaError.prototype.name = 'QuotaError';

describe('errors with structured detail', () => {
  it('name, message, code and data reach RemoteError; a plain Error with a data property too', async () => {
    const { server, address, port } = await startServer({}, (s) => {
      s.register('quota', () => {
        throw new QuotaError(101);
      });
      s.register('plain', async () => {
        throw Object.assign(new RangeError('out of range'), { data: [1, 'two', null] });
      });
      s.register('badData', () => {
        throw Object.assign(new Error('with a function'), { code: 'ERR_BAD', data: { f: () => 1 } });
      });
    });
    const c = client(address, { connections: 1 });
    try {
      await assert.rejects(c.call('quota'), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, 'ERR_QUOTA');
        assert.equal(e.message, 'quota exceeded');
        assert.equal(e.remoteName, 'QuotaError');
        assert.deepEqual(e.data, { used: 101, limit: 100, window: ['1m', 60] });
        return true;
      });
      await assert.rejects(c.call('plain'), (e: unknown) => e instanceof RemoteError && e.code === 'ERR_REMOTE' && e.remoteName === 'RangeError' && JSON.stringify(e.data) === '[1,"two",null]');
      await assert.rejects(c.call('badData'), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, 'ERR_BAD');
        assert.match(e.message, /^with a function \(data not sent: .*function/);
        assert.equal(e.data, undefined);
        return true;
      });
      // What any MessagePack peer reads: a map.
      const raw = await RawPeer.connect(port, 'framed');
      raw.send([0, 9, 'quota', []]);
      assert.deepEqual(await raw.next(), [1, 9, { name: 'QuotaError', message: 'quota exceeded', code: 'ERR_QUOTA', data: { used: 101, limit: 100, window: ['1m', 60] } }, null]);
      raw.destroy();
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});
