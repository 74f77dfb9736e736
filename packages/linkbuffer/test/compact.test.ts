// compact(): unread bytes in linked chunks move into pooled blocks, in order, without disturbing
// views handed out before, growing so that a message arriving in pieces stays in few blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool, LinkBuffer } from '../src/index.js';
import { own } from './helpers.js';

function chunk(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return own(b);
}

test('moves unread linked bytes into pooled memory; content, length and earlier views are unchanged', () => {
  const pool = new BlockPool();
  const lb = new LinkBuffer({ pool });
  const a = chunk(100, 1);
  const b = chunk(300, 2);
  lb.link(a);
  lb.link(b);
  const head = lb.next(40);
  assert.equal(lb.compact(), 360);
  assert.equal(lb.length, 360);
  assert.equal(pool.stats().blocksOutstanding, 1, 'one pooled block holds the rest');
  assert.ok(head.equals(a.subarray(0, 40)), 'a view from before is still valid');
  const rest = lb.next(360);
  assert.ok(rest.equals(Buffer.concat([a.subarray(40), b])));
  assert.notEqual(rest.buffer, a.buffer, 'no longer in the linked chunk');
  assert.equal(lb.compact(), 0, 'nothing linked is left');
  lb.release();
  lb.close();
  assert.equal(pool.stats().blocksOutstanding, 0);
});

test('a message arriving in many chunks is compacted into the same block, so reading it whole is a view', () => {
  const pool = new BlockPool();
  const lb = new LinkBuffer({ pool });
  const parts: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    const c = chunk(1000, i);
    parts.push(c);
    lb.link(c);
    lb.compact();
  }
  const want = Buffer.concat(parts);
  assert.ok(pool.stats().blocksOutstanding <= 5, `${pool.stats().blocksOutstanding} blocks for 50 chunks (geometric growth)`);
  assert.ok(lb.next(want.length).equals(want));
  lb.close();
});

test('a buffer holding unflushed writes, or only pooled bytes, is left alone', () => {
  const lb = new LinkBuffer();
  lb.writeString('pooled');
  lb.flush();
  assert.equal(lb.compact(), 0);
  lb.link(chunk(10, 3));
  lb.malloc(5);
  assert.equal(lb.compact(), 0, 'unflushed bytes in the way');
  lb.mallocAck(0);
  assert.equal(lb.compact(), 10);
  assert.equal(lb.readString(6), 'pooled');
  assert.ok(lb.next(10).equals(chunk(10, 3)));
  lb.close();
  assert.throws(() => lb.compact(), { code: 'ERR_BUFFER_CLOSED' });
});

test('until() keeps its search position across a compaction', () => {
  const lb = new LinkBuffer();
  lb.link(own(Buffer.from('abc'.repeat(100))));
  assert.equal(lb.until('\r\n'), null);
  lb.compact();
  lb.link(own(Buffer.from('x\r\ny')));
  const line = lb.until('\r\n');
  assert.equal(line?.toString(), 'abc'.repeat(100) + 'x\r\n');
  assert.equal(lb.readString(1), 'y');
  lb.close();
});
