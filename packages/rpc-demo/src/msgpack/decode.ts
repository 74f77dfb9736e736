// A strict MessagePack decoder. It applies the whole of the validity rule in rule.ts (shared with the
// stream scanner and the browser check): standard formats only, the timestamp the only extension,
// lengths within the input, nesting and the count of arrays and maps bounded, valid UTF-8, string or
// 32-bit integer map keys (never "__proto__"); whatever breaks it is MalformedMessageError.
// The input is exactly one value: bytes after it are an error too. Nothing returned refers to the
// input: strings are decoded and binaries copied, so the input's memory may be reused at once.
import { MalformedMessageError } from '../errors.js';
import { KEY, LENGTH, MAX_CONTAINERS, MAX_DEPTH, WHY, extRefusal, timestampMs } from './rule.js';
import { asBuffer, decodeUtf8 } from './utf8.js';

// Module-local copies of the rule's tables and limits for the hot path: every use of an imported
// binding costs a load and a check (measured: 0.8% more instructions per decoded message).
const DEPTH = MAX_DEPTH;
const CONTAINERS = MAX_CONTAINERS;
const KEYS = KEY;
const LENGTHS = LENGTH;

const EMPTY = Buffer.alloc(0);
// Floats and 64-bit integers are read through this scratch (a DataView per input would cost more).
const scratch = new DataView(new ArrayBuffer(8));

let src: Buffer = EMPTY;
let pos = 0;
let end = 0;
let depth = 0;
let containers = 0;

/**
 * Decodes the single MessagePack value that fills `bytes`. Throws MalformedMessageError, also for
 * more than `maxContainers` arrays and maps in it.
 */
export function decode(bytes: Uint8Array, maxContainers = CONTAINERS): unknown {
  return decodeRange(asBuffer(bytes), 0, bytes.length, maxContainers);
}

/** Decodes the single MessagePack value that fills buffer[start, stop). */
function decodeRange(buffer: Buffer, start: number, stop: number, maxContainers = CONTAINERS): unknown {
  src = buffer;
  pos = start;
  end = stop;
  containers = maxContainers;
  try {
    const v = read();
    if (pos !== end) throw malformed(WHY.after(end - pos));
    return v;
  } finally {
    // Do not pin the input, and reset after an error thrown deep inside.
    src = EMPTY;
    depth = 0;
  }
}

function malformed(detail: string): MalformedMessageError {
  return new MalformedMessageError(detail);
}

function truncated(what: string, need: number): MalformedMessageError {
  return malformed(WHY.short(what, need, end - pos));
}

function read(): unknown {
  if (pos >= end) throw truncated('a value', 1);
  const b = src[pos++]!;
  if (b < 0x80) return b;
  if (b < 0x90) return readMap(b & 0x0f);
  if (b < 0xa0) return readArray(b & 0x0f);
  if (b < 0xc0) return readStr(b & 0x1f);
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return readBin(length(b));
    case 0xc7:
    case 0xc8:
    case 0xc9:
      return readExt(b, length(b));
    case 0xca:
      need(4, 'a float 32');
      copy8(4);
      return scratch.getFloat32(0);
    case 0xcb:
      need(8, 'a float 64');
      copy8(8);
      return scratch.getFloat64(0);
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      return uint64();
    case 0xd0: {
      const v = u8();
      return v < 0x80 ? v : v - 0x100;
    }
    case 0xd1: {
      const v = u16();
      return v < 0x8000 ? v : v - 0x10000;
    }
    case 0xd2:
      return u32() | 0;
    case 0xd3:
      return int64();
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return readExt(b, 1 << (b - 0xd4));
    case 0xd9:
    case 0xda:
    case 0xdb:
      return readStr(length(b));
    case 0xdc:
    case 0xdd:
      return readArray(length(b));
    case 0xde:
    case 0xdf:
      return readMap(length(b));
    default:
      throw malformed(WHY.reserved);
  }
}

function need(n: number, what: string): void {
  if (end - pos < n) throw truncated(what, n);
}

/** The length or count after format byte `b`, of 1, 2 or 4 bytes (rule.ts's LENGTH table). */
function length(b: number): number {
  const n = LENGTHS[b - 0xc0];
  return n === 1 ? u8() : n === 2 ? u16() : u32();
}

function u8(): number {
  need(1, 'a length or integer');
  return src[pos++]!;
}

function u16(): number {
  need(2, 'a length or integer');
  const v = (src[pos]! << 8) | src[pos + 1]!;
  pos += 2;
  return v;
}

function u32(): number {
  need(4, 'a length or integer');
  const v = src[pos]! * 0x1000000 + ((src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!);
  pos += 4;
  return v;
}

function copy8(n: number): void {
  for (let i = 0; i < n; i++) scratch.setUint8(i, src[pos + i]!);
  pos += n;
}

// 64-bit integers: a number when it is a safe integer, else a BigInt.
function uint64(): number | bigint {
  const hi = u32();
  const lo = u32();
  if (hi < 0x200000) return hi * 0x100000000 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function int64(): number | bigint {
  const hi = u32() | 0;
  const lo = u32();
  if ((hi > -0x200000 || (hi === -0x200000 && lo !== 0)) && hi < 0x200000) return hi * 0x100000000 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function readStr(n: number): string {
  if (end - pos < n) throw truncated('a string', n);
  const s = decodeUtf8(src, pos, pos + n);
  if (s === null) throw malformed(WHY.utf8);
  pos += n;
  return s;
}

function readBin(n: number): Buffer {
  if (end - pos < n) throw truncated('a binary', n);
  // A copy the caller owns: it must not alias the input, whose memory is reused.
  const out = n <= SLAB_MAX ? fromSlab(n) : Buffer.allocUnsafe(n);
  out.set(new FastBuffer(src.buffer, src.byteOffset + pos, n));
  pos += n;
  return out;
}

// Small binaries are cut from a slab of our own, as Buffer.allocUnsafe cuts them from Node's pool but
// without its checks and its copy's: a view of the slab, then one native copy. A live binary keeps
// its slab (16 KiB) alive, as one from Node's pool keeps its 8 KiB.
const SLAB_SIZE = 16 * 1024;
const SLAB_MAX = 1024;
const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (ab: ArrayBufferLike, off: number, len: number) => Buffer })[Symbol.species];
let slab: ArrayBuffer = new ArrayBuffer(0);
let slabOff = 0;

function fromSlab(n: number): Buffer {
  if (slab.byteLength - slabOff < n) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE).buffer as ArrayBuffer;
    slabOff = 0;
  }
  const out = new FastBuffer(slab, slabOff, n);
  // 8-byte aligned, as Node's pool keeps its slices.
  slabOff = (slabOff + n + 7) & ~7;
  return out;
}

function readArray(n: number): unknown[] {
  // Every element takes at least one byte: a count beyond what is left is refused before allocating.
  if (n > end - pos) throw truncated(`an array of ${n}`, n);
  if (++depth > DEPTH) throw malformed(WHY.depth);
  if (--containers < 0) throw malformed(WHY.containers);
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = read();
  depth--;
  return a;
}

function readMap(n: number): Record<string, unknown> {
  if (n * 2 > end - pos) throw truncated(`a map of ${n}`, n * 2);
  if (++depth > DEPTH) throw malformed(WHY.depth);
  if (--containers < 0) throw malformed(WHY.containers);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = readKey();
    o[k] = read();
  }
  depth--;
  return o;
}

/** Map keys: strings and integers up to 32 bits (as their decimal property names). */
function readKey(): string | number {
  if (pos >= end) throw truncated('a map key', 1);
  const b = src[pos]!;
  if (KEYS[b] === 0) throw malformed(WHY.key(b));
  const k = read();
  if (k === '__proto__') throw malformed(WHY.proto);
  return k as string | number;
}

function readExt(format: number, n: number): Date {
  need(1 + n, 'an extension');
  const refused = extRefusal(format, n, src[pos]!);
  if (refused !== null) throw malformed(refused);
  pos++;
  let sec: number;
  let nsec: number;
  if (n === 4) {
    nsec = 0;
    sec = u32();
  } else if (n === 8) {
    const hi = u32();
    const lo = u32();
    nsec = hi >>> 2;
    sec = (hi & 0x3) * 0x100000000 + lo;
  } else {
    nsec = u32();
    const hi = u32() | 0;
    const lo = u32();
    // Past 2^53 seconds: no Date holds it, and the number below would not be exact.
    if (hi <= -0x200000 || hi >= 0x200000) throw malformed('a timestamp out of the range of Date');
    sec = hi * 0x100000000 + lo;
  }
  const ms = timestampMs(sec, nsec);
  if (typeof ms === 'string') throw malformed(ms);
  return new Date(ms);
}
