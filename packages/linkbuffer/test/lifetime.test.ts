// Memory lifetime: release(), the view-lifetime contract, and bounded memory after draining.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '../src/index.js';
import { smallPool, chunked, finish, assertAllBack, small } from './helpers.js';

test('release() frees consumed nodes and keeps unconsumed ones', () => {
  const lb = small();
  const pool = lb.pool;
  // malloc, not utf8 writeString: its worst-case estimate (3 bytes a char) would pick bigger blocks.
  lb.malloc(16).fill('a');
  lb.malloc(16).fill('b');
  lb.malloc(4).fill('c');
  lb.flush();
  assert.equal(pool.stats().blocksOutstanding, 3);
  lb.skip(20); // all of node 1, part of node 2
  lb.release();
  assert.equal(pool.stats().blocksOutstanding, 2);
  assert.equal(lb.readString(16), 'b'.repeat(12) + 'cccc');
  lb.release();
  assertAllBack(pool);
  lb.release(); // idempotent, also on an empty buffer
  lb.close();
  lb.release(); // a no-op after close
});

test('views from next/peek/until stay valid across reads and writes until release()', () => {
  const lb = small();
  lb.writeString('line one\nline two\n');
  lb.flush();
  const v1 = lb.until(0x0a)!;
  const p = lb.peek(4);
  const v2 = lb.next(9);
  // More writes into the same blocks and more reads must not disturb the views.
  lb.writeString('zzzzzzzzzzzzzzzzzzzzzzzz');
  lb.flush();
  lb.skip(10);
  assert.equal(v1.toString(), 'line one\n');
  assert.equal(p.toString(), 'line');
  assert.equal(v2.toString(), 'line two\n');
  finish(lb);
});

test('after release() a view may see reused memory; a readBinary copy never does', () => {
  const lb = small('abcd');
  const pool = lb.pool;
  const copy = lb.readBinary(2);
  const view = lb.next(2);
  assert.equal(view.toString(), 'cd');
  lb.release(); // drained: the block goes back to the pool
  assertAllBack(pool);
  const other = new LinkBuffer({ pool, nodeSize: 16 });
  other.writeString('WXYZ'); // the pool hands out the same block again
  assert.equal(pool.stats().hits, 1);
  assert.equal(view.toString(), 'YZ', 'the stale view now shows the new owner\'s bytes');
  assert.equal(copy.toString(), 'ab');
  other.close();
  lb.close();
});

test('scratch copies made by reads across nodes go back to the pool at release()', () => {
  const pool = smallPool();
  const lb = chunked('abcdefghijkl', [5, 5], { pool });
  const n = lb.next(7); // copy across nodes into pooled scratch
  const p = lb.peek(4); // copy across nodes into the peek block
  assert.equal(n.toString(), 'abcdefg');
  assert.equal(p.toString(), 'hijk');
  assert.equal(pool.stats().blocksOutstanding, 2);
  lb.release();
  assertAllBack(pool);
  assert.equal(lb.readString(5), 'hijkl');
  lb.close();
});

test('a drained buffer returns its oversize block and starts small again', () => {
  const lb = small();
  const pool = lb.pool;
  lb.writeString('m'.repeat(600), 'latin1'); // one 1 KiB block
  lb.flush();
  assert.equal(pool.stats().bytesOutstanding, 1024);
  lb.writeByte(0x21); // the oversize tail is not refilled by small writes: a fresh small node
  lb.flush();
  assert.equal(pool.stats().bytesOutstanding, 1024 + 16);
  lb.skip(600);
  lb.release();
  assert.equal(pool.stats().bytesOutstanding, 16, 'the 1 KiB block went back while the buffer is still in use');
  lb.skip(1);
  lb.release();
  assertAllBack(pool);
  lb.writeByte(1);
  assert.equal(pool.stats().bytesOutstanding, 16, 'the next write starts with a small node');
  finish(lb);
});

test('a buffer that consumed everything through reads of every kind pins nothing after release()', () => {
  const lb = small();
  const pool = lb.pool;
  lb.writeString('x'.repeat(300));
  lb.writeUint32BE(7);
  lb.writeString('end\n');
  lb.flush();
  lb.peek(40);
  lb.next(100);
  lb.readString(150);
  lb.readBinary(50);
  assert.equal(lb.readUint32BE(), 7);
  assert.equal(lb.until('\n')?.toString(), 'end\n');
  assert.equal(lb.length, 0);
  lb.release();
  assertAllBack(pool);
  lb.close();
});
