// The browser client's check of a reply before msgpackr decodes it: the whole MessagePack validity
// rule of ../msgpack/rule.ts, the one the server's decoder applies (same depth, same count of arrays
// and maps, same formats, lengths within the message, valid UTF-8, string or 32-bit integer map
// keys, timestamps a Date holds, exactly one value). msgpackr alone accepts its own extensions
// (records, bundled strings, structured clone) from the wire; this is what keeps them out.
// No Node built-ins: this file runs in browsers (the page loads rule.js with it).
import { EXT, HEADER, ITEMS, KEY, KIND, LENGTH, MAX_CONTAINERS, MAX_DEPTH, PAIRS, RESERVED, SCALAR, WHY, extRefusal, timestampMs } from '../msgpack/rule.js';

export class StrictMessagePackError extends Error {
  readonly code = 'ERR_MALFORMED_MESSAGE';
}
StrictMessagePackError.prototype.name = 'StrictMessagePackError';

// WHATWG UTF-8, fatal: refuses overlong forms, surrogates and code points past U+10FFFF, as the decoder.
const utf8 = new TextDecoder('utf-8', { fatal: true });
// "__proto__" as bytes: the map key the rule refuses.
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];

/**
 * Throws StrictMessagePackError unless `b` is exactly one MessagePack value that the rule accepts,
 * with at most `maxContainers` arrays and maps.
 */
export function checkStrict(b: Uint8Array, maxContainers = MAX_CONTAINERS): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = b.length;
  let at = 0;
  // Values still owed at the innermost level; what each enclosing level owes, and whether it is a map.
  let left = 1;
  let inMap = false;
  const outer: number[] = [];
  const maps: boolean[] = [];
  let containers = maxContainers;
  const need = (what: string, n: number) => {
    if (n > end - at) throw new StrictMessagePackError(WHY.short(what, n, end - at));
  };
  const uint = (n: number) => {
    need('a length or integer', n);
    const x = n === 1 ? b[at]! : n === 2 ? v.getUint16(at) : v.getUint32(at);
    at += n;
    return x;
  };
  const open = (count: number, pairs: boolean) => {
    if (count * (pairs ? 2 : 1) > end - at) throw new StrictMessagePackError(WHY.short(`${pairs ? 'a map' : 'an array'} of ${count}`, count * (pairs ? 2 : 1), end - at));
    if (outer.length >= MAX_DEPTH) throw new StrictMessagePackError(WHY.depth);
    if (--containers < 0) throw new StrictMessagePackError(WHY.containers);
    outer.push(left);
    maps.push(inMap);
    left = pairs ? count * 2 : count;
    inMap = pairs;
  };
  const str = (n: number, key: boolean) => {
    need('a string', n);
    let ascii = true;
    for (let i = at; i < at + n && ascii; i++) ascii = b[i]! < 0x80;
    if (!ascii) {
      try {
        utf8.decode(b.subarray(at, at + n));
      } catch {
        throw new StrictMessagePackError(WHY.utf8);
      }
    }
    if (key && n === PROTO.length && PROTO.every((c, i) => b[at + i] === c)) throw new StrictMessagePackError(WHY.proto);
    at += n;
  };
  const timestamp = (format: number, n: number) => {
    need('an extension', 1 + n);
    const why = extRefusal(format, n, b[at]!);
    if (why !== null) throw new StrictMessagePackError(why);
    at++;
    let sec: number;
    let nsec = 0;
    if (n === 4) {
      sec = v.getUint32(at);
    } else if (n === 8) {
      const hi = v.getUint32(at);
      nsec = hi >>> 2;
      sec = (hi & 0x3) * 0x100000000 + v.getUint32(at + 4);
    } else {
      nsec = v.getUint32(at);
      const hi = v.getInt32(at + 4);
      if (hi <= -0x200000 || hi >= 0x200000) throw new StrictMessagePackError('a timestamp out of the range of Date');
      sec = hi * 0x100000000 + v.getUint32(at + 8);
    }
    const ms = timestampMs(sec, nsec);
    if (typeof ms === 'string') throw new StrictMessagePackError(ms);
    at += n;
  };
  for (;;) {
    if (left === 0) {
      if (outer.length === 0) break;
      left = outer.pop()!;
      inMap = maps.pop()!;
      continue;
    }
    // In a map, the values owed alternate key, value: an even count left means a key comes next.
    const key = inMap && (left & 1) === 0;
    left--;
    need(key ? 'a map key' : 'a value', 1);
    const t = b[at++]!;
    if (key && KEY[t] === 0) throw new StrictMessagePackError(WHY.key(t));
    if (t < 0x80 || t >= 0xe0) continue; // fixint
    if (t < 0x90) open(t & 0x0f, true);
    else if (t < 0xa0) open(t & 0x0f, false);
    else if (t < 0xc0) str(t & 0x1f, key);
    else {
      const i = t - 0xc0;
      const kind = KIND[i]!;
      if (kind === RESERVED) throw new StrictMessagePackError(WHY.reserved);
      if (t >= 0xd4 && t <= 0xd8) timestamp(t, 1 << (t - 0xd4));
      else if (kind === SCALAR) {
        need('a number', HEADER[i]! - 1);
        at += HEADER[i]! - 1;
      } else {
        const n = uint(LENGTH[i]!);
        if (kind === EXT) timestamp(t, n);
        else if (kind === ITEMS) open(n, false);
        else if (kind === PAIRS) open(n, true);
        else if (t >= 0xd9) str(n, key);
        else {
          need('a binary', n);
          at += n;
        }
      }
    }
  }
  if (at !== end) throw new StrictMessagePackError(WHY.after(end - at));
}
