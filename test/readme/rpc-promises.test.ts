// A promise of the RPC README that no other test checked (issue 28, item 6): a message holds at
// most max(65,536, maxMessageSize / 16) arrays and maps; one more is malformed and closes only its
// connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createClient, createServer } from '@nocopy/rpc-demo';

/** Containers in a call of `count` with one argument of `n` empty arrays: the request, its params, the argument, the n. */
const overhead = 3;

for (const { maxMessageSize, limit } of [
  { maxMessageSize: 512 * 1024, limit: 65_536 }, // maxMessageSize / 16 = 32,768: the floor applies
  { maxMessageSize: 4 * 1024 * 1024, limit: 262_144 }, // the default: maxMessageSize / 16
]) {
  test(`README "at most max(65,536, maxMessageSize / 16) arrays and maps per message": maxMessageSize ${maxMessageSize} allows ${limit}`, { timeout: 60_000 }, async (t) => {
    const errors: unknown[] = [];
    const server = createServer({ maxMessageSize, onError: (e) => errors.push(e) });
    server.register('count', (a: unknown[]) => a.length);
    const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
    t.after(() => server.shutdown({ timeout: 1000 }));
    const c = createClient({ address: `127.0.0.1:${port}`, maxMessageSize, timeout: 30_000, retry: { maxAttempts: 1 } });
    t.after(() => c.close());
    const arrays = (n: number) => Array.from({ length: n }, () => []);
    // Exactly the limit: answered.
    assert.equal(await c.call('count', arrays(limit - overhead)), limit - overhead);
    assert.deepEqual(errors, []);
    // One more: refused as malformed, and only that connection closes.
    await assert.rejects(c.call('count', arrays(limit - overhead + 1)), (e: unknown) => typeof (e as { code?: unknown }).code === 'string');
    assert.ok(
      errors.some((e) => (e as { code?: string }).code === 'ERR_MALFORMED_MESSAGE' && /arrays and maps/.test(String(e))),
      `the server reported the container limit: ${errors.map(String).join('; ')}`,
    );
    // The server serves on.
    assert.equal(await c.call('count', arrays(3)), 3);
  });
}
