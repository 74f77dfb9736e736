import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer, BlockPool } from '../src/index.js';

test('smoke: write, flush, read across nodes, close returns every block', () => {
  const pool = new BlockPool();
  const lb = new LinkBuffer({ pool, nodeSize: 4096 });
  lb.writeUint32BE(5);
  lb.writeString('hello');
  lb.flush();
  assert.equal(lb.readUint32BE(), 5);
  assert.equal(lb.readString(5), 'hello');
  lb.release();
  assert.equal(pool.stats().blocksOutstanding, 0);
  lb.close();
});
