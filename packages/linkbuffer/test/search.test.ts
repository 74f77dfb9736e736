// Searching: indexOf and until, with delimiters of 1, 2 and 4 bytes inside nodes and across seams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Delimiter } from '../src/index.js';
import { bytes, chunked, fresh, finish, assertAllBack, small, linked } from './helpers.js';

const DELIMS: { name: string; delim: Delimiter; raw: string }[] = [
  { name: '1-byte number', delim: 0x0a, raw: '\n' },
  { name: '2-byte string', delim: '\r\n', raw: '\r\n' },
  { name: '4-byte Uint8Array', delim: new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]), raw: '\r\n\r\n' },
];

for (const { name, delim, raw } of DELIMS) {
  test(`indexOf/until find a ${name} delimiter at every seam position (two nodes)`, () => {
    const text = `head${raw}tail`;
    const at = 4;
    for (let cut = 1; cut < text.length; cut++) {
      const lb = chunked(text, [cut]);
      assert.equal(lb.indexOf(delim), at, `cut at ${cut}`);
      const got = lb.until(delim);
      assert.equal(got?.toString('latin1'), `head${raw}`, `cut at ${cut}`);
      assert.equal(lb.readString(lb.length), 'tail');
      finish(lb);
    }
  });
}

test('a 4-byte delimiter spread over three nodes (the middle one shorter than the delimiter)', () => {
  for (const [a, b] of [[1, 2], [2, 1], [1, 1], [3, 1]] as const) {
    // 'ab' then the delimiter starting at offset 2, cut so that it spans three nodes.
    const lb = chunked('ab\r\n\r\nz', [2 + a, b]);
    assert.equal(lb.indexOf('\r\n\r\n'), 2, `cut ${a}|${b}`);
    const line = lb.until('\r\n\r\n');
    assert.equal(line?.toString(), 'ab\r\n\r\n');
    assert.equal(lb.readString(1), 'z');
    finish(lb);
  }
  // A near miss at one seam ('\r' then '-') before the real match across the next seam.
  const near = chunked('a\r-\r\nb', [2, 1, 1, 1]);
  assert.equal(near.indexOf('\r\n'), 3);
  finish(near);
});

test('indexOf honours `from`, reports the first match, and returns -1 when absent', () => {
  const lb = chunked('a,b,,c', [2, 1]);
  assert.equal(lb.indexOf(','), 1);
  assert.equal(lb.indexOf(',', 1), 1);
  assert.equal(lb.indexOf(',', 2), 3);
  assert.equal(lb.indexOf(',', 4), 4);
  assert.equal(lb.indexOf(',', 5), -1);
  assert.equal(lb.indexOf(',', 100), -1);
  assert.equal(lb.indexOf(',,'), 3);
  assert.equal(lb.indexOf(';'), -1);
  assert.equal(lb.indexOf('c,'), -1, 'a match may not run past the readable end');
  lb.skip(2); // positions are relative to the read position
  assert.equal(lb.indexOf(','), 1);
  assert.equal(lb.length, 4, 'indexOf consumes nothing');
  finish(lb);
});

test('an empty delimiter matches at once; on an empty buffer nothing is found', () => {
  const lb = chunked('abc', [1]);
  assert.equal(lb.indexOf(''), 0);
  assert.equal(lb.indexOf(new Uint8Array(0), 2), 2);
  assert.equal(lb.indexOf('', 4), -1);
  const none = lb.until('');
  assert.ok(none !== null);
  assert.equal(none.length, 0);
  assert.equal(lb.length, 3);
  finish(lb);
  const empty = fresh();
  assert.equal(empty.indexOf(0x0a), -1);
  assert.equal(empty.indexOf('\r\n'), -1);
  assert.equal(empty.until(0x0a), null);
  finish(empty);
});

test('indexOf sees neither unflushed bytes nor stale bytes beyond the readable end of a block', () => {
  const lb = small();
  const pool = lb.pool;
  const m = lb.malloc(4);
  m.write('ab\nc', 'latin1');
  lb.mallocAck(2); // '\n' stays in the block but is not data
  lb.flush();
  assert.equal(lb.indexOf(0x0a), -1);
  lb.writeString('x\n'); // written, not flushed
  assert.equal(lb.indexOf(0x0a), -1);
  assert.equal(lb.until('\n'), null);
  lb.flush();
  assert.equal(lb.indexOf(0x0a), 3);
  assert.equal(lb.until('\n')?.toString(), 'abx\n');
  finish(lb);
  assertAllBack(pool);
});

test('until() returns a view inside one node and a correct copy across nodes', () => {
  const { lb, chunks: [chunk] } = linked('GET / HTTP/1.1\r\nHost: x\r\n');
  const first = lb.until('\r\n');
  assert.equal(first?.toString(), 'GET / HTTP/1.1\r\n');
  assert.equal(first?.buffer, chunk.buffer, 'in one node: a view');
  lb.release();

  const split = chunked('Host: x\r\nrest', [5, 3]);
  const views = split.views();
  const line = split.until(0x0a);
  assert.equal(line?.toString(), 'Host: x\r\n');
  for (const v of views) assert.notEqual(line?.buffer, v.buffer, 'across nodes: a copy');
  assert.equal(split.length, 4);
  finish(split);
  finish(lb);
});

test('until() returns null and consumes nothing when the delimiter is absent', () => {
  const lb = chunked('no newline here', [3, 4]);
  assert.equal(lb.until(0x0a), null);
  assert.equal(lb.until('\r\n'), null);
  assert.equal(lb.until(bytes('zz')), null);
  assert.equal(lb.length, 15);
  assert.equal(lb.readString(15), 'no newline here');
  finish(lb);
});

for (const { name, delim, raw } of DELIMS) {
  test(`until() finds a ${name} delimiter that straddles the old end after more data is linked`, () => {
    for (let k = 1; k <= raw.length; k++) {
      // The first chunk ends k bytes into the delimiter; the search for it already failed once.
      const lb = fresh();
      lb.link(bytes('data' + raw.slice(0, k)));
      if (k < raw.length) assert.equal(lb.until(delim), null);
      lb.link(bytes(raw.slice(k) + 'more'));
      assert.equal(lb.until(delim)?.toString('latin1'), 'data' + raw, `k=${k}`);
      assert.equal(lb.readString(lb.length), 'more');
      finish(lb);
    }
  });
}

test('until() keeps finding after many failed searches, and after reads in between', () => {
  const lb = fresh();
  lb.link(bytes('abc'));
  assert.equal(lb.until('\r\n'), null);
  lb.link(bytes('de\r'));
  assert.equal(lb.until('\r\n'), null);
  assert.equal(lb.readByte(), 'a'.charCodeAt(0)); // consumption shifts the remembered position
  lb.link(bytes('\nfg'));
  assert.equal(lb.until('\r\n')?.toString(), 'bcde\r\n');
  // A different delimiter must not reuse the other search's position.
  lb.link(bytes('h'));
  assert.equal(lb.until('\r\n'), null);
  assert.equal(lb.until('f')?.toString(), 'f');
  assert.equal(lb.readString(2), 'gh');
  finish(lb);
});

test('until() reads consecutive lines, one at a time', () => {
  const lb = chunked('one\ntwo\n\nthree', [2, 5, 1]);
  assert.equal(lb.until(0x0a)?.toString(), 'one\n');
  assert.equal(lb.until(0x0a)?.toString(), 'two\n');
  assert.equal(lb.until(0x0a)?.toString(), '\n');
  assert.equal(lb.until(0x0a), null);
  assert.equal(lb.readString(5), 'three');
  finish(lb);
});

test('indexOf/until reject a delimiter byte outside 0..255', () => {
  const lb = chunked('abc', []);
  assert.throws(() => lb.indexOf(256), { code: 'ERR_INVALID_SIZE' });
  assert.throws(() => lb.until(-1), { code: 'ERR_INVALID_SIZE' });
  assert.throws(() => lb.indexOf(0x61, -1), { code: 'ERR_INVALID_SIZE' });
  assert.equal(lb.length, 3);
  finish(lb);
});
