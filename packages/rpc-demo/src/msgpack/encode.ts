// A MessagePack encoder that writes straight into a LinkBuffer's malloc'd memory. It emits the
// standard types only: nil, bool, int, float 64, str, bin, array, map, and the timestamp extension
// (type -1) for a Date; never another extension. Values MessagePack cannot carry (functions,
// symbols, typed arrays other than Uint8Array, Sets, BigInts beyond 64 bits, invalid Dates, maps
// with keys that are not strings or integers of up to 32 bits, cycles) throw UnencodableValueError.
import type { LinkBuffer } from '@nocopy/linkbuffer';
import { MessageTooLargeError, UnencodableValueError } from '../errors.js';
import { MAX_DEPTH } from './rule.js';
import { encodeUtf8 } from './utf8.js';

/** What the encoder needs of its output: a LinkBuffer's writer side. */
export type EncodeTarget = Pick<LinkBuffer, 'malloc' | 'mallocAck' | 'mallocLength' | 'mallocCapacity' | 'writeBinary'>;

/** Binaries above this many bytes are linked by reference (LinkBuffer.writeBinary), not copied. */
const BY_REFERENCE = 4096;
/** A fresh region when the tail node has less room than this. */
const MIN_REGION = 256;
const REGION = 8192;

const EMPTY = Buffer.alloc(0);
const scratch = new DataView(new ArrayBuffer(8));

let w: EncodeTarget | null = null;
let buf: Buffer = EMPTY;
let pos = 0;
/** The writer's mallocLength where the current region starts. */
let regionStart = 0;
/** Bytes of this message in regions before the current one (and binaries linked by reference). */
let done = 0;
/** Give up once a message grows past this many bytes. */
let limit = 0;

// A region left open after a response encoded with `keep` (encodeResponse): the next response to the
// same target goes on in it, so a batch of replies costs one malloc() and one mallocAck() instead of
// one each. Its unused end is malloc'd but not written: closeRegion() gives it back, and must run
// before the target is flushed. Any other encode closes it first.
let open: EncodeTarget | null = null;
let openStart = 0;
let openBuf: Buffer = EMPTY;
let openPos = 0;

/** Gives back the unused end of a region left open by encodeResponse(..., keep): call before a flush. */
export function closeRegion(): void {
  const t = open;
  if (t === null) return;
  open = null;
  const end = openStart + openBuf.length;
  openBuf = EMPTY;
  // Everything written to the target since went through here: anything else would be cut off.
  if (t.mallocLength !== end) throw new Error(`msgpack encoder: the target was written outside the encoder while a region was open (${t.mallocLength} != ${end})`);
  t.mallocAck(openStart + openPos);
}

/**
 * Encodes `value` at the tail of `target` (not flushed), preceded by its length as a 4-byte
 * big-endian integer when `lengthPrefix`. Returns the length of the value's encoding. Throws
 * MessageTooLargeError past `max` bytes, or UnencodableValueError, leaving `target` as it was.
 */
export function encodeInto(target: EncodeTarget, value: unknown, max: number, lengthPrefix: boolean): number {
  return run(target, max, lengthPrefix, false, 0, null, value, false);
}

/**
 * Encodes the MessagePack-RPC response `[1, id, error, result]` as encodeInto would, without the
 * array: the reply path of a server writes one per call. With `keep`, the region it was written in
 * stays open for the next one (see closeRegion(), which must run before the target is flushed).
 */
export function encodeResponse(target: EncodeTarget, id: number, error: unknown, result: unknown, max: number, lengthPrefix: boolean, keep = false): number {
  return run(target, max, lengthPrefix, true, id, error, result, keep);
}

function run(target: EncodeTarget, max: number, lengthPrefix: boolean, response: boolean, id: number, error: unknown, value: unknown, keep: boolean): number {
  if (w !== null) throw new UnencodableValueError('the encoder was re-entered (from a getter?)');
  if (open !== null && (open !== target || !keep || target.mallocLength !== openStart + openBuf.length)) closeRegion();
  w = target;
  limit = max + (lengthPrefix ? 4 : 0);
  let base: number;
  if (open !== null) {
    // Going on in the open region: this message starts at openPos.
    open = null;
    regionStart = openStart;
    buf = openBuf;
    pos = openPos;
    openBuf = EMPTY;
    base = regionStart + pos;
  } else {
    base = target.mallocLength;
    regionStart = base;
    let cap = target.mallocCapacity;
    if (cap < MIN_REGION) cap = REGION;
    buf = target.malloc(cap);
    pos = 0;
  }
  // `done` counts this message's bytes before the current region's: none yet (pos is where it starts).
  done = -pos;
  try {
    // The length prefix and the response's first bytes in one region, written in place below.
    if (pos + HEAD > buf.length) newRegion(HEAD);
    const head = buf;
    const at = pos;
    if (lengthPrefix) pos += 4;
    if (response) {
      // [1, id, error, result]: the elements at depth 1, as writeArray would write them.
      buf[pos++] = 0x94;
      buf[pos++] = 0x01;
      writeNumber(id);
      write(error, 1);
      write(value, 1);
    } else {
      write(value, 0);
    }
    const total = done + pos - (lengthPrefix ? 4 : 0);
    if (total > max) throw new MessageTooLargeError(total, max);
    if (keep) {
      open = target;
      openStart = regionStart;
      openBuf = buf;
      openPos = pos;
    } else {
      target.mallocAck(regionStart + pos);
    }
    if (lengthPrefix) {
      head[at] = total >>> 24;
      head[at + 1] = (total >>> 16) & 0xff;
      head[at + 2] = (total >>> 8) & 0xff;
      head[at + 3] = total & 0xff;
    }
    return total;
  } catch (err) {
    open = null;
    openBuf = EMPTY;
    target.mallocAck(base);
    throw err;
  } finally {
    w = null;
    buf = EMPTY;
  }
}

/** Room the start of a message needs in one region: a length prefix, a response's header and its id. */
const HEAD = 16;

/** Commits the current region up to pos and begins one with room for `k` bytes. */
function newRegion(k: number): void {
  const t = w!;
  t.mallocAck(regionStart + pos);
  done += pos;
  regionStart = t.mallocLength;
  const cap = t.mallocCapacity;
  buf = t.malloc(cap >= k && cap >= MIN_REGION ? cap : k > REGION ? k : REGION);
  pos = 0;
}

/** Room for `k` more bytes in the current region; else the region is committed and a new one begun. */
function ensure(k: number): void {
  if (pos + k <= buf.length) return;
  if (done + pos + k > limit) throw new MessageTooLargeError(done + pos + k, limit);
  newRegion(k);
}

function write(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'number':
      return writeNumber(v);
    case 'string':
      return writeString(v);
    case 'boolean':
      ensure(1);
      buf[pos++] = v ? 0xc3 : 0xc2;
      return;
    case 'undefined':
      ensure(1);
      buf[pos++] = 0xc0;
      return;
    case 'bigint':
      return writeBigInt(v);
    case 'object':
      if (v === null) {
        ensure(1);
        buf[pos++] = 0xc0;
        return;
      }
      if (depth >= MAX_DEPTH) throw new UnencodableValueError(`nesting deeper than ${MAX_DEPTH} (a cycle?)`);
      if (Array.isArray(v)) return writeArray(v, depth + 1);
      if (v instanceof Uint8Array) return writeBin(v);
      if (v instanceof Date) return writeDate(v);
      if (v instanceof ArrayBuffer) return writeBin(new Uint8Array(v));
      if (v instanceof Map) return writeMap(v, depth + 1);
      if (ArrayBuffer.isView(v) || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) {
        throw new UnencodableValueError(`a ${v.constructor?.name ?? 'value'} has no MessagePack form`);
      }
      return writeObject(v as Record<string, unknown>, depth + 1);
    default:
      throw new UnencodableValueError(`a ${typeof v} has no MessagePack form`);
  }
}

function writeNumber(v: number): void {
  ensure(9);
  if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
    if (v >= 0) {
      if (v < 0x80) {
        buf[pos++] = v;
      } else if (v < 0x100000000) {
        pos += sized(v, 0xcc, pos);
      } else {
        buf[pos++] = 0xcf;
        const hi = Math.floor(v / 0x100000000);
        put32(hi);
        put32(v - hi * 0x100000000);
      }
    } else if (v >= -0x20) {
      buf[pos++] = v & 0xff;
    } else if (v >= -0x80) {
      buf[pos++] = 0xd0;
      buf[pos++] = v & 0xff;
    } else if (v >= -0x8000) {
      buf[pos++] = 0xd1;
      buf[pos++] = (v >> 8) & 0xff;
      buf[pos++] = v & 0xff;
    } else if (v >= -0x80000000) {
      buf[pos++] = 0xd2;
      put32(v >>> 0);
    } else {
      buf[pos++] = 0xd3;
      const hi = Math.floor(v / 0x100000000);
      put32(hi >>> 0);
      put32(v - hi * 0x100000000);
    }
    return;
  }
  buf[pos++] = 0xcb;
  scratch.setFloat64(0, v);
  for (let i = 0; i < 8; i++) buf[pos++] = scratch.getUint8(i);
}

/**
 * Writes format `f8` and `n` in one byte, `f8 + 1` and two, or `f8 + 2` and four, the fewest that
 * hold it (uint 8-32 0xcc, bin 8-32 0xc4, str 8-32 0xd9), at buf[at..]; returns the bytes written.
 */
function sized(n: number, f8: number, at: number): number {
  if (n < 0x100) {
    buf[at] = f8;
    buf[at + 1] = n;
    return 2;
  }
  if (n < 0x10000) {
    buf[at] = f8 + 1;
    buf[at + 1] = n >>> 8;
    buf[at + 2] = n & 0xff;
    return 3;
  }
  buf[at] = f8 + 2;
  buf[at + 1] = n >>> 24;
  buf[at + 2] = (n >>> 16) & 0xff;
  buf[at + 3] = (n >>> 8) & 0xff;
  buf[at + 4] = n & 0xff;
  return 5;
}

function put32(v: number): void {
  buf[pos++] = v >>> 24;
  buf[pos++] = (v >>> 16) & 0xff;
  buf[pos++] = (v >>> 8) & 0xff;
  buf[pos++] = v & 0xff;
}

function writeBigInt(v: bigint): void {
  ensure(9);
  if (v >= 0n && v < 0x10000000000000000n) {
    buf[pos++] = 0xcf;
  } else if (v < 0n && v >= -0x8000000000000000n) {
    buf[pos++] = 0xd3;
    v = BigInt.asUintN(64, v);
  } else {
    throw new UnencodableValueError(`the BigInt ${v} does not fit in 64 bits`);
  }
  put32(Number(v >> 32n));
  put32(Number(v & 0xffffffffn));
}

function strHeader(k: number): number {
  return k < 32 ? 1 : k < 0x100 ? 2 : k < 0x10000 ? 3 : 5;
}

function putStrHeader(k: number, at: number): void {
  if (k < 32) buf[at] = 0xa0 | k;
  else sized(k, 0xd9, at);
}

function writeString(s: string): void {
  const n = s.length;
  if (n > 1024) {
    // Long strings: the exact length first (native), so the region is not three times too large.
    const k = Buffer.byteLength(s, 'utf8');
    const h = strHeader(k);
    ensure(h + k);
    putStrHeader(k, pos);
    encodeUtf8(s, buf, pos + h);
    pos += h + k;
    return;
  }
  // The header is sized for the longest encoding (3 bytes per UTF-16 unit) and shrunk after.
  const guess = strHeader(n * 3);
  ensure(guess + n * 3);
  const k = encodeUtf8(s, buf, pos + guess);
  const h = strHeader(k);
  if (h < guess) buf.copyWithin(pos + h, pos + guess, pos + guess + k);
  putStrHeader(k, pos);
  pos += h + k;
}

function writeBin(b: Uint8Array): void {
  const n = b.length;
  if (n > 0xffffffff) throw new MessageTooLargeError(n, limit);
  ensure(5);
  pos += sized(n, 0xc4, pos);
  if (n > BY_REFERENCE) {
    // Linked, not copied: commit the region, link the binary, and begin a new region on the next write.
    const t = w!;
    if (done + pos + n > limit) throw new MessageTooLargeError(done + pos + n, limit);
    t.mallocAck(regionStart + pos);
    done += pos;
    t.writeBinary(b);
    done += n;
    regionStart = t.mallocLength;
    buf = EMPTY;
    pos = 0;
    return;
  }
  ensure(n);
  buf.set(b, pos);
  pos += n;
}

function writeDate(d: Date): void {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new UnencodableValueError('an invalid Date has no MessagePack form');
  const sec = Math.floor(ms / 1000);
  const nsec = (ms - sec * 1000) * 1e6;
  ensure(15);
  if (nsec === 0 && sec >= 0 && sec < 0x100000000) {
    buf[pos++] = 0xd6;
    buf[pos++] = 0xff;
    put32(sec);
  } else if (sec >= 0 && sec < 0x400000000) {
    buf[pos++] = 0xd7;
    buf[pos++] = 0xff;
    const hi = Math.floor(sec / 0x100000000);
    put32(((nsec << 2) | hi) >>> 0);
    put32(sec - hi * 0x100000000);
  } else {
    buf[pos++] = 0xc7;
    buf[pos++] = 12;
    buf[pos++] = 0xff;
    put32(nsec);
    const hi = Math.floor(sec / 0x100000000);
    put32(hi >>> 0);
    put32(sec - hi * 0x100000000);
  }
}

/** An array's (0x90, 0xdc, 0xdd) or a map's (0x80, 0xde, 0xdf) header: `fix` | n, else `wide` + a 16- or 32-bit count. */
function containerHeader(n: number, fix: number, wide: number): void {
  ensure(5);
  if (n < 16) {
    buf[pos++] = fix | n;
  } else if (n < 0x10000) {
    buf[pos++] = wide;
    buf[pos++] = n >>> 8;
    buf[pos++] = n & 0xff;
  } else {
    buf[pos++] = wide + 1;
    put32(n);
  }
}

function writeArray(a: unknown[], depth: number): void {
  const n = a.length;
  containerHeader(n, 0x90, 0xdc);
  for (let i = 0; i < n; i++) write(a[i], depth);
}

function writeObject(o: Record<string, unknown>, depth: number): void {
  const keys = Object.keys(o);
  const n = keys.length;
  containerHeader(n, 0x80, 0xde);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    writeString(k);
    write(o[k], depth);
  }
}

function writeMap(m: Map<unknown, unknown>, depth: number): void {
  containerHeader(m.size, 0x80, 0xde);
  for (const [k, v] of m) {
    if (typeof k === 'string') writeString(k);
    // rule.ts's keys: what the decoder (ours, and the browser's check) takes back.
    else if (typeof k === 'number' && Number.isInteger(k) && k >= -0x80000000 && k <= 0xffffffff) writeNumber(k);
    else throw new UnencodableValueError('a Map key that is not a string or an integer of up to 32 bits has no MessagePack form the strict decoder takes');
    write(v, depth);
  }
}
