// UTF-8 for the MessagePack codec. Short strings are handled in JavaScript (a native call costs more
// than the work); longer ones go to Node's native decoder after a native validity check.
import { isAscii, isUtf8 } from 'node:buffer';

const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (ab: ArrayBufferLike, off: number, len: number) => Buffer })[Symbol.species];

/** A Buffer over the same memory as `u` (no copy). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : new FastBuffer(u.buffer, u.byteOffset, u.byteLength);
}

const SHORT = 16;

/**
 * Short ASCII strings decoded before, by a hash of their bytes: method names and map keys repeat on
 * every message, and a string found here costs no allocation, and its hash (for the Map of methods or
 * an object's keys) is computed once. Only a cache: any input can take a slot, with no effect but speed.
 */
const CACHE_SLOTS = 512;
const cache: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined);

/**
 * Decodes src[start, end) as UTF-8; returns null when it is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF included), so the caller can reject it.
 */
export function decodeUtf8(src: Buffer, start: number, end: number): string | null {
  const n = end - start;
  if (n <= SHORT) {
    let h = n;
    for (let i = start; i < end; i++) {
      const c = src[i]!;
      if (c >= 0x80) return decodeSlow(src, start, end);
      h = (Math.imul(h, 31) + c) | 0;
    }
    const slot = (h ^ (h >>> 9)) & (CACHE_SLOTS - 1);
    const hit = cache[slot];
    if (hit !== undefined && hit.length === n) {
      let i = 0;
      while (i < n && hit.charCodeAt(i) === src[start + i]) i++;
      if (i === n) return hit;
    }
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(src[i]!);
    cache[slot] = s;
    return s;
  }
  // Long strings: the native ASCII check (17x faster than a loop here), then the native decoders.
  const v = new FastBuffer(src.buffer, src.byteOffset + start, n);
  if (isAscii(v)) return src.toString('latin1', start, end);
  return isUtf8(v) ? v.toString('utf8') : null;
}

/** Validating decode of a short string with non-ASCII bytes. */
function decodeSlow(src: Buffer, start: number, end: number): string | null {
  let s = '';
  let i = start;
  while (i < end) {
    const c = src[i]!;
    if (c < 0x80) {
      s += String.fromCharCode(c);
      i++;
      continue;
    }
    let cp: number;
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      cp = c & 0x1f;
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      cp = c & 0x0f;
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      cp = c & 0x07;
      need = 3;
      min = 0x10000;
    } else {
      return null;
    }
    if (end - i - 1 < need) return null;
    for (let k = 1; k <= need; k++) {
      const d = src[i + k]!;
      if ((d & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    s += String.fromCodePoint(cp);
    i += need + 1;
  }
  return s;
}

/**
 * Writes `s` as UTF-8 at dst[off..]; `dst` has room for 3 bytes per UTF-16 unit of `s` (the most UTF-8 can take). Returns the byte
 * count. Lone surrogates become U+FFFD, as Node's encoder does.
 */
export function encodeUtf8(s: string, dst: Buffer, off: number): number {
  const n = s.length;
  if (n <= SHORT) {
    let o = off;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return dst.write(s, off, 'utf8');
      dst[o++] = c;
    }
    return n;
  }
  return dst.write(s, off, 'utf8');
}
