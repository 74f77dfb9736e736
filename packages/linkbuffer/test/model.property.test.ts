// Property test: random operation sequences against a reference model (plain byte arrays for the
// readable and the unflushed bytes). Tiny blocks, nodes and inplace threshold make seams, node
// sharing and by-reference writes happen on almost every step. Every byte read is checked, every
// view is re-checked until the release() that ends its lifetime, and after close() the pool must
// have every block back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockPool, LinkBuffer, ShortBufferError, type Delimiter } from '../src/index.js';

// Mostly the brief's shape (16-byte nodes, 32-byte inplace threshold); sometimes 1-byte nodes (a
// node per write), odd sizes, or threshold 0 (every writeBinary by reference).
const options = fc.oneof(
  { arbitrary: fc.constant({ nodeSize: 16, binaryInplaceThreshold: 32 }), weight: 3 },
  { arbitrary: fc.record({ nodeSize: fc.constantFrom(1, 7, 100), binaryInplaceThreshold: fc.constantFrom(0, 32) }), weight: 2 },
);
type Options = { nodeSize: number; binaryInplaceThreshold: number };
const newPool = () => new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });

// ---- the reference model and the buffer under test, side by side ----

interface TrackedView {
  view: Buffer;
  expected: Buffer;
  peek: boolean;
}

class World {
  readonly pool = newPool();
  readonly lb: LinkBuffer;
  readonly options: Options;
  readable: number[] = [];
  unflushed: number[] = [];
  /** Views handed out by lb and not yet invalidated by release(). */
  views: TrackedView[] = [];
  /** Slices kept open for a while, with the bytes they must still hold. */
  slices: { lb: LinkBuffer; expected: number[] }[] = [];

  constructor(options: Options) {
    this.options = options;
    this.lb = new LinkBuffer({ pool: this.pool, ...options });
  }

  /** Consumes `n` bytes from the model and returns them. */
  take(n: number): Buffer {
    return Buffer.from(this.readable.splice(0, n));
  }

  track(view: Buffer, expected: Buffer, peek = false): void {
    if (peek) this.views = this.views.filter((v) => !v.peek); // a cross-node peek reuses its memory
    this.views.push({ view, expected: Buffer.from(expected), peek });
  }

  released(): void {
    this.views = [];
  }

  check(where: string): void {
    const { lb } = this;
    assert.equal(lb.length, this.readable.length, `length after ${where}`);
    assert.equal(lb.mallocLength, this.unflushed.length, `mallocLength after ${where}`);
    assert.equal(lb.isEmpty, this.readable.length === 0);
    assert.deepEqual(Buffer.concat(lb.views()), Buffer.from(this.readable), `views() after ${where}`);
    for (const v of this.views) assert.deepEqual(v.view, v.expected, `a view went stale before release(), after ${where}`);
  }
}

// ---- arbitraries ----

// Bytes drawn mostly from the delimiter alphabet, so that searches hit, miss and straddle seams.
const byte = fc.oneof(fc.constantFrom(0x0a, 0x0d, 0x61), fc.integer({ min: 0, max: 255 }));
// size 'max': fast-check's default size keeps arrays to a handful of elements, which would never
// cross the 32-byte by-reference threshold nor fill a node.
const data = (max: number) => fc.array(byte, { maxLength: max, size: 'max' }).map((a) => Uint8Array.from(a));
const frac = fc.nat({ max: 1_000_000 });
const pick = (x: number, bound: number) => (bound <= 0 ? 0 : x % bound);

const DELIMS: Delimiter[] = [0x0a, '\r\n', new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]), 'a\n', new Uint8Array([0x61])];
const delimBytes = (d: Delimiter): number[] =>
  typeof d === 'number' ? [d] : typeof d === 'string' ? [...Buffer.from(d, 'utf8')] : [...d];

function find(hay: number[], needle: number[], from: number): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

type Num = number | bigint;
interface IntKind {
  size: number;
  read: (lb: LinkBuffer) => Num;
  peek?: (lb: LinkBuffer, off: number) => Num;
  decode: (b: Buffer, off: number) => Num;
  write: (lb: LinkBuffer, v: never) => void;
  encode: (b: Buffer, v: never) => void;
  value: (bits: bigint) => Num;
}
const n32 = (bits: bigint) => Number(BigInt.asUintN(32, bits));
const INTS: IntKind[] = [
  { size: 1, read: (l) => l.readUint8(), peek: (l, o) => l.peekUint8(o), decode: (b, o) => b.readUInt8(o), write: (l, v: number) => l.writeUint8(v), encode: (b, v: number) => b.writeUInt8(v), value: (x) => n32(x) & 0xff },
  { size: 1, read: (l) => l.readInt8(), decode: (b, o) => b.readInt8(o), write: (l, v: number) => l.writeInt8(v), encode: (b, v: number) => b.writeInt8(v), value: (x) => (n32(x) << 24) >> 24 },
  { size: 2, read: (l) => l.readUint16BE(), peek: (l, o) => l.peekUint16BE(o), decode: (b, o) => b.readUInt16BE(o), write: (l, v: number) => l.writeUint16BE(v), encode: (b, v: number) => b.writeUInt16BE(v), value: (x) => n32(x) & 0xffff },
  { size: 2, read: (l) => l.readUint16LE(), peek: (l, o) => l.peekUint16LE(o), decode: (b, o) => b.readUInt16LE(o), write: (l, v: number) => l.writeUint16LE(v), encode: (b, v: number) => b.writeUInt16LE(v), value: (x) => n32(x) & 0xffff },
  { size: 2, read: (l) => l.readInt16BE(), decode: (b, o) => b.readInt16BE(o), write: (l, v: number) => l.writeInt16BE(v), encode: (b, v: number) => b.writeInt16BE(v), value: (x) => (n32(x) << 16) >> 16 },
  { size: 2, read: (l) => l.readInt16LE(), decode: (b, o) => b.readInt16LE(o), write: (l, v: number) => l.writeInt16LE(v), encode: (b, v: number) => b.writeInt16LE(v), value: (x) => (n32(x) << 16) >> 16 },
  { size: 4, read: (l) => l.readUint32BE(), peek: (l, o) => l.peekUint32BE(o), decode: (b, o) => b.readUInt32BE(o), write: (l, v: number) => l.writeUint32BE(v), encode: (b, v: number) => b.writeUInt32BE(v), value: n32 },
  { size: 4, read: (l) => l.readUint32LE(), peek: (l, o) => l.peekUint32LE(o), decode: (b, o) => b.readUInt32LE(o), write: (l, v: number) => l.writeUint32LE(v), encode: (b, v: number) => b.writeUInt32LE(v), value: n32 },
  { size: 4, read: (l) => l.readInt32BE(), decode: (b, o) => b.readInt32BE(o), write: (l, v: number) => l.writeInt32BE(v), encode: (b, v: number) => b.writeInt32BE(v), value: (x) => n32(x) | 0 },
  { size: 4, read: (l) => l.readInt32LE(), decode: (b, o) => b.readInt32LE(o), write: (l, v: number) => l.writeInt32LE(v), encode: (b, v: number) => b.writeInt32LE(v), value: (x) => n32(x) | 0 },
  { size: 8, read: (l) => l.readBigUint64BE(), decode: (b, o) => b.readBigUInt64BE(o), write: (l, v: bigint) => l.writeBigUint64BE(v), encode: (b, v: bigint) => b.writeBigUInt64BE(v), value: (x) => BigInt.asUintN(64, x) },
  { size: 8, read: (l) => l.readBigUint64LE(), decode: (b, o) => b.readBigUInt64LE(o), write: (l, v: bigint) => l.writeBigUint64LE(v), encode: (b, v: bigint) => b.writeBigUInt64LE(v), value: (x) => BigInt.asUintN(64, x) },
  { size: 8, read: (l) => l.readBigInt64BE(), decode: (b, o) => b.readBigInt64BE(o), write: (l, v: bigint) => l.writeBigInt64BE(v), encode: (b, v: bigint) => b.writeBigInt64BE(v), value: (x) => BigInt.asIntN(64, x) },
  { size: 8, read: (l) => l.readBigInt64LE(), decode: (b, o) => b.readBigInt64LE(o), write: (l, v: bigint) => l.writeBigInt64LE(v), encode: (b, v: bigint) => b.writeBigInt64LE(v), value: (x) => BigInt.asIntN(64, x) },
];
const intKind = fc.nat({ max: INTS.length - 1 });
const bits = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

/** Writes that fill a buffer, used for lb itself and for the buffers appended to it. */
const writeOp = fc.oneof(
  fc.record({ k: fc.constant('link' as const), data: data(40) }),
  fc.record({ k: fc.constant('writeBinary' as const), data: data(64) }), // both sides of the 32-byte threshold
  fc.record({ k: fc.constant('writeLatin1' as const), codes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 24, size: 'max' }) }),
  fc.record({ k: fc.constant('writeUtf8' as const), s: fc.string({ unit: 'binary', maxLength: 8 }) }),
  fc.record({ k: fc.constant('malloc' as const), fill: data(40), ack: frac }),
  fc.record({ k: fc.constant('writeDirect' as const), fill: data(20), p: data(40), cut: frac }),
  fc.record({ k: fc.constant('writeInt' as const), kind: intKind, bits }),
  fc.record({ k: fc.constant('writeByte' as const), b: fc.integer({ min: 0, max: 255 }) }),
  // Now and then a region beyond the pool's 1 KiB maximum (an unpooled block) or an oversize node.
  fc.record({ k: fc.constant('mallocLarge' as const), n: fc.integer({ min: 33, max: 1500 }), b: byte }),
  fc.constant({ k: 'flush' as const }),
);
type WriteOp = typeof writeOp extends fc.Arbitrary<infer T> ? T : never;

const x = frac;
// Consuming reads and searches: the core of the contract, drawn as often as writes.
const readOp = fc.oneof(
  fc.record({ k: fc.constant('next' as const), x }),
  fc.record({ k: fc.constant('peek' as const), x }),
  fc.record({ k: fc.constant('skip' as const), x }),
  fc.record({ k: fc.constant('readBinary' as const), x }),
  fc.record({ k: fc.constant('readLatin1' as const), x }),
  fc.record({ k: fc.constant('readUtf8' as const), x }),
  fc.record({ k: fc.constant('until' as const), d: fc.nat({ max: DELIMS.length - 1 }) }),
  // until() on a partial delimiter, then the rest arrives: the remembered search position is at stake.
  fc.record({ k: fc.constant('untilResume' as const), d: fc.nat({ max: DELIMS.length - 1 }), cut: frac, data: data(8) }),
  fc.record({ k: fc.constant('indexOf' as const), d: fc.nat({ max: DELIMS.length - 1 }), from: frac }),
  fc.record({ k: fc.constant('readInt' as const), kind: intKind }),
  fc.record({ k: fc.constant('peekInt' as const), kind: intKind, off: frac }),
  fc.record({ k: fc.constant('readByte' as const) }),
);
// Everything else: lifetime, slices, appends, errors.
const otherOp = fc.oneof(
  fc.record({ k: fc.constant('overread' as const), how: fc.nat({ max: 3 }), x: fc.nat({ max: 3 }) }),
  fc.record({ k: fc.constant('mallocAck' as const), x }),
  fc.record({ k: fc.constant('views' as const) }),
  fc.constant({ k: 'compact' as const }),
  fc.constant({ k: 'release' as const }),
  fc.record({ k: fc.constant('slice' as const), x, extra: data(20), ackZero: fc.boolean(), keep: fc.boolean(), pieces: fc.array(frac, { maxLength: 4, size: 'max' }) }),
  fc.record({ k: fc.constant('closeSlice' as const), which: frac }),
  fc.record({ k: fc.constant('append' as const), fill: fc.array(writeOp, { maxLength: 6, size: 'max' }), consume: frac, reuse: fc.boolean() }),
  fc.record({ k: fc.constant('appendOwnSlice' as const), x }),
  fc.record({ k: fc.constant('appendForeignSlice' as const), fill: fc.array(writeOp, { maxLength: 6, size: 'max' }), x, more: data(20) }),
);
type ReadOp = typeof readOp extends fc.Arbitrary<infer T> ? T : never;
type OtherOp = typeof otherOp extends fc.Arbitrary<infer T> ? T : never;
type Op = WriteOp | ReadOp | OtherOp;

// ---- applying operations ----

/** Applies a write to `lb`, mirrored in `unflushed`/`readable` (the arrays of the model). */
function applyWrite(lb: LinkBuffer, m: { readable: number[]; unflushed: number[] }, op: WriteOp): void {
  switch (op.k) {
    case 'link': // implicit flush, then the chunk is readable
      lb.link(op.data);
      m.readable.push(...m.unflushed.splice(0), ...op.data);
      return;
    case 'writeBinary':
      lb.writeBinary(op.data);
      m.unflushed.push(...op.data);
      return;
    case 'writeLatin1': {
      const s = String.fromCharCode(...op.codes);
      assert.equal(lb.writeString(s, 'latin1'), s.length);
      m.unflushed.push(...op.codes);
      return;
    }
    case 'writeUtf8': {
      const ref = Buffer.from(op.s, 'utf8');
      assert.equal(lb.writeString(op.s), ref.length);
      m.unflushed.push(...ref);
      return;
    }
    case 'malloc': {
      const region = lb.malloc(op.fill.length);
      assert.equal(region.length, op.fill.length);
      region.set(op.fill);
      m.unflushed.push(...op.fill);
      // Keep all of it, or cut back into this region or earlier unflushed bytes.
      if (op.ack % 2 === 0) {
        const keep = pick(op.ack >> 1, m.unflushed.length + 1);
        lb.mallocAck(keep);
        m.unflushed.length = keep;
      }
      return;
    }
    case 'writeDirect': {
      const n = op.fill.length;
      const region = lb.malloc(n);
      const after = pick(op.cut, n + 1);
      lb.writeDirect(op.p, after);
      region.set(op.fill); // filled after writeDirect: the bytes still land around p
      m.unflushed.push(...op.fill.subarray(0, n - after), ...op.p, ...op.fill.subarray(n - after));
      return;
    }
    case 'writeInt': {
      const kind = INTS[op.kind]!;
      const v = kind.value(op.bits);
      kind.write(lb, v as never);
      const ref = Buffer.alloc(kind.size);
      kind.encode(ref, v as never);
      m.unflushed.push(...ref);
      return;
    }
    case 'writeByte':
      lb.writeByte(op.b);
      m.unflushed.push(op.b);
      return;
    case 'mallocLarge':
      lb.malloc(op.n).fill(op.b);
      for (let i = 0; i < op.n; i++) m.unflushed.push(op.b);
      return;
    case 'flush':
      lb.flush();
      m.readable.push(...m.unflushed.splice(0));
      return;
  }
}

/** A buffer of the same pool filled by `ops`, with its own model. */
function build(w: World, ops: WriteOp[]): { lb: LinkBuffer; readable: number[]; unflushed: number[] } {
  const b = { lb: new LinkBuffer({ pool: w.pool, ...w.options }), readable: [] as number[], unflushed: [] as number[] };
  for (const op of ops) applyWrite(b.lb, b, op);
  return b;
}

/** Reads all of `lb` in a few random pieces and checks them against `expected`. */
function drain(lb: LinkBuffer, expected: number[], pieces: number[]): void {
  const want = Buffer.from(expected);
  let at = 0;
  for (const p of pieces) {
    const n = pick(p, want.length - at + 1);
    const got = p % 3 === 0 ? lb.next(n) : p % 3 === 1 ? lb.readBinary(n) : Buffer.from(lb.readString(n, 'latin1'), 'latin1');
    assert.deepEqual(got, want.subarray(at, at + n));
    at += n;
  }
  assert.deepEqual(lb.readBinary(want.length - at), want.subarray(at));
  assert.equal(lb.length, 0);
}

function apply(w: World, op: Op): void {
  const { lb } = w;
  const len = w.readable.length;
  switch (op.k) {
    case 'next': {
      const n = pick(op.x, len + 1);
      const v = lb.next(n);
      const want = w.take(n);
      assert.deepEqual(v, want);
      w.track(v, want);
      return;
    }
    case 'peek': {
      const n = pick(op.x, len + 1);
      const v = lb.peek(n);
      const want = Buffer.from(w.readable.slice(0, n));
      assert.deepEqual(v, want);
      w.track(v, want, true);
      return;
    }
    case 'skip': {
      const n = pick(op.x, len + 1);
      lb.skip(n);
      w.take(n);
      return;
    }
    case 'readBinary': {
      const n = pick(op.x, len + 1);
      assert.deepEqual(lb.readBinary(n), w.take(n));
      return;
    }
    case 'readLatin1': {
      const n = pick(op.x, len + 1);
      assert.equal(lb.readString(n, 'latin1'), w.take(n).toString('latin1'));
      return;
    }
    case 'readUtf8': {
      const n = pick(op.x, len + 1);
      assert.equal(lb.readString(n), w.take(n).toString('utf8'));
      return;
    }
    case 'until': {
      const d = DELIMS[op.d]!;
      const needle = delimBytes(d);
      const i = find(w.readable, needle, 0);
      const v = lb.until(d);
      if (i < 0) {
        assert.equal(v, null);
        return;
      }
      const want = w.take(i + needle.length);
      assert.ok(v !== null, 'until missed a delimiter');
      assert.deepEqual(v, want);
      w.track(v, want);
      return;
    }
    case 'untilResume': {
      // Link the first part of a delimiter, search, then link the rest (plus more) and search again.
      const d = DELIMS[op.d]!;
      const needle = delimBytes(d);
      const k = pick(op.cut, needle.length + 1);
      apply(w, { k: 'link', data: Uint8Array.from(needle.slice(0, k)) });
      apply(w, { k: 'until', d: op.d });
      apply(w, { k: 'link', data: Uint8Array.from([...needle.slice(k), ...op.data]) });
      apply(w, { k: 'until', d: op.d });
      return;
    }
    case 'indexOf': {
      const d = DELIMS[op.d]!;
      const from = pick(op.from, len + 3);
      assert.equal(lb.indexOf(d, from), find(w.readable, delimBytes(d), from));
      return;
    }
    case 'readInt': {
      const kind = INTS[op.kind]!;
      if (len < kind.size) {
        assert.throws(() => kind.read(lb), ShortBufferError);
        return;
      }
      assert.equal(kind.read(lb), kind.decode(w.take(kind.size), 0));
      return;
    }
    case 'peekInt': {
      const kind = INTS[op.kind]!;
      if (kind.peek === undefined || len < kind.size) return;
      const off = pick(op.off, len - kind.size + 1);
      assert.equal(kind.peek(lb, off), kind.decode(Buffer.from(w.readable), off));
      return;
    }
    case 'readByte':
      if (len === 0) {
        assert.throws(() => lb.readByte(), ShortBufferError);
        return;
      }
      assert.equal(lb.readByte(), w.readable.shift());
      return;
    case 'overread': {
      const n = len + 1 + op.x;
      const calls = [() => lb.next(n), () => lb.peek(n), () => lb.skip(n), () => lb.slice(n)];
      assert.throws(calls[op.how]!, ShortBufferError);
      return; // check() confirms nothing was consumed
    }
    case 'mallocAck': {
      const keep = pick(op.x, w.unflushed.length + 1);
      lb.mallocAck(keep);
      w.unflushed.length = keep;
      return;
    }
    case 'views':
      for (const v of lb.views()) w.track(v, v);
      return;
    case 'compact': {
      // Unread linked bytes move into pooled memory: nothing readable changes, nothing is lost.
      const copied = lb.compact();
      assert.ok(copied >= 0 && copied <= len);
      if (w.unflushed.length > 0) assert.equal(copied, 0, 'a buffer with unflushed bytes is not compacted');
      assert.equal(lb.length, len);
      assert.equal(lb.compact(), 0, 'a second compact finds nothing');
      return;
    }
    case 'release':
      lb.release();
      w.released();
      if (len === 0 && w.unflushed.length === 0 && w.slices.length === 0) {
        // Drained: nothing may stay pinned (the bounded-memory promise).
        assert.equal(w.pool.stats().blocksOutstanding, 0, 'a drained buffer pins a block');
      }
      return;
    case 'slice': {
      const n = pick(op.x, len + 1);
      const s = lb.slice(n);
      w.released(); // slice() releases the source
      const expected = [...w.take(n)];
      assert.equal(s.length, n);
      // Sometimes write to the slice too: a slice is a LinkBuffer like any other.
      if (op.extra.length > 0) {
        s.writeBinary(op.extra);
        if (op.ackZero) s.mallocAck(0);
        else expected.push(...op.extra);
        s.flush();
      }
      if (op.keep && w.slices.length < 3) {
        w.slices.push({ lb: s, expected });
        return;
      }
      drain(s, expected, op.pieces);
      s.close();
      return;
    }
    case 'closeSlice': {
      if (w.slices.length === 0) return;
      const [s] = w.slices.splice(pick(op.which, w.slices.length), 1);
      drain(s!.lb, s!.expected, [op.which]);
      s!.lb.close();
      return;
    }
    case 'append': {
      const other = build(w, op.fill);
      const k = pick(op.consume, other.readable.length + 1);
      assert.deepEqual(other.lb.readBinary(k), Buffer.from(other.readable.splice(0, k)));
      lb.append(other.lb);
      w.unflushed.push(...other.readable, ...other.unflushed);
      assert.equal(other.lb.length, 0);
      assert.equal(other.lb.mallocLength, 0);
      if (op.reuse) {
        other.lb.writeString('again', 'latin1');
        other.lb.flush();
        assert.equal(other.lb.readString(5, 'latin1'), 'again');
      }
      other.lb.close();
      return;
    }
    case 'appendOwnSlice': {
      const n = pick(op.x, len + 1);
      const s = lb.slice(n);
      w.released();
      const moved = [...w.take(n)];
      lb.append(s);
      w.unflushed.push(...moved);
      s.close();
      return;
    }
    case 'appendForeignSlice': {
      // The slice shares blocks with a buffer that stays open and keeps writing and reading.
      const src = build(w, op.fill);
      src.lb.flush();
      src.readable.push(...src.unflushed.splice(0));
      const n = pick(op.x, src.readable.length + 1);
      const s = src.lb.slice(n);
      lb.append(s);
      w.unflushed.push(...src.readable.splice(0, n));
      s.close();
      src.lb.writeBinary(op.more);
      src.lb.flush();
      drain(src.lb, [...src.readable, ...op.more], [op.x]);
      src.lb.close();
      return;
    }
    default:
      applyWrite(lb, w, op);
  }
}

const anyOp: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: writeOp, weight: 4 },
  { arbitrary: readOp, weight: 4 },
  { arbitrary: otherOp, weight: 2 },
);

test('LinkBuffer matches a byte-array model under random operation sequences', () => {
  fc.assert(
    fc.property(options, fc.array(anyOp, { maxLength: 80, size: 'max' }), (opts, ops) => {
      const w = new World(opts);
      ops.forEach((op, i) => {
        apply(w, op);
        w.check(`op ${i} (${op.k})`);
      });
      w.lb.close();
      for (const s of w.slices) {
        drain(s.lb, s.expected, []); // slices outlive their closed source
        s.lb.close();
      }
      const stats = w.pool.stats();
      assert.equal(stats.blocksOutstanding, 0, 'blocks leaked');
      assert.equal(stats.bytesOutstanding, 0, 'bytes leaked');
    }),
    // Random seed each run (fast-check prints it on failure). MODEL_RUNS=100000 for a longer hunt.
    { numRuns: Number(process.env.MODEL_RUNS ?? 2000), includeErrorInReport: true, ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH } : {}) },
  );
});
