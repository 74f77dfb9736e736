// Property: the MessagePack-RPC decoders ('framed' and 'stream'), run directly over a LinkBuffer fed
// in random chunks (no sockets), either yield exactly the encoded messages or throw
// MalformedMessageError / MessageTooLargeError: never another error, never an infinite loop, and
// never a message out of thin air before the first hostile byte.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockPool, LinkBuffer } from '@nocopy/linkbuffer';
import { FramingMismatchError, MalformedMessageError, MessageTooLargeError } from '@nocopy/rpc-demo';
import type * as Protocol from '../../packages/rpc-demo/src/rpc/protocol.js';
import { cuts, message, normalize, segment, split, validPrefix, wire } from './arbitraries.js';

// MessageReader is internal to the package (not exported by its index): load the built module next to
// the package's entry point, so that it shares the package's error classes.
const protocolUrl = new URL('./rpc/protocol.js', import.meta.resolve('@nocopy/rpc-demo'));
const { MessageReader } = (await import(protocolUrl.href)) as typeof Protocol;

const MAX = 1024;
const tried: Record<string, number> = {};
after(() => {
  const total = Object.values(tried).reduce((a, b) => a + b, 0);
  console.log(`[fuzz MessageReader] inputs tried: ${JSON.stringify(tried)} (total ${total})`);
});

interface Run {
  got: unknown[][];
  error: unknown;
  left: number;
}

/**
 * Feeds `chunks` one by one (link(), as the socket read path does), decoding after each, as the
 * server does; onMessage returns false every `stopEvery` messages (the maxInFlight pause), and then
 * decoding resumes at once. Stops at the first error. Bounded: more calls than bytes is a loop.
 */
function decode(framing: 'framed' | 'stream', chunks: Buffer[], stopEvery: number): Run {
  const pool = new BlockPool();
  const r = new LinkBuffer({ pool });
  const got: unknown[][] = [];
  const total = chunks.reduce((a, c) => a + c.length, 0);
  let error: unknown = undefined;
  let calls = 0;
  const reader = new MessageReader(framing, MAX);
  try {
    for (const c of chunks) {
      r.link(c);
      for (;;) {
        if (++calls > total + chunks.length + 2) throw new Error('MessageReader loops: more calls than bytes');
        let stopped = false;
        reader.read(r, (m) => {
          got.push(m as unknown[]);
          if (got.length > total) throw new Error('more messages than bytes');
          if (stopEvery > 0 && got.length % stopEvery === 0) {
            stopped = true;
            return false;
          }
          return true;
        });
        r.release();
        if (!stopped) break;
      }
    }
  } catch (err) {
    error = err;
  }
  const left = r.closed ? 0 : r.length;
  r.close();
  assert.equal(pool.stats().bytesOutstanding, 0, 'scratch blocks of the decoder went back to the pool');
  return { got, error, left };
}

function assertDecoderError(err: unknown): void {
  assert.ok(
    err instanceof MalformedMessageError || err instanceof MessageTooLargeError,
    `only MalformedMessageError or MessageTooLargeError may escape, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
  );
}

for (const framing of ['framed', 'stream'] as const) {
  describe(`MessageReader (${framing}) over random chunks`, () => {
    it('valid messages: yields exactly them, in order, and consumes everything', () => {
      const runs = 1000;
      tried[`${framing}/valid`] = 0;
      fc.assert(
        fc.property(fc.array(message, { maxLength: 12 }), cuts, fc.nat({ max: 4 }), (msgs, cutPoints, stopEvery) => {
          tried[`${framing}/valid`]!++;
          const bytes = Buffer.concat(msgs.map((m) => wire(framing, m)));
          const { got, error, left } = decode(framing, split(bytes, cutPoints), stopEvery);
          assert.equal(error, undefined, `no error on valid input: ${String(error)}`);
          assert.deepEqual(normalize(got), normalize(msgs));
          assert.equal(left, 0);
        }),
        { numRuns: runs, includeErrorInReport: true },
      );
    });

    it('hostile input: the valid prefix exactly, then only a coded decoder error (or a wait for more bytes)', () => {
      const runs = 2500;
      tried[`${framing}/hostile`] = 0;
      fc.assert(
        fc.property(fc.array(segment(framing, MAX), { minLength: 1, maxLength: 10 }), cuts, fc.nat({ max: 3 }), (segs, cutPoints, stopEvery) => {
          tried[`${framing}/hostile`]!++;
          const bytes = Buffer.concat(segs.map((s) => s.bytes));
          const { got, error, left } = decode(framing, split(bytes, cutPoints), stopEvery);
          const { msgs, firstFault, faultIndex } = validPrefix(segs);
          if (error !== undefined) assertDecoderError(error);
          // Everything before the first hostile byte is decoded exactly.
          assert.deepEqual(normalize(got.slice(0, msgs.length)), normalize(msgs), 'the valid prefix');
          if (firstFault === undefined) {
            assert.equal(error, undefined);
            assert.equal(got.length, msgs.length);
            assert.equal(left, 0);
          } else if (firstFault.kind === 'oversized') {
            // Aligned on a message boundary, an oversized message is refused whatever the chunking.
            // As the first message, a length prefix starting with an array's byte reads as a 'stream' peer's message.
            const mismatch = error instanceof FramingMismatchError && msgs.length === 0;
            assert.ok(error instanceof MessageTooLargeError || mismatch, `oversized: expected MessageTooLargeError, got ${String(error)}`);
            assert.equal(got.length, msgs.length, 'nothing decoded past the oversized message');
          } else if (firstFault.kind === 'truncated' && faultIndex === segs.length - 1) {
            // A message cut short at the end: no error, it waits for the rest.
            assert.equal(error, undefined, `a truncated last message waits, got ${String(error)}`);
            assert.equal(got.length, msgs.length);
            assert.equal(left, firstFault.bytes.length);
          }
        }),
        { numRuns: runs, includeErrorInReport: true },
      );
    });

    it('arbitrary bytes: only a coded decoder error, never another one', () => {
      const runs = 2500;
      tried[`${framing}/bytes`] = 0;
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (b, cutPoints) => {
          tried[`${framing}/bytes`]!++;
          const { got, error } = decode(framing, split(Buffer.from(b), cutPoints), 0);
          if (error !== undefined) assertDecoderError(error);
          for (const m of got) assert.ok(Array.isArray(m) && [0, 1, 2].includes(m[0] as number), 'only validated messages are yielded');
        }),
        { numRuns: runs, includeErrorInReport: true },
      );
    });

    it('hostile bytes leave no state behind: the next message decoded (on a fresh buffer) is exact', () => {
      const runs = 1500;
      tried[`${framing}/poison`] = 0;
      // MessagePack extension headers (msgpackr gives some ext types meaning: records, structures,
      // sets, errors, ...) inside an array, and raw bytes: anything that might leave decoder state.
      const ext = fc
        .tuple(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 24 }))
        .map(([h, type, body]) => {
          const fixed: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };
          const n = fixed[h] ?? body.length;
          const payload = Buffer.alloc(n);
          payload.set(body.subarray(0, n));
          return Buffer.concat([Buffer.from(h === 0xc7 ? [0x94, h, n, type] : [0x94, h, type]), payload, Buffer.from([0, 0xa1, 0x61, 0x90])]);
        });
      const hostile = fc.oneof(ext, fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)));
      fc.assert(
        fc.property(fc.array(hostile, { minLength: 1, maxLength: 4 }), message, (bad, good) => {
          tried[`${framing}/poison`]!++;
          for (const b of bad) {
            const { error } = decode(framing, [framing === 'framed' ? Buffer.concat([u32(b.length), b]) : b], 0);
            if (error !== undefined) assertDecoderError(error);
          }
          const { got, error } = decode(framing, [wire(framing, good)], 0);
          assert.equal(error, undefined);
          assert.deepEqual(normalize(got), normalize([good]));
        }),
        { numRuns: runs, includeErrorInReport: true },
      );
    });
  });
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}
