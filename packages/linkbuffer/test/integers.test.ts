// Integer readers, peekers and writers: every width, sign and byte order, in one node and split
// across two and three nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '../src/index.js';
import { smallPool, chunked, finish, assertAllBack, contents, small } from './helpers.js';

type Num = number | bigint;
interface IntCase {
  name: string;
  size: number;
  read: (lb: LinkBuffer) => Num;
  /** The reference decoder: Node's Buffer method of the same name. */
  ref: (b: Buffer) => Num;
  write: (lb: LinkBuffer, v: never) => void;
  refWrite: (b: Buffer, v: never) => void;
  /** Values to round-trip: extremes and the sign boundary. */
  values: Num[];
}

const u = (bits: number) => [0, 1, 2 ** bits - 1, 2 ** (bits - 1), 0x5a];
const s = (bits: number) => [0, -1, 2 ** (bits - 1) - 1, -(2 ** (bits - 1)), 0x2a];
const U64 = [0n, 1n, 2n ** 64n - 1n, 2n ** 63n, 0x0102030405060708n];
const S64 = [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), -0x0102030405060708n];

const cases: IntCase[] = [
  { name: 'Uint8', size: 1, read: (l) => l.readUint8(), ref: (b) => b.readUInt8(0), write: (l, v: number) => l.writeUint8(v), refWrite: (b, v: number) => b.writeUInt8(v), values: u(8) },
  { name: 'Int8', size: 1, read: (l) => l.readInt8(), ref: (b) => b.readInt8(0), write: (l, v: number) => l.writeInt8(v), refWrite: (b, v: number) => b.writeInt8(v), values: s(8) },
  { name: 'Uint16BE', size: 2, read: (l) => l.readUint16BE(), ref: (b) => b.readUInt16BE(0), write: (l, v: number) => l.writeUint16BE(v), refWrite: (b, v: number) => b.writeUInt16BE(v), values: u(16) },
  { name: 'Uint16LE', size: 2, read: (l) => l.readUint16LE(), ref: (b) => b.readUInt16LE(0), write: (l, v: number) => l.writeUint16LE(v), refWrite: (b, v: number) => b.writeUInt16LE(v), values: u(16) },
  { name: 'Int16BE', size: 2, read: (l) => l.readInt16BE(), ref: (b) => b.readInt16BE(0), write: (l, v: number) => l.writeInt16BE(v), refWrite: (b, v: number) => b.writeInt16BE(v), values: s(16) },
  { name: 'Int16LE', size: 2, read: (l) => l.readInt16LE(), ref: (b) => b.readInt16LE(0), write: (l, v: number) => l.writeInt16LE(v), refWrite: (b, v: number) => b.writeInt16LE(v), values: s(16) },
  { name: 'Uint32BE', size: 4, read: (l) => l.readUint32BE(), ref: (b) => b.readUInt32BE(0), write: (l, v: number) => l.writeUint32BE(v), refWrite: (b, v: number) => b.writeUInt32BE(v), values: u(32) },
  { name: 'Uint32LE', size: 4, read: (l) => l.readUint32LE(), ref: (b) => b.readUInt32LE(0), write: (l, v: number) => l.writeUint32LE(v), refWrite: (b, v: number) => b.writeUInt32LE(v), values: u(32) },
  { name: 'Int32BE', size: 4, read: (l) => l.readInt32BE(), ref: (b) => b.readInt32BE(0), write: (l, v: number) => l.writeInt32BE(v), refWrite: (b, v: number) => b.writeInt32BE(v), values: s(32) },
  { name: 'Int32LE', size: 4, read: (l) => l.readInt32LE(), ref: (b) => b.readInt32LE(0), write: (l, v: number) => l.writeInt32LE(v), refWrite: (b, v: number) => b.writeInt32LE(v), values: s(32) },
  { name: 'BigUint64BE', size: 8, read: (l) => l.readBigUint64BE(), ref: (b) => b.readBigUInt64BE(0), write: (l, v: bigint) => l.writeBigUint64BE(v), refWrite: (b, v: bigint) => b.writeBigUInt64BE(v), values: U64 },
  { name: 'BigUint64LE', size: 8, read: (l) => l.readBigUint64LE(), ref: (b) => b.readBigUInt64LE(0), write: (l, v: bigint) => l.writeBigUint64LE(v), refWrite: (b, v: bigint) => b.writeBigUInt64LE(v), values: U64 },
  { name: 'BigInt64BE', size: 8, read: (l) => l.readBigInt64BE(), ref: (b) => b.readBigInt64BE(0), write: (l, v: bigint) => l.writeBigInt64BE(v), refWrite: (b, v: bigint) => b.writeBigInt64BE(v), values: S64 },
  { name: 'BigInt64LE', size: 8, read: (l) => l.readBigInt64LE(), ref: (b) => b.readBigInt64LE(0), write: (l, v: bigint) => l.writeBigInt64LE(v), refWrite: (b, v: bigint) => b.writeBigInt64LE(v), values: S64 },
];

/** Every way to cut `n` bytes into `parts` non-empty pieces. */
function compositions(n: number, parts: number): number[][] {
  if (parts === 1) return [[n]];
  const out: number[][] = [];
  for (let first = 1; first <= n - parts + 1; first++) {
    for (const rest of compositions(n - first, parts - 1)) out.push([first, ...rest]);
  }
  return out;
}

// A byte pattern with the high bit set in some bytes, so sign handling is exercised.
const PATTERN = Buffer.from([0x80, 0x01, 0xfe, 0x7f, 0xc3, 0x00, 0xa5, 0xff]);

for (const c of cases) {
  test(`read${c.name}: in one node and split across two and three nodes`, () => {
    const raw = PATTERN.subarray(0, c.size);
    const expected = c.ref(raw);
    const splits = [[c.size], ...(c.size > 1 ? compositions(c.size, 2) : []), ...(c.size > 2 ? compositions(c.size, 3) : [])];
    for (const split of splits) {
      // A leading byte in the first node, consumed first, so the integer starts at a non-zero offset.
      const lb = chunked(Buffer.concat([Buffer.from([0xee]), raw, Buffer.from([0x11])]), [1 + split[0]!, ...split.slice(1)]);
      lb.skip(1);
      assert.equal(c.read(lb), expected, `split ${split.join('|')}`);
      assert.equal(lb.length, 1, 'consumed exactly the integer');
      assert.equal(lb.readByte(), 0x11);
      finish(lb);
    }
  });

  test(`write${c.name} round-trips through read${c.name} and matches Buffer's encoding`, () => {
    const pool = smallPool();
    // nodeSize 3 forces wider integers into fresh nodes, so the node boundary is exercised too.
    const lb = new LinkBuffer({ pool, nodeSize: 3 });
    const ref = Buffer.alloc(c.size * c.values.length);
    c.values.forEach((v, i) => {
      c.write(lb, v as never);
      c.refWrite(ref.subarray(i * c.size), v as never);
    });
    assert.equal(lb.mallocLength, ref.length);
    lb.flush();
    assert.deepEqual(contents(lb), ref);
    for (const v of c.values) assert.equal(c.read(lb), v);
    assert.equal(lb.length, 0);
    finish(lb);
    assertAllBack(pool);
  });
}

test('integer reads beyond the readable bytes throw and consume nothing', () => {
  const lb = chunked(Buffer.from([1, 2, 3]), [1, 1]);
  assert.throws(() => lb.readUint32BE(), { code: 'ERR_SHORT_BUFFER' });
  assert.throws(() => lb.readBigInt64LE(), { code: 'ERR_SHORT_BUFFER' });
  assert.equal(lb.length, 3);
  assert.equal(lb.readUint16BE(), 0x0102);
  finish(lb);
});

interface PeekCase {
  name: string;
  size: number;
  peek: (lb: LinkBuffer, offset?: number) => number;
  ref: (b: Buffer, offset: number) => number;
}

const peeks: PeekCase[] = [
  { name: 'Uint8', size: 1, peek: (l, o) => l.peekUint8(o), ref: (b, o) => b.readUInt8(o) },
  { name: 'Uint16BE', size: 2, peek: (l, o) => l.peekUint16BE(o), ref: (b, o) => b.readUInt16BE(o) },
  { name: 'Uint16LE', size: 2, peek: (l, o) => l.peekUint16LE(o), ref: (b, o) => b.readUInt16LE(o) },
  { name: 'Uint32BE', size: 4, peek: (l, o) => l.peekUint32BE(o), ref: (b, o) => b.readUInt32BE(o) },
  { name: 'Uint32LE', size: 4, peek: (l, o) => l.peekUint32LE(o), ref: (b, o) => b.readUInt32LE(o) },
];

for (const p of peeks) {
  test(`peek${p.name}: at every offset, across two and three nodes, consuming nothing`, () => {
    const raw = Buffer.from([0x80, 0x01, 0xfe, 0x7f, 0xc3, 0x00, 0xa5]);
    // Nodes of 1, 2, 1 and 3 bytes: a 4-byte integer at offset 0 spans three nodes.
    const lb = chunked(raw, [1, 2, 1]);
    assert.equal(p.peek(lb), p.ref(raw, 0), 'default offset is 0');
    for (let off = 0; off + p.size <= raw.length; off++) {
      assert.equal(p.peek(lb, off), p.ref(raw, off), `offset ${off}`);
    }
    assert.equal(lb.length, raw.length);
    assert.throws(() => p.peek(lb, raw.length - p.size + 1), { code: 'ERR_SHORT_BUFFER' });
    // Relative to the read position, after a partial read.
    lb.skip(2);
    assert.equal(p.peek(lb, 1), p.ref(raw, 3));
    assert.deepEqual(contents(lb), raw.subarray(2));
    finish(lb);
  });
}

test('integer writes that fail validation reserve nothing', () => {
  const lb = small();
  const pool = lb.pool;
  lb.writeUint8(7);
  assert.throws(() => lb.writeUint8(256), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => lb.writeInt16BE(40_000), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => lb.writeUint32LE(-1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => lb.writeBigUint64BE(-1n), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(lb.mallocLength, 1, 'no garbage bytes were reserved');
  lb.flush();
  assert.deepEqual(contents(lb), Buffer.from([7]));
  finish(lb);
  assertAllBack(pool);
});
