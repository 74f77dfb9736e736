// The browser client's standard-MessagePack check: what an independent encoder (@msgpack/msgpack)
// makes passes, msgpackr's extensions and anything cut short or with bytes after it do not; and it
// accepts exactly what our strict Node decoder accepts, on random and mutated input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode as referenceEncode } from '@msgpack/msgpack';
import { checkStrict } from '../src/browser/strict.js';
import { decode } from '../src/msgpack/decode.js';
import { rng } from '@nocopy/test-kit';


function value(rand: () => number, depth = 0): unknown {
  const k = rand();
  if (depth > 3 || k < 0.3) return [0, 1, -1, 127, 128, -33, 65535, 2 ** 31, -(2 ** 40), 1.5, true, false, null][Math.floor(rand() * 13)];
  if (k < 0.5) return 'x'.repeat(Math.floor(rand() * 300));
  if (k < 0.6) return new Uint8Array(Math.floor(rand() * 300));
  if (k < 0.8) return Array.from({ length: Math.floor(rand() * 20) }, () => value(rand, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(rand() * 10) }, (_, i) => [`k${i}`, value(rand, depth + 1)]));
}

test('standard MessagePack from an independent encoder passes, with any cut or trailing byte it fails', () => {
  const rand = rng(7);
  for (let i = 0; i < 500; i++) {
    const bytes = referenceEncode([1, i, null, value(rand)]);
    checkStrict(bytes);
    if (bytes.length > 1) {
      const cut = 1 + Math.floor(rand() * (bytes.length - 1)); // 1 to length - 1
      assert.throws(() => checkStrict(bytes.subarray(0, cut)), { code: 'ERR_MALFORMED_MESSAGE' });
    }
    assert.throws(() => checkStrict(Buffer.concat([bytes, Buffer.from([0xc0])])), { code: 'ERR_MALFORMED_MESSAGE' });
  }
});

test("msgpackr's extensions are refused: bundled strings, structured clone references, records", () => {
  for (const hex of ['d6620000000f', 'd669000000009290', 'd4720a', 'c70c0000', 'c1']) {
    assert.throws(() => checkStrict(Buffer.from(hex, 'hex')), { code: 'ERR_MALFORMED_MESSAGE' }, hex);
  }
  checkStrict(Buffer.from('d6ff00000001', 'hex')); // the standard timestamp
});

test('accepts exactly what the strict Node decoder accepts, on mutated messages', () => {
  const rand = rng(99);
  let both = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(referenceEncode(value(rand)));
    const at = Math.floor(rand() * b.length);
    b[at] = Math.floor(rand() * 256);
    let ok1 = true;
    let ok2 = true;
    try {
      checkStrict(b);
    } catch {
      ok1 = false;
    }
    try {
      decode(b);
    } catch {
      ok2 = false;
    }
    // One rule (src/msgpack/rule.ts): the check and the decoder accept exactly the same messages.
    assert.equal(ok1, ok2, `the check ${ok1 ? 'took' : 'refused'} what the decoder ${ok2 ? 'took' : 'refused'}: ${b.toString('hex').slice(0, 80)}`);
    if (ok1 && ok2) both++;
  }
  assert.ok(both > 100, `${both} mutated messages were valid for both`);
});
