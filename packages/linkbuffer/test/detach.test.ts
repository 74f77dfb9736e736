// detachConsumed(): release() for memory a socket still writes from. The consumed memory moves to a
// buffer of its own (views stay valid until it is closed); the rest of the buffer goes on as after release().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool, LinkBuffer } from '../src/index.js';
import { finish, assertAllBack } from './helpers.js';

/** `s` written into pooled nodes and flushed, in writes of `step` bytes. */
function written(s: string, step: number, pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 })): LinkBuffer {
  const lb = new LinkBuffer({ pool, nodeSize: 16 });
  for (let i = 0; i < s.length; i += step) {
    lb.writeString(s.slice(i, i + step), 'latin1');
    lb.flush();
  }
  return lb;
}

test('detachConsumed() keeps consumed nodes, the read node and scratch copies until its buffer is closed', () => {
  const lb = written('aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccccccccccc', 16);
  const first = lb.next(16); // a view of the first node
  const spanning = lb.next(20); // 'b' x16 + 'cccc': a scratch copy
  const partial = lb.next(4); // a view of the read node, which keeps 8 unread bytes
  const outstanding = lb.pool.stats().bytesOutstanding;
  const held = lb.detachConsumed();
  assert.ok(held !== null);
  assert.equal(held.length, 0, 'nothing readable in the held buffer');
  assert.equal(lb.pool.stats().bytesOutstanding, outstanding, 'nothing went back to the pool');
  // New writes reuse no held memory: the views still read what they did.
  lb.writeString('dddddddddddddddddddddddddddddddd', 'latin1');
  lb.flush();
  assert.equal(first.toString('latin1'), 'a'.repeat(16));
  assert.equal(spanning.toString('latin1'), 'b'.repeat(16) + 'cccc');
  assert.equal(partial.toString('latin1'), 'cccc');
  assert.equal(lb.readString(lb.length, 'latin1'), 'c'.repeat(8) + 'd'.repeat(32));
  held.close();
  lb.release();
  finish(lb);
});

test('detachConsumed() of a drained buffer takes every block, and null when nothing is held', () => {
  const lb = written('0123456789', 10);
  assert.equal(lb.detachConsumed(), null, 'nothing consumed, no scratch: nothing to hold');
  lb.skip(10);
  const held = lb.detachConsumed();
  assert.ok(held !== null);
  assert.equal(lb.pool.stats().blocksOutstanding, 1, 'the last node is held, not freed');
  held.close();
  assertAllBack(lb.pool);
  assert.equal(lb.length, 0);
  lb.writeString('x');
  lb.flush();
  assert.equal(lb.readString(1), 'x', 'the buffer is usable after');
  lb.close();
  assert.equal(lb.detachConsumed(), null, 'a closed buffer holds nothing');
  assertAllBack(lb.pool);
});
