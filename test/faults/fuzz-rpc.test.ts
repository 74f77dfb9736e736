// Property: the RPC server's decoders ('framed' and 'stream') survive hostile peers on real sockets.
// A peer sends valid requests mixed with garbage, truncated messages and oversized ones, in random
// pieces, then half-closes, resets or stays. Each run checks: every valid request before the first
// hostile byte gets exactly its answer (and no request is answered twice or wrongly); a hostile
// peer is closed within a bound (decoder error, read timeout or, after a half-close, once answered);
// the server's pool is back to its baseline; a well-behaved RpcClient connected all along still
// gets its answers, without redialing. RSS growth over the property is bounded.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { BlockPool } from '@nocopy/linkbuffer';
import { type Connection } from '@nocopy/transport';
import { createClient, createServer, MalformedMessageError, MessageTooLargeError } from '@nocopy/rpc-demo';
import { FaultPeer } from './fault-peer.js';
import { decodeAll, normalize, oversized, value, wire } from './arbitraries.js';
import { poolBackTo, rssMiB, sleep, until } from './helpers.js';

const MAX = 2048; // maxMessageSize
const READ_TIMEOUT = 150;
const RUNS = 200;
const tried: Record<string, number> = {};
after(() => console.log(`[fuzz rpc] inputs tried: ${JSON.stringify(tried)}`));

type Seg =
  | { kind: 'request'; method: 'echo' | 'later'; value: unknown }
  | { kind: 'notification'; value: unknown }
  | { kind: 'garbage' | 'truncated' | 'oversized'; bytes: Buffer };

function segments(framing: 'framed' | 'stream'): fc.Arbitrary<Seg[]> {
  const seg: fc.Arbitrary<Seg> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('request' as const), method: fc.constantFrom('echo' as const, 'later' as const), value }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('notification' as const), value }), weight: 1 },
    { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b): Seg => ({ kind: 'garbage', bytes: Buffer.from(b) })), weight: 2 },
    {
      arbitrary: fc.tuple(value, fc.nat()).map(([v, cut]): Seg => {
        const b = wire(framing, [0, 0xfffffff0, 'echo', [v]]);
        return { kind: 'truncated', bytes: b.subarray(0, 1 + (cut % (b.length - 1))) };
      }),
      weight: 1,
    },
    { arbitrary: oversized(framing, MAX).map((b): Seg => ({ kind: 'oversized', bytes: b })), weight: 1 },
  );
  return fc.array(seg, { minLength: 1, maxLength: 10 });
}

/** Encodes the segments, numbering the requests 1, 2, ...: the bytes, each request's expected result, and those before the first fault. */
function encode(framing: 'framed' | 'stream', segs: Seg[]): { bytes: Buffer; expected: Map<number, unknown>; prefix: number[]; faulty: boolean } {
  const parts: Buffer[] = [];
  const expected = new Map<number, unknown>();
  const prefix: number[] = [];
  let faulty = false;
  let id = 0;
  for (const s of segs) {
    if (s.kind === 'request') {
      id++;
      parts.push(wire(framing, [0, id, s.method, [s.value]]));
      expected.set(id, s.value);
      if (!faulty) prefix.push(id);
    } else if (s.kind === 'notification') {
      parts.push(wire(framing, [2, 'echo', [s.value]]));
    } else {
      faulty = true;
      parts.push(s.bytes);
    }
  }
  return { bytes: Buffer.concat(parts), expected, prefix, faulty };
}

for (const framing of ['framed', 'stream'] as const) {
  describe(`hostile input to the RPC server (${framing})`, () => {
    it('never crashes or hangs; valid requests first are answered; the peer is closed; memory returns; other connections unaffected', async () => {
      const key = framing;
      tried[key] = 0;
      const pool = new BlockPool();
      const clientPool = new BlockPool();
      const errors: unknown[] = [];
      const server = createServer({
        framing,
        maxMessageSize: MAX,
        onError: (e) => errors.push(e),
        transport: { pool, readTimeout: READ_TIMEOUT, maxInboundBytes: 16 * 1024 },
      });
      server.register('echo', (x: unknown) => x);
      server.register('later', async (x: unknown) => {
        await sleep(Math.random() < 0.5 ? 0 : 2);
        return x;
      });
      const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
      // Server-side close reasons, from the transport's diagnostics channel.
      const closeCodes: string[] = [];
      const onClose = (msg: unknown) => {
        const { connection, error } = msg as { connection: Connection; error: unknown };
        if (connection.localPort !== port) return;
        closeCodes.push(error === undefined ? 'clean' : String((error as { code?: unknown }).code ?? (error as Error).message));
      };
      subscribe('nocopy:connection:close', onClose);
      // Server-side connections by the peer's port, to look at what input they hold.
      const serverConns = new Map<number, Connection>();
      const onOpen = (msg: unknown) => {
        const { connection } = msg as { connection: Connection };
        if (connection.localPort === port && connection.remotePort !== undefined) serverConns.set(connection.remotePort, connection);
      };
      subscribe('nocopy:connection:open', onOpen);
      const good = createClient({ address: `127.0.0.1:${port}`, framing, connections: 1, timeout: 3000, dial: { pool: clientPool } });
      try {
        assert.equal(await good.call('echo', 'hi'), 'hi');
        await until(() => server.stats().connections === 1, 'the good connection');
        const baseline = pool.stats().bytesOutstanding;
        const rss0 = rssMiB();
        let answeredPrefix = 0;
        let legitIdle = 0;
        await fc.assert(
          fc.asyncProperty(
            segments(framing),
            fc.array(fc.nat(), { maxLength: 10 }),
            fc.constantFrom(-1, 0, 0, 1),
            fc.constantFrom('end', 'end', 'end', 'reset', 'stay', 'stay'),
            value,
            async (segs, cuts, gap, end, goodValue) => {
              tried[key]!++;
              const { bytes, expected, prefix, faulty } = encode(framing, segs);
              const errorsBefore = errors.length;
              const peer = await FaultPeer.connect(port);
              try {
                const stays = await peer.play(bytes, cuts, gap, end, 'the server to answer and close a half-closed peer');
                if (stays && faulty) {
                  // Hostile bytes may still happen to form complete messages (a truncated message whose
                  // missing part the next ones supply): then the connection is legitimately idle.
                  // Otherwise input is left over, and the read timeout (or a decoder error) must close it.
                  const conn = serverConns.get(peer.socket.localPort!);
                  const since = Date.now();
                  await until(
                    () => peer.isClosed || (conn !== undefined && conn.reader.length === 0 && server.stats().inFlight === 0 && Date.now() - since > READ_TIMEOUT * 2),
                    'the server to close a hostile peer that stays',
                    READ_TIMEOUT + 3000,
                  );
                  if (!peer.isClosed) legitIdle++;
                } else if (stays) {
                  await until(() => peer.isClosed || decodeAll(framing, peer.received()).length >= expected.size, 'every answer', 3000);
                }
                if (end !== 'reset') {
                  const seen = new Map<number, number>();
                  for (const r of decodeAll(framing, peer.received())) {
                    assert.equal(r[0], 1, 'only responses come back');
                    const id = r[1] as number;
                    if (!expected.has(id)) continue; // garbage that happened to be a request
                    // The refusal of an oversized message, answered before the close, may reuse an id.
                    if ((r[2] as { closing?: unknown } | null)?.closing === true) continue;
                    seen.set(id, (seen.get(id) ?? 0) + 1);
                    assert.equal(r[2], null, `request ${id} failed: ${JSON.stringify(r[2])}`);
                    assert.deepEqual(normalize(r[3]), normalize(expected.get(id)), `the answer to request ${id}`);
                  }
                  for (const [id, n] of seen) assert.equal(n, 1, `request ${id} answered ${n} times`);
                  for (const id of prefix) assert.equal(seen.get(id), 1, `request ${id}, before any hostile byte, was answered`);
                  answeredPrefix += prefix.length;
                }
              } finally {
                peer.destroy();
              }
              await until(() => server.stats().connections === 1, 'the hostile connection to close on the server', 3000);
              serverConns.clear();
              for (const e of errors.slice(errorsBefore)) {
                assert.ok(e instanceof MalformedMessageError || e instanceof MessageTooLargeError || typeof (e as { code?: unknown }).code === 'string', `a coded error: ${String(e)}`);
              }
              await poolBackTo(pool, baseline, 'server pool after a hostile run');
              // The good client's connection, open all along, is unaffected.
              assert.deepEqual(normalize(await good.call('echo', goodValue)), normalize(goodValue));
            },
          ),
          { numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
        );
        assert.equal(good.stats().dials, 1, 'the good client never had to redial');
        const growth = rssMiB() - rss0;
        const codes: Record<string, number> = {};
        for (const c of closeCodes) codes[c] = (codes[c] ?? 0) + 1;
        console.log(`[fuzz rpc ${framing}] ${RUNS} runs, ${answeredPrefix} valid-prefix requests answered, ${legitIdle} hostile inputs that parsed whole; RSS growth ${growth.toFixed(1)} MiB; server-side closes: ${JSON.stringify(codes)}`);
        assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB`);
      } finally {
        unsubscribe('nocopy:connection:close', onClose);
        unsubscribe('nocopy:connection:open', onOpen);
        await good.close();
        await server.shutdown({ timeout: 1000 });
      }
      assert.equal(pool.stats().bytesOutstanding, 0, 'server pool: every block back after shutdown');
      assert.equal(clientPool.stats().bytesOutstanding, 0, 'client pool: every block back after close');
    });
  });
}
