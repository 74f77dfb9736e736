// Property: the length-prefixed framing of the transport (an EventLoop echoing 4-byte-length frames,
// maxInboundBytes small) survives hostile peers. A peer sends valid frames mixed with garbage,
// truncated frames and oversized length prefixes, cut into random pieces (random gaps or one corked
// write), then half-closes, resets or stays. Each run checks: the echo is exactly the frames the byte
// stream holds (all of those before an oversized one); a peer left with a partial frame is closed
// (read timeout or inbound limit) within a bound; the server's pool is back to its baseline; and a
// well-behaved client, connected all along, still gets its round trip. RSS growth is bounded.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FaultPeer } from './fault-peer.js';
import { RawClient, frame, poolBackTo, rssMiB, startEcho, until, within } from './helpers.js';

const LIMIT = 1024; // maxInboundBytes
const READ_TIMEOUT = 150;
const RUNS = 200;
let tried = 0;
const ends: Record<string, number> = { end: 0, reset: 0, stay: 0 };
after(() => console.log(`[fuzz framing] inputs tried: ${tried} (peer ends: ${JSON.stringify(ends)})`));

type Seg = { kind: 'valid' | 'garbage' | 'truncated' | 'oversized' | 'flood'; bytes: Buffer };

const seg: fc.Arbitrary<Seg> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 600 }).map((p): Seg => ({ kind: 'valid', bytes: frame(p) })), weight: 5 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 48 }).map((b): Seg => ({ kind: 'garbage', bytes: Buffer.from(b) })), weight: 2 },
  {
    arbitrary: fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.nat()).map(([p, cut]): Seg => {
      const f = frame(p);
      return { kind: 'truncated', bytes: f.subarray(0, 1 + (cut % (f.length - 1))) };
    }),
    weight: 1,
  },
  {
    arbitrary: fc.tuple(fc.integer({ min: LIMIT - 3, max: 0xffffffff }), fc.uint8Array({ maxLength: 8 })).map(([len, b]): Seg => ({ kind: 'oversized', bytes: frame(b, len) })),
    weight: 1,
  },
  {
    // A frame over the limit whose body keeps coming: the reader fills up to maxInboundBytes.
    arbitrary: fc.tuple(fc.integer({ min: LIMIT - 3, max: 8 * LIMIT }), fc.integer({ min: LIMIT, max: 3 * LIMIT })).map(([len, n]): Seg => ({ kind: 'flood', bytes: frame(Buffer.alloc(n, 0x5a), len) })),
    weight: 1,
  },
);

/** What the echo server makes of `bytes`: its frames in order, and the bytes left as a partial one. */
function model(bytes: Buffer): { ends: number[]; leftover: number; firstBig: number } {
  const ends: number[] = [];
  let at = 0;
  let firstBig = -1;
  while (bytes.length - at >= 4) {
    const n = bytes.readUInt32BE(at);
    if (bytes.length - at < 4 + n) break;
    if (4 + n > LIMIT && firstBig < 0) firstBig = ends.length;
    at += 4 + n;
    ends.push(at);
  }
  return { ends, leftover: bytes.length - at, firstBig };
}

describe('hostile input to the length-prefixed framing (EventLoop echo, maxInboundBytes 1 KiB)', () => {
  it('never crashes or hangs; partial input is cut off; memory returns; other connections unaffected', async () => {
    const srv = await startEcho({ maxInboundBytes: LIMIT, readTimeout: READ_TIMEOUT });
    const good = await RawClient.connect(srv.port);
    try {
      assert.equal((await good.roundTrip('hello')).toString(), 'hello');
      await until(() => srv.loop.connections === 1, 'the good connection');
      const baseline = srv.pool.stats().bytesOutstanding;
      const rss0 = rssMiB();
      await fc.assert(
        fc.asyncProperty(
          fc.array(seg, { minLength: 1, maxLength: 8 }),
          fc.array(fc.nat(), { maxLength: 10 }),
          fc.constantFrom(-1, 0, 0, 1, 2),
          fc.constantFrom('end', 'end', 'end', 'reset', 'stay', 'stay'),
          fc.uint8Array({ maxLength: 1000 }),
          async (segs, cuts, gap, end, goodPayload) => {
            tried++;
            ends[end]!++;
            const bytes = Buffer.concat(segs.map((s) => s.bytes));
            const m = model(bytes);
            const codesBefore = srv.closeCodes.length;
            const peer = await FaultPeer.connect(srv.port);
            try {
              // After a FIN, the server answers what is complete, then closes (a clean half-close, or the inbound limit).
              const stays = await peer.play(bytes, cuts, gap, end, 'the server to close a half-closed hostile peer');
              if (stays && m.leftover > 0) {
                // A partial frame that never completes: the read timeout (or the inbound limit) closes it.
                await within(peer.closed, READ_TIMEOUT + 3000, 'the server to close a peer stuck on a partial frame');
              } else if (stays) {
                // Only complete frames (perhaps made of garbage): the connection is legitimately open.
                await until(() => peer.isClosed || peer.received().length === bytes.length, 'the whole echo', 3000);
                peer.destroy();
              }
              if (end !== 'reset') {
                // The echo is the stream's frames, in order, each whole: all of them up to the first one
                // over the limit, which (with what follows) may be refused with ERR_INBOUND_LIMIT.
                const got = peer.received();
                assert.ok(got.equals(bytes.subarray(0, got.length)), 'the echo is a prefix of the input');
                const k = m.ends.indexOf(got.length);
                assert.ok(got.length === 0 || k >= 0, `the echo ends on a frame boundary (${got.length} bytes)`);
                const mustHave = m.firstBig < 0 ? m.ends.length : m.firstBig;
                assert.ok(k + 1 >= mustHave, `echoed ${k + 1} of the ${mustHave} frames that fit the limit`);
              }
            } finally {
              peer.destroy();
            }
            // The server side is gone, with a clean close or a coded one, and its blocks are back.
            await until(() => srv.loop.connections === 1, 'the hostile connection to close on the server', 3000);
            for (const code of srv.closeCodes.slice(codesBefore)) {
              assert.ok(['', 'ERR_READ_TIMEOUT', 'ERR_INBOUND_LIMIT', 'ERR_FRAME_TOO_LARGE', 'ECONNRESET', 'EPIPE'].includes(code), `server-side close code ${code}`);
            }
            if (end === 'stay' && m.leftover > 0) {
              assert.ok(['ERR_READ_TIMEOUT', 'ERR_INBOUND_LIMIT', 'ERR_FRAME_TOO_LARGE'].includes(srv.closeCodes.at(-1)!), `a stuck peer is cut off with a coded error, got ${srv.closeCodes.at(-1)}`);
            }
            await poolBackTo(srv.pool, baseline, 'after a hostile run');
            // The well-behaved connection, open all along, is unaffected.
            const echoed = await good.roundTrip(goodPayload, 3000);
            assert.ok(echoed.equals(goodPayload), 'the good client round trip');
          },
        ),
        { numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
      );
      const growth = rssMiB() - rss0;
      const codes: Record<string, number> = {};
      for (const c of srv.closeCodes) codes[c || 'clean'] = (codes[c || 'clean'] ?? 0) + 1;
      console.log(`[fuzz framing] RSS growth over ${RUNS} runs: ${growth.toFixed(1)} MiB; server-side closes: ${JSON.stringify(codes)}`);
      assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB`);
      // What the loop reported: only the coded refusals (a frame header over the codec's limit, or
      // input stuck at maxInboundBytes), no handler failures.
      for (const e of srv.errors) assert.ok(['ERR_INBOUND_LIMIT', 'ERR_FRAME_TOO_LARGE'].includes((e as { code?: string }).code ?? ''), String(e));
    } finally {
      good.destroy();
      await srv.loop.shutdown({ timeout: 1000 });
    }
    assert.equal(srv.pool.stats().bytesOutstanding, 0, 'every block back after shutdown');
  });
});
