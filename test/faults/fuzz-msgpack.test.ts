// Differential fuzzing of the strict MessagePack codec against @msgpack/msgpack (see
// msgpack-differential.ts for the inputs and the properties), with a fixed seed, plus the two
// hostile requests that found the holes, decoded directly.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { MalformedMessageError, msgpack } from '@nocopy/rpc-demo';
import { type DifferentialStats, runDifferential } from './msgpack-differential.js';

const RUNS = 20_000;
let stats: DifferentialStats | undefined;
after(() => console.log(`[fuzz msgpack] ${JSON.stringify(stats)}`));

/** The reference tree of the amplification report: def(i) = d6 69 <i> 92 def(i+1) d6 70 <i+1>. */
export function referenceBomb(depth: number): Buffer {
  const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  const def = (i: number): Buffer =>
    i === depth
      ? Buffer.concat([Buffer.from([0xd6, 0x69]), u32(i), Buffer.from([0x90])])
      : Buffer.concat([Buffer.from([0xd6, 0x69]), u32(i), Buffer.from([0x92]), def(i + 1), Buffer.from([0xd6, 0x70]), u32(i + 1)]);
  // [0, 1, "echo", [def(0)]]
  return Buffer.concat([Buffer.from([0x94, 0x00, 0x01, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0x91]), def(0)]);
}

describe('strict MessagePack decoding', () => {
  it('matches @msgpack/msgpack on hostile and random inputs, or refuses them (fixed seed)', () => {
    stats = runDifferential(RUNS, 0x5eed);
    // The generator must reach every outcome, or the property says little.
    assert.ok(stats.acceptedByBoth > RUNS / 20, `accepted by both: ${stats.acceptedByBoth}`);
    assert.ok(stats.strictnessRejects > RUNS / 50, `refused by ours only: ${stats.strictnessRejects}`);
    assert.ok(stats.rejectedByBoth > RUNS / 20, `refused by both: ${stats.rejectedByBoth}`);
  });

  it('refuses the bundled-strings over-read request', () => {
    // The body of the framed request 00000013 d6620000000f 940001a46563686f91c4ff a0a0
    const body = Buffer.from('d6620000000f940001a46563686f91c4ffa0a0', 'hex');
    assert.throws(() => msgpack.decode(body), (e: unknown) => e instanceof MalformedMessageError && /extension type 98/.test(e.message));
    // Without the extension in front, the bin8 length 0xff runs past the end of the message.
    assert.throws(() => msgpack.decode(body.subarray(6)), (e: unknown) => e instanceof MalformedMessageError && /binary needs 255 bytes/.test(e.message));
  });

  it('refuses the structured-clone reference bomb at its first extension, before building anything', () => {
    const bomb = referenceBomb(27);
    assert.ok(bomb.length < 400);
    assert.throws(() => msgpack.decode(bomb), (e: unknown) => e instanceof MalformedMessageError && /extension type 105/.test(e.message));
  });
});
