// The one MessagePack validity rule (src/msgpack/rule.ts), case by case, on its three checkers with
// the same depth and limits: the decoder, the stream scanner (whole, and fed a byte at a time) and
// the browser client's check. At each limit all three accept; one past it all three refuse, with
// ERR_MALFORMED_MESSAGE and the same reason. The scanner frames a stream: it applies the structural
// part of the rule and frames the rest for the decoder, and where the others find the end of the
// message it knows only the frame limit (a length past it is too large, short of it still owed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MalformedMessageError, MessageTooLargeError } from '../src/errors.js';
import { decode } from '../src/msgpack/decode.js';
import { MAX_DEPTH, WHY } from '../src/msgpack/rule.js';
import { ValueScanner } from '../src/msgpack/scan.js';
import { StrictMessagePackError, checkStrict } from '../src/browser/strict.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

/**
 * valid: all three accept. structural: all three refuse, the scanner as soon as it sees it.
 * content: the decoder and the check refuse; the scanner frames it whole (the decoder refuses it next).
 * length: a length past the end; the decoder and the check refuse, the scanner waits for more bytes.
 * trailing: bytes after one value; the decoder and the check refuse, the scanner frames the first value.
 */
type Scope = 'valid' | 'structural' | 'content' | 'length' | 'trailing';

interface Case {
  name: string;
  bytes: Buffer;
  scope: Scope;
  /** The reason all refusing checkers give (a substring of their messages). */
  why?: string | RegExp;
  /** The bound on arrays and maps for all three (default the rule's). */
  containers?: number;
}

const deepMaps = (n: number, inner: string) => hex('81a161'.repeat(n - 1) + inner);
const extWhy = /extension type|forms are fixext 4, fixext 8 and ext 8 of 12 bytes/;

const cases: Case[] = [
  // depth
  { name: `arrays ${MAX_DEPTH} deep`, bytes: hex('91'.repeat(MAX_DEPTH - 1) + '90'), scope: 'valid' },
  { name: `arrays ${MAX_DEPTH} deep around a value`, bytes: hex('91'.repeat(MAX_DEPTH) + 'c0'), scope: 'valid' },
  { name: `maps ${MAX_DEPTH} deep`, bytes: deepMaps(MAX_DEPTH, '80'), scope: 'valid' },
  { name: `arrays ${MAX_DEPTH + 1} deep (the last empty)`, bytes: hex('91'.repeat(MAX_DEPTH) + '90'), scope: 'structural', why: WHY.depth },
  { name: `arrays ${MAX_DEPTH + 1} deep around a value`, bytes: hex('91'.repeat(MAX_DEPTH + 1) + 'c0'), scope: 'structural', why: WHY.depth },
  { name: `maps ${MAX_DEPTH + 1} deep`, bytes: deepMaps(MAX_DEPTH + 1, '80'), scope: 'structural', why: WHY.depth },
  { name: `arrays and maps ${MAX_DEPTH + 1} deep, with wide headers`, bytes: hex('dc0001de0001a161'.repeat(MAX_DEPTH / 2) + 'dd0000000100'), scope: 'structural', why: WHY.depth },
  // the count of arrays and maps
  { name: '10 containers of 10', bytes: hex('99' + '90'.repeat(9)), scope: 'valid', containers: 10 },
  { name: '11 containers of 10', bytes: hex('9a' + '90'.repeat(10)), scope: 'structural', why: WHY.containers, containers: 10 },
  { name: '11 maps of 10, nested', bytes: deepMaps(11, '80'), scope: 'structural', why: WHY.containers, containers: 10 },
  // format bytes
  { name: 'the reserved byte 0xc1', bytes: hex('c1'), scope: 'structural', why: WHY.reserved },
  { name: 'the reserved byte 0xc1 in an array', bytes: hex('93 01 a161 c1'), scope: 'structural', why: WHY.reserved },
  { name: 'every standard format', bytes: hex('dc0010 c0 c2 c3 7f e0 cc ff cd ffff ce ffffffff cf 0000000000000001 d0 80 d1 8000 d2 80000000 d3 8000000000000000 ca 3f800000 cb 3ff0000000000000 c4 01 00') , scope: 'valid' },
  { name: 'str 8, 16, 32 and bin 16, 32', bytes: hex('95 d9 01 61 da 0001 62 db 00000001 63 c5 0001 00 c6 00000001 00'), scope: 'valid' },
  // extensions
  { name: 'timestamp 32 (fixext 4)', bytes: hex('d6ff 00000001'), scope: 'valid' },
  { name: 'timestamp 64 (fixext 8)', bytes: hex('d7ff 00000004 00000001'), scope: 'valid' },
  { name: 'timestamp 96 (ext 8 of 12)', bytes: hex('c70cff 00000001 ffffffffffffffff'), scope: 'valid' },
  { name: "msgpackr's bundled strings (fixext 4, type 0x62)", bytes: hex('d662 0000000f'), scope: 'structural', why: /extension type 98/ },
  { name: "msgpackr's record (fixext 1, type 0x72)", bytes: hex('d472 0a'), scope: 'structural', why: /extension type 114/ },
  { name: 'ext 8 of type 0', bytes: hex('c701 00 00'), scope: 'structural', why: /extension type 0/ },
  { name: 'ext 32 of type 0x69 in an array', bytes: hex('91 c9 00000001 69 00'), scope: 'structural', why: /extension type 105/ },
  { name: 'a timestamp in fixext 1', bytes: hex('d4ff 00'), scope: 'structural', why: extWhy },
  { name: 'a timestamp in fixext 16', bytes: hex('d8ff' + '00'.repeat(16)), scope: 'structural', why: extWhy },
  { name: 'a 32-bit timestamp in ext 8', bytes: hex('c704ff 00000001'), scope: 'structural', why: extWhy },
  { name: 'a 96-bit timestamp in ext 16', bytes: hex('c8000cff 00000000 0000000000000001'), scope: 'structural', why: extWhy },
  { name: 'a 96-bit timestamp in ext 32', bytes: hex('c90000000cff 00000000 0000000000000001'), scope: 'structural', why: extWhy },
  // lengths against the end of the message
  { name: 'a fixstr past the end', bytes: hex('a5 6162'), scope: 'length', why: /needs 5 bytes, 2 left/ },
  { name: 'a bin 8 past the end', bytes: hex('c4ff 0102'), scope: 'length', why: /needs 255 bytes, 2 left/ },
  { name: 'a str 32 with a "negative" length', bytes: hex('db80000000 61'), scope: 'length', why: /needs 2147483648 bytes, 1 left/ },
  { name: 'an array 32 of 2^32-1 in 5 bytes', bytes: hex('ddffffffff'), scope: 'length', why: /needs 4294967295 bytes, 0 left/ },
  { name: 'a map 16 of 3 with 5 bytes left', bytes: hex('de0003 0102030405'), scope: 'length', why: /needs 6 bytes, 5 left/ },
  { name: 'a fixarray short of one value', bytes: hex('93 01 02'), scope: 'length', why: /an array of 3 needs 3 bytes, 2 left/ },
  { name: 'a cut length', bytes: hex('cd01'), scope: 'length', why: /needs 2 bytes, 1 left/ },
  { name: 'a cut timestamp', bytes: hex('d6ff 0000'), scope: 'length', why: /needs 5 bytes, 3 left/ },
  { name: 'nothing at all', bytes: hex(''), scope: 'length', why: /needs 1 bytes, 0 left/ },
  // after the value
  { name: 'a second value', bytes: hex('c0 c0'), scope: 'trailing', why: WHY.after(1) },
  { name: 'bytes after an array', bytes: hex('92 01 02 03 04'), scope: 'trailing', why: WHY.after(2) },
  // content: UTF-8
  { name: 'UTF-8 of every width', bytes: hex('ac 61 c3a9 e282ac f09f9880 6162'), scope: 'valid' },
  { name: 'a bare continuation byte', bytes: hex('a2 c328'), scope: 'content', why: WHY.utf8 },
  { name: 'an overlong form', bytes: hex('a2 c080'), scope: 'content', why: WHY.utf8 },
  { name: 'a surrogate', bytes: hex('a3 eda080'), scope: 'content', why: WHY.utf8 },
  { name: 'a code point past U+10FFFF', bytes: hex('a4 f4908080'), scope: 'content', why: WHY.utf8 },
  { name: 'a long string with an invalid byte', bytes: hex('d920' + '61'.repeat(31) + 'ff'), scope: 'content', why: WHY.utf8 },
  { name: 'a map key with an invalid byte', bytes: hex('81 a2 c328 01'), scope: 'content', why: WHY.utf8 },
  // content: map keys
  { name: 'string and 32-bit integer keys', bytes: hex('85 a161 01 ce ffffffff 02 d2 80000000 03 ff 04 cc 05 05'), scope: 'valid' },
  { name: 'a nil key', bytes: hex('81 c0 01'), scope: 'content', why: WHY.key(0xc0) },
  { name: 'a 64-bit integer key', bytes: hex('81 cf 0000000000000001 01'), scope: 'content', why: WHY.key(0xcf) },
  { name: 'a float key', bytes: hex('81 ca 3f800000 01'), scope: 'content', why: WHY.key(0xca) },
  { name: 'an array key', bytes: hex('81 91 01 01'), scope: 'content', why: WHY.key(0x91) },
  { name: 'a binary key, second in its map', bytes: hex('82 a161 01 c401 61 02'), scope: 'content', why: WHY.key(0xc4) },
  { name: 'the key "__proto__"', bytes: hex('81 a9 5f5f70726f746f5f5f 80'), scope: 'content', why: WHY.proto },
  { name: '"__proto__" as a value', bytes: hex('81 a161 a9 5f5f70726f746f5f5f'), scope: 'valid' },
  // content: timestamps
  { name: 'a timestamp 64 with 1e9 nanoseconds', bytes: hex('d7ff ee6b2800 00000000'), scope: 'content', why: /nanoseconds above 999999999/ },
  { name: 'a timestamp 96 past 2^53 seconds', bytes: hex('c70cff 00000000 7fffffffffffffff'), scope: 'content', why: /out of the range of Date/ },
  { name: 'a timestamp 96 past the range of Date', bytes: hex('c70cff 00000000 0000100000000000'), scope: 'content', why: /out of the range of Date/ },
];

type Verdict = { ok: true } | { ok: false; error: Error & { code?: string } };

function verdict(f: () => unknown): Verdict {
  try {
    f();
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error as Error };
  }
}

/** The scanner over the bytes in one view, or fed one byte more per call over one-byte views. */
function scan(bytes: Buffer, containers: number | undefined, max: number, split: boolean): number {
  const s = new ValueScanner(containers);
  if (!split) return s.scan({ length: bytes.length, views: () => [bytes] }, max);
  let n = -1;
  for (let k = 0; k <= bytes.length && n < 0; k++) {
    const views = Array.from({ length: k }, (_, i) => bytes.subarray(i, i + 1));
    n = s.scan({ length: k, views: () => views }, max);
  }
  return n;
}

function refused(v: Verdict, cls: new (...a: never[]) => Error, why: string | RegExp | undefined, who: string): void {
  assert.ok(!v.ok, `${who} accepted it`);
  assert.ok(v.error instanceof cls, `${who}: ${String(v.error)}`);
  assert.equal(v.error.code, 'ERR_MALFORMED_MESSAGE', who);
  if (typeof why === 'string') assert.ok(v.error.message.endsWith(why), `${who}: "${v.error.message}" does not end with "${why}"`);
  else if (why !== undefined) assert.match(v.error.message, why, who);
}

describe('one MessagePack rule on the decoder, the stream scanner and the browser check', () => {
  for (const c of cases) {
    it(`${c.scope}: ${c.name}`, () => {
      const dec = verdict(() => decode(c.bytes, c.containers));
      const browser = verdict(() => checkStrict(c.bytes, c.containers));
      // A frame limit no length here reaches: the scanner waits where the others find the end.
      const big = 2 ** 40;
      if (c.scope === 'valid') {
        assert.deepEqual(dec, { ok: true }, 'the decoder');
        assert.deepEqual(browser, { ok: true }, 'the browser check');
      } else {
        refused(dec, MalformedMessageError, c.why, 'the decoder');
        refused(browser, StrictMessagePackError, c.why, 'the browser check');
      }
      for (const split of [false, true]) {
        const who = `the scanner${split ? ', a byte at a time' : ''}`;
        const s = verdict(() => scan(c.bytes, c.containers, big, split));
        if (c.scope === 'structural') {
          refused(s, MalformedMessageError, c.why, who);
          continue;
        }
        const n = scan(c.bytes, c.containers, big, split);
        if (c.scope === 'valid' || c.scope === 'content') assert.equal(n, c.bytes.length, who);
        else if (c.scope === 'trailing') assert.ok(n > 0 && n < c.bytes.length, `${who}: ${n}`);
        else {
          assert.equal(n, -1, `${who} waits for the rest`);
          // At a frame limit of the bytes there are, a length past them is too large.
          if (c.bytes.length > 0) assert.throws(() => scan(c.bytes, c.containers, c.bytes.length, split), MessageTooLargeError, who);
        }
      }
    });
  }

  it('refuses the same way whatever limit the count of containers is given', () => {
    for (const limit of [1, 2, 100]) {
      const at = hex('91'.repeat(limit - 1) + '90');
      const past = hex('91'.repeat(limit) + '90');
      decode(at, limit);
      checkStrict(at, limit);
      assert.equal(scan(at, limit, 1024, false), at.length);
      refused(verdict(() => decode(past, limit)), MalformedMessageError, WHY.containers, 'the decoder');
      refused(verdict(() => checkStrict(past, limit)), StrictMessagePackError, WHY.containers, 'the browser check');
      refused(verdict(() => scan(past, limit, 1024, true)), MalformedMessageError, WHY.containers, 'the scanner');
    }
  });

  it('the scanner forgets a refused value and frames the next stream from its start', () => {
    const s = new ValueScanner();
    const bad = hex('92 01 c1');
    assert.throws(() => s.scan({ length: bad.length, views: () => [bad] }, 100), MalformedMessageError);
    const good = hex('92 01 02');
    assert.equal(s.scan({ length: good.length, views: () => [good] }, 100), 3);
  });

  it('the rule and the browser check import nothing a browser lacks', () => {
    // The page serves strict.js and msgpack/rule.js, nothing else of ours (src/websocket/endpoint.ts).
    const imports = (file: string) => [...readFileSync(new URL(`../../src/${file}`, import.meta.url), 'utf8').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    assert.deepEqual(imports('msgpack/rule.ts'), []);
    assert.deepEqual(imports('browser/strict.ts'), ['../msgpack/rule.js']);
  });
});
