// Reader: next, peek, skip, readString, readBinary, readByte, views; which results are views and which copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {  } from '../src/index.js';
import { chunked, fresh, finish, assertAllBack, contents, small, linked } from './helpers.js';

test('next() inside one node returns a view on the linked chunk and consumes it', () => {
  const { lb, chunks: [chunk] } = linked('hello world');
  const v = lb.next(5);
  assert.equal(v.toString(), 'hello');
  assert.equal(v.buffer, chunk.buffer, 'same memory: no copy');
  assert.equal(v.byteOffset, chunk.byteOffset);
  const w = lb.next(6);
  assert.equal(w.toString(), ' world');
  assert.equal(w.byteOffset, chunk.byteOffset + 5);
  assert.equal(lb.length, 0);
  finish(lb);
});

test('next() across two and three nodes returns a correct copy', () => {
  const lb = chunked('abcdefghij', [3, 2, 5]);
  const chunks = lb.views();
  const two = lb.next(4); // 'abc' + 'd'
  assert.equal(two.toString(), 'abcd');
  for (const c of chunks) assert.notEqual(two.buffer, c.buffer, 'spanning nodes means a copy');
  const three = lb.next(5); // 'e' | 'fghi'
  assert.equal(three.toString(), 'efghi');
  assert.equal(two.toString(), 'abcd', 'an earlier copy stays valid until release()');
  assert.equal(lb.readString(1), 'j');
  finish(lb);

  const lb3 = chunked('0123456789', [2, 3, 5]);
  const v = lb3.next(8); // spans all three nodes
  assert.equal(v.toString(), '01234567');
  assert.equal(lb3.length, 2);
  finish(lb3);
});

test('zero-length reads return empty results and consume nothing, even on an empty buffer', () => {
  const empty = fresh();
  assert.equal(empty.next(0).length, 0);
  assert.equal(empty.peek(0).length, 0);
  empty.skip(0);
  assert.equal(empty.readString(0), '');
  assert.equal(empty.readBinary(0).length, 0);
  assert.deepEqual(empty.views(), []);
  finish(empty);

  const lb = chunked('abc', [1]);
  assert.equal(lb.next(0).length, 0);
  assert.equal(lb.peek(0).length, 0);
  lb.skip(0);
  assert.equal(lb.readString(0), '');
  assert.equal(lb.readBinary(0).length, 0);
  assert.equal(lb.length, 3);
  assert.equal(lb.readString(3), 'abc');
  finish(lb);
});

test('peek() does not consume; a view in one node, a copy across nodes', () => {
  const { lb, chunks: [chunk] } = linked('abcdef', 'ghij');
  const v = lb.peek(4);
  assert.equal(v.toString(), 'abcd');
  assert.equal(v.buffer, chunk.buffer);
  assert.equal(lb.length, 10);
  const c = lb.peek(8);
  assert.equal(c.toString(), 'abcdefgh');
  assert.notEqual(c.buffer, chunk.buffer);
  assert.equal(lb.length, 10);
  // Valid until release() or the next peek that spans nodes: in-node peeks and reads do not touch it.
  lb.peek(2);
  lb.next(3);
  assert.equal(c.toString(), 'abcdefgh');
  assert.equal(lb.peek(5).toString(), 'defgh', 'peek starts at the read position');
  assert.equal(lb.readString(7), 'defghij');
  finish(lb);
});

test('peek() across three nodes, repeated, gives the same bytes', () => {
  const lb = chunked('xyz123', [1, 1, 4]);
  assert.equal(lb.peek(3).toString(), 'xyz');
  assert.equal(lb.peek(5).toString(), 'xyz12');
  assert.equal(lb.peek(6).toString(), 'xyz123');
  assert.equal(lb.readString(6), 'xyz123');
  finish(lb);
});

test('skip() consumes without copying, inside a node and across nodes', () => {
  const lb = chunked('abcdefghij', [2, 3, 1]);
  lb.skip(1);
  assert.equal(lb.readByte(), 'b'.charCodeAt(0));
  lb.skip(4); // crosses 'cde' | 'f'
  assert.equal(lb.length, 4);
  assert.equal(lb.readString(4), 'ghij');
  finish(lb);

  const all = chunked('abcdef', [2, 2]);
  all.skip(6);
  assert.equal(all.length, 0);
  assert.equal(all.isEmpty, true);
  finish(all);
});

test('readString() decodes utf8 characters split across nodes and other encodings', () => {
  const text = 'a€b😀c';
  const raw = Buffer.from(text, 'utf8');
  // Cut inside the 3-byte euro sign and inside the 4-byte emoji.
  const lb = chunked(raw, [2, 4, 2]);
  assert.equal(lb.readString(raw.length), text);
  finish(lb);

  const enc = chunked(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x41, 0x00, 0x42, 0x00, 0xe9]), [3, 3]);
  assert.equal(enc.readString(4, 'hex'), 'deadbeef');
  assert.equal(enc.readString(4, 'utf16le'), 'AB');
  assert.equal(enc.readString(1, 'latin1'), 'é');
  finish(enc);

  const b64 = chunked('hi there', [3]);
  assert.equal(b64.readString(8, 'base64'), Buffer.from('hi there').toString('base64'));
  finish(b64);
});

test('readString() of a long string across nodes (beyond the shared scratch size)', () => {
  const s = 'q'.repeat(70_000) + 'end';
  const lb = chunked(s, [1, 40_000]);
  assert.equal(lb.readString(s.length, 'latin1'), s);
  finish(lb);
});

test('readBinary() returns a fresh copy owned by the caller, in one node or across nodes', () => {
  const { lb, chunks: [chunk] } = linked('abcdef', 'gh');
  const a = lb.readBinary(3);
  assert.equal(a.toString(), 'abc');
  assert.notEqual(a.buffer, chunk.buffer, 'in-node data is still copied');
  const b = lb.readBinary(5);
  assert.equal(b.toString(), 'defgh');
  lb.release();
  chunk.fill(0); // the caller may now reuse its chunk: the copies do not change
  assert.equal(a.toString(), 'abc');
  assert.equal(b.toString(), 'defgh');
  finish(lb);
});

test('readByte() walks across every seam', () => {
  const lb = chunked(Buffer.from([1, 2, 3, 4, 5, 6]), [1, 2, 1]);
  const got: number[] = [];
  while (!lb.isEmpty) got.push(lb.readByte());
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
  finish(lb);
});

test('views() returns one view per node from the read position, without consuming', () => {
  const { lb, chunks: [c1, c2] } = linked('abcd', 'efg');
  lb.skip(1);
  const vs = lb.views();
  assert.equal(vs.length, 2);
  assert.equal(vs[0]!.toString(), 'bcd');
  assert.equal(vs[0]!.buffer, c1.buffer);
  assert.equal(vs[1]!.buffer, c2.buffer);
  assert.equal(lb.length, 6);
  const whole = lb.views()[1];
  assert.equal(whole, c2, 'a node covering its whole buffer is that buffer object');
  lb.skip(3); // the first node is now consumed: no empty view for it
  assert.deepEqual(lb.views().map(String), ['efg']);
  finish(lb);
});

test('views() shows only flushed bytes of pooled nodes', () => {
  const lb = small('seen');
  const pool = lb.pool;
  lb.writeString('unseen');
  assert.equal(contents(lb).toString(), 'seen');
  lb.flush();
  assert.equal(contents(lb).toString(), 'seenunseen');
  finish(lb);
  assertAllBack(pool);
});
