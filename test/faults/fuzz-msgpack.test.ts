// Differential fuzzing of the strict MessagePack codec against @msgpack/msgpack (see
// msgpack-differential.ts for the inputs and the properties), with a fixed seed, plus the two
// hostile requests that found the holes, decoded directly.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { MalformedMessageError, msgpack } from '@nocopy/rpc-demo';
import { type DifferentialStats, runDifferential } from './msgpack-differential.js';
import { referenceBomb } from '@nocopy/test-kit';

const RUNS = 20_000;
let stats: DifferentialStats | undefined;
after(() => console.log(`[fuzz msgpack] ${JSON.stringify(stats)}`));


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
