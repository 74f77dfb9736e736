// Wire compatibility with an independent MessagePack implementation (@msgpack/msgpack), in 'stream'
// framing (plain concatenated MessagePack, as the MessagePack-RPC spec has it), both directions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { encode, decodeMultiStream } from '@msgpack/msgpack';
import { RemoteError } from '../src/errors.js';
import { RawPeer, client, registerBasics, startServer, until, within } from './rpc-helpers.js';

/** Writes `bytes` in uneven pieces, each its own write, so messages straddle TCP reads. */
async function dribble(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  const sizes = [1, 2, 3, 7, 1, 13];
  let off = 0;
  for (let k = 0; off < bytes.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, bytes.length - off);
    socket.write(bytes.subarray(off, off + n));
    off += n;
    if (k % 4 === 3) await new Promise((r) => setImmediate(r));
  }
}

describe('wire compatibility (stream framing, @msgpack/msgpack)', () => {
  it('(a) a raw @msgpack/msgpack client calls our server and gets correct results', async () => {
    const notes: unknown[][] = [];
    const { server, port } = await startServer({ framing: 'stream' }, (s) => {
      registerBasics(s, notes);
      s.register('fail', () => {
        throw Object.assign(new RangeError('out of range'), { code: 'E_RANGE' });
      });
    });
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    const responses = new Map<number, unknown[]>();
    const notResponses: unknown[] = [];
    const reading = (async () => {
      for await (const m of decodeMultiStream(socket)) {
        const msg = m as unknown[];
        if (Array.isArray(msg) && msg.length === 4 && msg[0] === 1) responses.set(msg[1] as number, msg);
        else notResponses.push(msg);
      }
    })();
    try {
      const bin = new Uint8Array([9, 8, 7, 0, 255]);
      const nested = { map: { k: [1, 'two', { three: 3.5 }] }, neg: -123456789, big: 2 ** 53 - 1, bin, t: true, n: null };
      const msgs: unknown[] = [
        [0, 1, 'add', [2, 3]],
        [0, 2, 'echo', [nested]],
        [2, 'note', ['from raw', 1]],
        [0, 3, 'asyncAdd', [10, 20]],
        [0, 0xffffffff, 'echo', ['max id']],
        [0, 4, 'fail', []],
        [0, 5, 'missing', []],
        [0, 6, 'echo', ['ü'.repeat(40_000)]],
        // Integers beyond 32 bits: @msgpack/msgpack (like most peers) sends them as uint64/int64.
        [0, 7, 'add', [1_700_000_000_000, -(2 ** 40)]],
      ];
      const bytes = Buffer.concat([
        ...msgs.map((m) => encode(m)),
        // A msgid encoded as uint64 (0xcf), as some peers do: [0, 8, 'echo', [2^53 + 2]].
        Buffer.from([0x94, 0x00, 0xcf, 0, 0, 0, 0, 0, 0, 0, 8, 0xa4, ...Buffer.from('echo'), 0x91, 0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0x02]),
      ]);
      await dribble(socket, bytes);
      await within(until(() => responses.size === 9, 'nine responses'), 10_000, 'the responses');
      assert.deepEqual(responses.get(1), [1, 1, null, 5]);
      const echoed = responses.get(2)![3] as typeof nested;
      assert.ok(echoed.bin instanceof Uint8Array, 'binary comes back as MessagePack bin');
      assert.deepEqual(Array.from(echoed.bin), Array.from(bin));
      assert.deepEqual({ ...echoed, bin: null }, { ...nested, bin: null });
      assert.deepEqual(responses.get(3), [1, 3, null, 30]);
      assert.deepEqual(responses.get(0xffffffff), [1, 0xffffffff, null, 'max id']);
      assert.deepEqual(responses.get(4), [1, 4, { name: 'RangeError', message: 'out of range', code: 'E_RANGE' }, null]);
      const nf = responses.get(5)!;
      assert.equal((nf[2] as { code: string }).code, 'ERR_METHOD_NOT_FOUND');
      assert.equal(nf[3], null);
      assert.equal(responses.get(6)![3], 'ü'.repeat(40_000));
      // A number for the handler, not a BigInt (a BigInt would have made `a + b` throw).
      assert.deepEqual(responses.get(7), [1, 7, null, 1_700_000_000_000 - 2 ** 40]);
      // Beyond 2^53 the value stays exact (a BigInt for the handler), and goes back as uint64.
      assert.deepEqual(responses.get(8), [1, 8, null, 2 ** 53 + 2]);
      assert.deepEqual(notes, [['from raw', 1]]);
      assert.equal(server.stats().calls, 10);
      assert.deepEqual(notResponses, [], 'nothing but responses, one per request');
    } finally {
      socket.destroy();
      await reading.catch(() => {});
      await server.shutdown();
    }
  });

  it('(b) our client calls a raw @msgpack/msgpack server answering [1, id, null, result]', async () => {
    const seen: unknown[][] = [];
    const raw = net.createServer((sock) => {
      sock.on('error', () => {});
      void (async () => {
        let held: unknown[] | null = null;
        try {
          for await (const m of decodeMultiStream(sock)) {
            const msg = m as unknown[];
            seen.push(msg);
            if (msg[0] !== 0) continue; // notifications: no response
            const [, id, method, params] = msg as [0, number, string, unknown[]];
            let reply: unknown[];
            switch (method) {
              case 'add':
                reply = [1, id, null, (params[0] as number) + (params[1] as number)];
                break;
              case 'echo':
                reply = [1, id, null, params[0]];
                break;
              case 'now':
                reply = [1, id, null, 1_700_000_000_123]; // a uint64 on the wire
                break;
              case 'fail':
                reply = [1, id, 'something bad happened', null];
                break;
              case 'failArray':
                reply = [1, id, [42, 'bad thing'], null];
                break;
              case 'later':
                // Answered after the next request's reply: out of order.
                held = [1, id, null, 'later'];
                continue;
              default:
                reply = [1, id, `unknown method ${method}`, null];
            }
            // Several responses in one buffer, dribbled in pieces.
            const out: Uint8Array[] = [encode(reply)];
            if (held !== null) {
              out.push(encode(held));
              held = null;
            }
            await dribble(sock, Buffer.concat(out));
          }
        } catch {
          // the client went away
        }
      })();
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const port = (raw.address() as AddressInfo).port;
    const c = client(`127.0.0.1:${port}`, { framing: 'stream', connections: 1 });
    try {
      assert.equal(await c.call('add', 40, 2), 42);
      assert.equal(await c.call('now'), 1_700_000_000_123, 'a uint64 result decodes to a number');
      const value = { a: [1, { b: 'c' }], bin: Buffer.from([1, 2, 3]), s: 'x'.repeat(1000) };
      const back = (await c.call('echo', value)) as typeof value;
      assert.ok(Buffer.isBuffer(back.bin), 'bin decodes to a Buffer');
      assert.deepEqual(back, value);
      await assert.rejects(c.call('fail'), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.message, 'something bad happened');
        assert.equal(e.code, 'ERR_REMOTE');
        assert.equal(e.remoteName, 'Error');
        return true;
      });
      await assert.rejects(c.call('failArray'), (e: unknown) => e instanceof RemoteError && e.message === '[42,"bad thing"]' && e.code === 'ERR_REMOTE');
      const order: string[] = [];
      const later = c.call('later').then((v) => (order.push('later'), v));
      const now = c.call('echo', 'now').then((v) => (order.push('now'), v));
      assert.deepEqual(await Promise.all([later, now]), ['later', 'now']);
      assert.deepEqual(order, ['now', 'later']);
      await c.notify('note', 'hello', [1, 2]);
      assert.equal(await c.call('add', 1, 1), 2);
      // What an independent decoder saw of our requests.
      const requests = seen.filter((m) => m[0] === 0);
      for (const r of requests) {
        assert.equal(r.length, 4);
        assert.ok(Number.isInteger(r[1]) && (r[1] as number) >= 0 && (r[1] as number) <= 0xffffffff);
        assert.equal(typeof r[2], 'string');
        assert.ok(Array.isArray(r[3]));
      }
      assert.deepEqual(new Set(requests.map((r) => r[1])).size, requests.length, 'ids are unique');
      // The extensions' hello first: a standard request the plain server answered as an unknown
      // method; so every request stayed 4 elements, and no $/cancel or other extension was sent.
      assert.deepEqual(requests[0], [0, requests[0]![1], '$/nocopy', [1]]);
      assert.deepEqual(requests[1], [0, requests[1]![1], 'add', [40, 2]]);
      assert.ok(seen.every((m) => m[0] !== 2 || !String(m[1]).startsWith('$/')));
      assert.deepEqual(
        seen.filter((m) => m[0] === 2),
        [[2, 'note', ['hello', [1, 2]]]],
      );
      assert.equal(c.stats().pending, 0);
    } finally {
      await c.close();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  it('(a) via RawPeer: requests pipelined in one write are all answered', async () => {
    const { server, port } = await startServer({ framing: 'stream' }, (s) => registerBasics(s));
    const peer = await RawPeer.connect(port, 'stream');
    try {
      peer.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => encode([0, i, 'add', [i, i]]))));
      const got = new Map<number, unknown>();
      for (let i = 0; i < 100; i++) {
        const m = (await peer.next()) as unknown[];
        got.set(m[1] as number, m[3]);
      }
      for (let i = 0; i < 100; i++) assert.equal(got.get(i), 2 * i);
    } finally {
      peer.destroy();
      await server.shutdown();
    }
  });
});
