// The state getters (length, mallocLength, mallocCapacity, isEmpty, closed) and close()/dispose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer, BlockPool, defaultPool } from '../src/index.js';
import { smallPool, finish, assertAllBack, small } from './helpers.js';

test('a new buffer is empty, open, and uses the default pool unless given one', () => {
  const lb = new LinkBuffer();
  assert.equal(lb.length, 0);
  assert.equal(lb.mallocLength, 0);
  assert.equal(lb.isEmpty, true);
  assert.equal(lb.closed, false);
  assert.equal(lb.pool, defaultPool);
  lb.close();
  const pool = new BlockPool();
  assert.equal(new LinkBuffer({ pool }).pool, pool);
});

test('length counts flushed unconsumed bytes; mallocLength counts written unflushed bytes', () => {
  const lb = small();
  lb.writeString('abc');
  lb.malloc(5);
  assert.equal(lb.length, 0);
  assert.equal(lb.mallocLength, 8);
  assert.equal(lb.isEmpty, true, 'unflushed bytes are not readable');
  lb.flush();
  assert.equal(lb.length, 8);
  assert.equal(lb.mallocLength, 0);
  assert.equal(lb.isEmpty, false);
  lb.link(Buffer.from('xyz'));
  assert.equal(lb.length, 11);
  lb.skip(10);
  assert.equal(lb.length, 1);
  lb.readByte();
  assert.equal(lb.isEmpty, true);
  finish(lb);
});

test('mallocCapacity is the room left in a writable tail, and malloc within it adds no node', () => {
  const lb = small();
  const pool = lb.pool;
  assert.equal(lb.mallocCapacity, 0, 'no tail yet');
  lb.writeByte(1);
  assert.equal(lb.mallocCapacity, 15);
  lb.malloc(lb.mallocCapacity);
  assert.equal(lb.mallocCapacity, 0);
  assert.equal(pool.stats().blocksOutstanding, 1, 'still one node');
  lb.link(Buffer.from('ref'));
  assert.equal(lb.mallocCapacity, 0, 'a referenced chunk is not writable');
  lb.malloc(100); // a 128-byte block: oversize for 16-byte nodes
  assert.equal(lb.mallocCapacity, 28);
  lb.flush();
  assert.equal(lb.mallocCapacity, 0, 'flush() sealed the oversize tail');
  lb.close();
  assert.equal(lb.mallocCapacity, 0);
  assertAllBack(pool);
});

test('close() returns every block, zeroes the counters and is idempotent', () => {
  const lb = small();
  const pool = lb.pool;
  lb.writeString('x'.repeat(40));
  lb.flush();
  lb.writeString('pending');
  lb.peek(3);
  assert.ok(pool.stats().blocksOutstanding > 0);
  lb.close();
  assert.equal(lb.closed, true);
  assert.equal(lb.length, 0);
  assert.equal(lb.mallocLength, 0);
  assertAllBack(pool);
  finish(lb);
});

test('Symbol.dispose closes the buffer (using declarations)', () => {
  const pool = smallPool();
  let seen: LinkBuffer | undefined;
  {
    using lb = new LinkBuffer({ pool, nodeSize: 16 });
    lb.writeString('scoped');
    lb.flush();
    seen = lb;
    assert.equal(pool.stats().blocksOutstanding, 1);
  }
  assert.equal(seen.closed, true);
  assertAllBack(pool);
  const other = new LinkBuffer({ pool });
  other[Symbol.dispose]();
  assert.equal(other.closed, true);
});

test('a nodeSize of 0 is treated as 1: blocks come from the smallest class and seal at flush', () => {
  const pool = smallPool();
  const lb = new LinkBuffer({ pool, nodeSize: 0 });
  lb.writeByte(1);
  assert.equal(lb.mallocCapacity, 15, 'the pool rounded the 1-byte node up to 16');
  lb.writeUint16BE(0x0203);
  lb.flush();
  assert.equal(lb.mallocCapacity, 0, 'a 16-byte block is oversize for 1-byte nodes: sealed');
  lb.writeByte(4);
  lb.flush();
  assert.equal(lb.views().length, 2);
  assert.equal(lb.readUint8(), 1);
  assert.equal(lb.readUint16BE(), 0x0203);
  assert.equal(lb.readByte(), 4);
  finish(lb);
});
