// The one MessagePack validity rule of @nocopy/rpc-demo. The decoder (decode.ts), the stream scanner
// (scan.ts) and the browser client's check (../browser/strict.ts) take their limits, their table of
// formats and their reasons from here, so what one of them accepts the others accept too (before,
// the browser allowed 64 levels where the server sends 128). No Node built-ins: browsers load it.
//
// A message is valid when:
//  - it is exactly one value, with no byte after it;
//  - every format byte is a standard one: 0xc1 (never used) is refused, and of the extensions only
//    the timestamp (type -1) in the specification's three forms: fixext 4, fixext 8, ext 8 of 12 bytes;
//  - every declared length is checked against the end of the message before anything is read or
//    allocated: a str, bin or ext body must fit, an array of n needs n bytes left, a map of n, 2n;
//  - arrays and maps nest at most MAX_DEPTH deep (the outermost is depth 1), and there are at most
//    maxContainers of them in the message (MAX_CONTAINERS by default; the RPC: containersFor(size));
//  - content: strings are valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF);
//    a map key is a string or an integer of up to 32 bits, never "__proto__"; a timestamp's
//    nanoseconds are below 1e9 and its time is one a Date can hold.
// The scanner only finds where a value ends in a stream, so it applies the structural part (formats,
// lengths, depth, count); the decoder, which then decodes each frame, applies the content part too.

/** Arrays and maps nest at most this deep (the outermost counts 1). The encoder writes no deeper. */
export const MAX_DEPTH = 128;

/**
 * Arrays and maps in one message at most, by default: every byte can open one, and a few MiB of
 * empty maps took seconds to build. The RPC allows containersFor(maxMessageSize).
 */
export const MAX_CONTAINERS = 1 << 18;

/** The bound on arrays and maps the RPC applies to messages of up to `maxMessageSize` bytes. */
export function containersFor(maxMessageSize: number): number {
  return Math.max(65_536, Math.floor(maxMessageSize / 16));
}

/** The timestamp extension's type byte (-1), the only extension accepted. */
export const TIMESTAMP = 0xff;

// What follows the header of formats 0xc0-0xdf (the fix formats below 0xc0 and above 0xdf are
// decoded from their bits).
/** The header is the whole value (nil, bool, numbers, fixext). */
export const SCALAR = 0;
/** str, bin: a body of the declared length. */
export const BODY = 1;
/** ext 8/16/32: a type byte (counted in the header) and a body of the declared length. */
export const EXT = 2;
/** array: the declared number of values. */
export const ITEMS = 3;
/** map: twice the declared number of values. */
export const PAIRS = 4;
/** 0xc1, never used. */
export const RESERVED = 5;

//                           c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 ca cb cc cd ce cf d0 d1 d2 d3 d4 d5 d6 d7  d8 d9 da db dc dd de df
/** Bytes of the header, format byte (and an ext's type byte) included; for SCALAR the whole value. */
export const HEADER = [1, 1, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, 3, 4, 6, 10, 18, 2, 3, 5, 3, 5, 3, 5] as const;
/** Bytes of the big-endian length (or count) after the format byte. */
export const LENGTH = [0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4] as const;
/** SCALAR, BODY, EXT, ITEMS, PAIRS or RESERVED. */
export const KIND = [0, 5, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 3, 3, 4, 4] as const;

/**
 * Formats a map key may have, by byte: fixint, fixstr, uint 8-32, int 8-32, str 8-32, negative fixint
 * (an integer key becomes its decimal property name; wider ones would not round-trip).
 */
export const KEY = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  KEY[b] = Number(b < 0x80 || (b >= 0xa0 && b < 0xc0) || (b >= 0xcc && b <= 0xce) || (b >= 0xd0 && b <= 0xd2) || (b >= 0xd9 && b <= 0xdb) || b >= 0xe0);
}

/**
 * Why an extension of `format` (0xc7-0xc9, 0xd4-0xd8), body `length` and `type` byte is refused, or
 * null when it is a timestamp in one of its three forms.
 */
export function extRefusal(format: number, length: number, type: number): string | null {
  if (type !== TIMESTAMP) return `extension type ${type > 127 ? type - 256 : type} (only the timestamp, -1, is accepted)`;
  if (format === 0xd6 || format === 0xd7 || (format === 0xc7 && length === 12)) return null;
  return `a timestamp of ${length} bytes in format 0x${format.toString(16)} (its forms are fixext 4, fixext 8 and ext 8 of 12 bytes)`;
}

/** A timestamp's time in ms, or a reason it is refused. `sec` must be a safe integer. */
export function timestampMs(sec: number, nsec: number): number | string {
  if (nsec > 999_999_999) return 'a timestamp with nanoseconds above 999999999';
  const ms = sec * 1e3 + nsec / 1e6;
  // Date's range, as new Date(ms) would find it (NaN outside).
  if (!(Math.abs(ms) <= 8.64e15)) return 'a timestamp out of the range of Date';
  return ms;
}

/** The reasons every checker gives, word for word. */
export const WHY = {
  reserved: 'the reserved byte 0xc1',
  depth: `nesting deeper than ${MAX_DEPTH}`,
  containers: 'more arrays and maps than one message may hold',
  utf8: 'a string that is not valid UTF-8',
  proto: 'the map key "__proto__"',
  key: (b: number) => `a map key of type 0x${b.toString(16)} (only strings and integers up to 32 bits are keys)`,
  after: (n: number) => `${n} bytes after the value`,
  short: (what: string, need: number, left: number) => `${what} needs ${need} bytes, ${left} left in the message`,
} as const;
