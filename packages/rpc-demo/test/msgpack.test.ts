// The strict MessagePack codec: every format at its size boundaries both ways, what the decoder
// refuses (and why), and what the encoder refuses to write.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode as refDecode, encode as refEncode } from '@msgpack/msgpack';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { MalformedMessageError, MessageTooLargeError, UnencodableValueError } from '../src/errors.js';
import { MAX_DEPTH, decode, encode, encodeInto } from '../src/msgpack/index.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

function refuses(bytes: Buffer, pattern: RegExp): void {
  assert.throws(() => decode(bytes), (e: unknown) => {
    assert.ok(e instanceof MalformedMessageError, String(e));
    assert.equal(e.code, 'ERR_MALFORMED_MESSAGE');
    assert.match(e.message, pattern);
    return true;
  }, bytes.toString('hex'));
}

describe('MessagePack encoding', () => {
  it('uses the smallest standard form at every boundary, as the reference decodes it', () => {
    const cases: [unknown, string][] = [
      [0, '00'], [127, '7f'], [128, 'cc80'], [255, 'ccff'], [256, 'cd0100'], [65535, 'cdffff'], [65536, 'ce00010000'],
      [2 ** 32 - 1, 'ceffffffff'], [2 ** 32, 'cf0000000100000000'], [Number.MAX_SAFE_INTEGER, 'cf001fffffffffffff'],
      [-1, 'ff'], [-32, 'e0'], [-33, 'd0df'], [-128, 'd080'], [-129, 'd1ff7f'], [-32768, 'd18000'], [-32769, 'd2ffff7fff'],
      [-(2 ** 31), 'd280000000'], [-(2 ** 31) - 1, 'd3ffffffff7fffffff'], [Number.MIN_SAFE_INTEGER, 'd3ffe0000000000001'],
      [0.5, 'cb3fe0000000000000'], [-0, 'cb8000000000000000'], [2 ** 60, 'cb43b0000000000000'],
      [null, 'c0'], [undefined, 'c0'], [false, 'c2'], [true, 'c3'],
      [2n ** 64n - 1n, 'cfffffffffffffffff'], [-(2n ** 63n), 'd38000000000000000'], [5n, 'cf0000000000000005'],
      ['', 'a0'], ['a', 'a161'], [[], '90'], [{}, '80'], [new Date(0), 'd6ff00000000'],
    ];
    for (const [v, want] of cases) assert.equal(encode(v).toString('hex'), want, String(v));
    for (const n of [31, 32, 255, 256, 65535, 65536]) {
      const s = 'x'.repeat(n);
      const b = encode(s);
      const head = n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
      assert.equal(b.length, head + n, `str of ${n}`);
      assert.equal(refDecode(b), s);
      assert.equal(decode(b), s);
    }
    // A string whose worst case (3 bytes a unit) needs a bigger header than its real length.
    for (const s of ['é'.repeat(15), 'é'.repeat(16), 'x'.repeat(30) + '€', '€'.repeat(90), 'a'.repeat(1025) + '€', '😀'.repeat(700)]) {
      assert.equal(refDecode(encode(s)), s);
      assert.equal(Buffer.compare(encode(s), Buffer.from(refEncode(s))), 0, `same bytes as the reference for ${s.length} units`);
    }
    for (const n of [0, 255, 256, 4096, 4097, 65535, 65536, 100_000]) {
      const b = Buffer.alloc(n, 9);
      assert.deepEqual(Buffer.from(refDecode(encode(b)) as Uint8Array), b, `bin of ${n}`);
      assert.deepEqual(decode(encode(b)), b);
    }
    for (const n of [15, 16, 65535, 65536]) {
      assert.equal((refDecode(encode(new Array(n).fill(1))) as unknown[]).length, n);
      const o = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      assert.equal(Object.keys(refDecode(encode(o)) as object).length, n);
    }
    // Dates at each timestamp width, and a Map with string and integer keys.
    for (const d of [new Date(1_700_000_000_000), new Date(1_700_000_000_123), new Date(-1), new Date(2 ** 36 * 1000), new Date(-8.64e15)]) {
      assert.equal((refDecode(encode(d)) as Date).getTime(), d.getTime());
      assert.equal((decode(encode(d)) as Date).getTime(), d.getTime());
    }
    assert.deepEqual(decode(encode(new Map<unknown, unknown>([['a', 1], [2, 'b']]))), { a: 1, 2: 'b' });
    assert.deepEqual(decode(encode(new Uint8Array([1, 2]).buffer)), Buffer.from([1, 2]));
  });

  it('refuses what has no standard MessagePack form, and writes nothing', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
    const bad: unknown[] = [() => 1, Symbol('s'), new Set([1]), new Float64Array(2), new DataView(new ArrayBuffer(2)), new Date(NaN), 2n ** 64n, -(2n ** 63n) - 1n,
      new Map([[{}, 1]]), new Map([[1.5, 1]]), Promise.resolve(1), cyclic, deep, { f: () => 1 }, [1, [2, Symbol('x')]]];
    for (const v of bad) {
      const lb = new LinkBuffer();
      lb.writeString('kept');
      assert.throws(() => encodeInto(lb, [0, 1, 'm', [v]], 1 << 20, true), UnencodableValueError, Object.prototype.toString.call(v));
      assert.equal(lb.mallocLength, 4, 'only what was there before');
      lb.close();
    }
  });

  it('refuses a message over the limit, however it is built, and leaves the writer as it was', () => {
    const lb = new LinkBuffer();
    assert.throws(() => encodeInto(lb, ['x'.repeat(100)], 50, true), MessageTooLargeError);
    assert.throws(() => encodeInto(lb, [Buffer.alloc(10_000)], 5000, false), MessageTooLargeError);
    assert.throws(() => encodeInto(lb, new Array(10_000).fill('abcdefgh'), 5000, false), MessageTooLargeError);
    assert.equal(lb.mallocLength, 0);
    assert.equal(encodeInto(lb, 'ok', 3, false), 3);
    lb.close();
  });

  it('writes a length prefix equal to the body, across regions and linked binaries', () => {
    const lb = new LinkBuffer();
    const value = ['a'.repeat(9000), Buffer.alloc(70_000, 3), { k: 'v'.repeat(300) }];
    const n = encodeInto(lb, value, 1 << 20, true);
    lb.flush();
    assert.equal(lb.readUint32BE(), n);
    assert.equal(lb.length, n);
    const body = lb.readBinary(n);
    const [a, b, c] = refDecode(body) as [string, Uint8Array, unknown];
    assert.equal(a, value[0]);
    assert.ok(Buffer.from(b).equals(value[1] as Buffer));
    assert.deepEqual(c, value[2]);
    assert.deepEqual(decode(body), value);
    lb.close();
  });
});

describe('MessagePack decoding', () => {
  it('returns values that own their memory: binaries are copies, not views of the input', () => {
    const input = encode([Buffer.from('secret'), 'text']);
    const [bin] = decode(input) as [Buffer];
    input.fill(0);
    assert.equal(bin.toString(), 'secret');
  });

  it('refuses every extension but the timestamp, and timestamps out of range', () => {
    for (const type of [0x00, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x7f, 0x80, 0xfe]) {
      refuses(Buffer.from([0xd4, type, 0]), /extension type/);
      refuses(Buffer.from([0xc7, 1, type, 0]), /extension type/);
    }
    refuses(hex('d6ff'), /needs 5 bytes/);
    refuses(hex('d5ff0000'), /timestamp of 2 bytes/);
    refuses(hex('c70cff 3b9aca00 0000000000000000'), /nanoseconds/);
    refuses(hex('c70cff 00000000 7fffffffffffffff'), /out of the range of Date/);
    refuses(hex('c70cff 00000000 0000100000000000'), /range of Date/);
  });

  it('checks every length against the end of the message', () => {
    refuses(hex('c4ff 0102'), /binary needs 255 bytes, 2 left/);
    refuses(hex('c6ffffffff'), /binary needs 4294967295/);
    refuses(hex('c680000000 00'), /binary needs 2147483648/);
    refuses(hex('d9 05 6162'), /string needs 5 bytes/);
    refuses(hex('dd ffffffff'), /array of 4294967295/);
    refuses(hex('df 7fffffff'), /map of 2147483647/);
    refuses(hex('c9 00000010 ff 00'), /extension needs/);
    refuses(hex('cd 01'), /needs 2 bytes/);
    refuses(hex('cb 00000000'), /float 64 needs 8/);
    refuses(hex('93 01 02'), /an array of 3 needs 3 bytes, 2 left/);
    refuses(hex('92 01'), /an array of 2 needs 2 bytes, 1 left/);
    refuses(hex(''), /a value needs 1/);
    refuses(hex('01 02'), /1 bytes after the value/);
  });

  it('refuses invalid UTF-8, odd map keys, __proto__, the reserved byte and nesting past the limit', () => {
    for (const bad of ['a1ff', 'a2c0af', 'a3eda080', 'a4f4908080', 'a1c2', 'a2e282', 'b1' + '61'.repeat(16) + 'ff']) refuses(hex(bad), /not valid UTF-8/);
    assert.equal(decode(hex('a2c3a9')), 'é');
    assert.equal(decode(hex('b4' + '61'.repeat(18) + 'c3a9')), 'a'.repeat(18) + 'é');
    for (const key of ['c0', 'c3', 'ca00000000', 'cb0000000000000000', 'c400', '90', '80', 'cf0000000000000001', 'd30000000000000001']) refuses(hex('81' + key + '01'), /map key of type/);
    assert.deepEqual(decode(hex('82 01 02 ff 03')), { 1: 2, '-1': 3 });
    refuses(hex('81 a95f5f70726f746f5f5f 01'), /__proto__/);
    refuses(hex('c1'), /reserved byte 0xc1/);
    assert.equal((decode(Buffer.from('91'.repeat(MAX_DEPTH) + 'c0', 'hex')) as unknown[]).length, 1);
    refuses(Buffer.from('91'.repeat(MAX_DEPTH + 1) + 'c0', 'hex'), /nesting deeper than/);
    refuses(Buffer.from('81a16b'.repeat(MAX_DEPTH + 1) + 'c0', 'hex'), /nesting deeper than/);
    assert.throws(() => decode(hex('90'), 0), /more arrays and maps/);
  });

  it('bounds the arrays and maps of one message', () => {
    const empties = (n: number, b: number) => Buffer.concat([hex('dd'), Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), Buffer.alloc(n, b)]);
    assert.equal((decode(empties(999, 0x80), 1000) as unknown[]).length, 999);
    assert.throws(() => decode(empties(1000, 0x80), 1000), /more arrays and maps/);
    assert.throws(() => decode(empties(1000, 0x90), 1000), MalformedMessageError);
    assert.equal((decode(empties(100_000, 0xc0), 1) as unknown[]).length, 100_000, 'scalars do not count');
  });

  it('decodes 64-bit integers as numbers while they are safe, else as BigInt', () => {
    assert.equal(decode(hex('cf001fffffffffffff')), Number.MAX_SAFE_INTEGER);
    assert.equal(decode(hex('cf0020000000000000')), 2n ** 53n);
    assert.equal(decode(hex('cfffffffffffffffff')), 2n ** 64n - 1n);
    assert.equal(decode(hex('d3ffe0000000000001')), Number.MIN_SAFE_INTEGER);
    assert.equal(decode(hex('d3ffe0000000000000')), -(2n ** 53n));
    assert.equal(decode(hex('d38000000000000000')), -(2n ** 63n));
    assert.equal(decode(hex('d0ff')), -1);
    assert.equal(decode(hex('d2ffffffff')), -1);
    assert.equal(decode(hex('ca3fc00000')), 1.5);
  });
});
