// Message ids. The wrap at 2^32 cannot be reached through public behaviour (the next id lives in a
// private per-connection slot; 2^32 calls are out of reach), so these tests check instead that 70,000
// calls on one connection (ids past 16 bits, so their encoding changes from uint16 to uint32) all
// match their responses. The server side of the wrap (a request id of 2^32-1) is covered in rpc-wire.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { encode, decodeMultiStream } from '@msgpack/msgpack';
import type { RpcClient } from '../src/rpc/client.js';
import { FRAMINGS, client, registerBasics, startServer, within } from './rpc-helpers.js';

const N = 70_000;
const WINDOW = 2000;

/** N calls of echo(i), WINDOW in flight at a time, every result checked against its call. */
async function run(c: RpcClient, method: string, check: (i: number, r: unknown) => void): Promise<void> {
  for (let base = 0; base < N; base += WINDOW) {
    const calls: Promise<unknown>[] = [];
    for (let i = base; i < Math.min(N, base + WINDOW); i++) calls.push(c.call(method, i));
    const rs = await Promise.all(calls);
    for (let k = 0; k < rs.length; k++) check(base + k, rs[k]);
  }
}

for (const framing of FRAMINGS) {
  describe(`message ids (${framing})`, () => {
    it(`${N} calls on one connection all match their responses`, async () => {
      const { server, address } = await startServer({ framing }, (s) => registerBasics(s));
      const c = client(address, { framing, connections: 1 });
      try {
        await within(
          run(c, 'echo', (i, r) => {
            if (r !== i) assert.fail(`call ${i} got ${String(r)}`);
          }),
          20_000,
          `${N} calls`,
        );
        assert.equal(c.stats().dials, 1);
        assert.equal(c.stats().pending, 0);
        assert.equal(server.stats().calls, N);
      } finally {
        await c.close();
        await server.shutdown();
      }
    });
  });
}

describe('message ids on the wire', () => {
  it(`${N} calls on one connection carry distinct ids, past 65535, as an independent decoder reads them`, async () => {
    // A raw @msgpack/msgpack server answering each request with [the id it read, the param].
    const raw = net.createServer((sock) => {
      sock.on('error', () => {});
      void (async () => {
        try {
          for await (const m of decodeMultiStream(sock)) {
            const [, id, , params] = m as [0, number, string, unknown[]];
            sock.write(encode([1, id, null, [id, params[0]]]));
          }
        } catch {
          // the client went away
        }
      })();
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const c = client(`127.0.0.1:${(raw.address() as AddressInfo).port}`, { framing: 'stream', connections: 1 });
    const ids = new Set<number>();
    let max = 0;
    try {
      await within(
        run(c, 'echo', (i, r) => {
          const [id, p] = r as [number, number];
          if (p !== i) assert.fail(`call ${i} got the response for ${p}`);
          ids.add(id);
          if (id > max) max = id;
        }),
        20_000,
        `${N} calls`,
      );
      assert.equal(ids.size, N, 'every call had its own id');
      assert.ok(max > 0xffff, `ids went past 16 bits (max ${max})`);
      assert.ok(max <= 0xffffffff);
    } finally {
      await c.close();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });
});
