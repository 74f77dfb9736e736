// BlockPool: size classes, unpooled large blocks, reference counts, the idle cap, trim and stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Block, BlockPool, BlockReleasedError, InvalidSizeError, LinkBufferError, defaultPool } from '../src/index.js';

test('defaults: 4 KiB minimum, 8 MiB maximum, 64 MiB idle cap', () => {
  const pool = new BlockPool();
  assert.equal(pool.minBlockSize, 4096);
  assert.equal(pool.maxBlockSize, 8 * 1024 * 1024);
  assert.equal(pool.maxIdleBytes, 64 * 1024 * 1024);
  assert.ok(defaultPool instanceof BlockPool);
  assert.equal(pool.acquire(1).buf.length, 4096);
});

test('acquire() rounds up to a power of two, at least minBlockSize', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  const sizes: [number, number][] = [[0, 16], [1, 16], [16, 16], [17, 32], [32, 32], [33, 64], [100, 128], [513, 1024], [1024, 1024]];
  let bytes = 0;
  for (const [ask, got] of sizes) {
    const b = pool.acquire(ask);
    assert.ok(b instanceof Block);
    assert.equal(b.buf.length, got, `acquire(${ask})`);
    assert.equal(b.refs, 1);
    assert.equal(b.pool, pool);
    bytes += got;
  }
  const s = pool.stats();
  assert.equal(s.blocksOutstanding, sizes.length);
  assert.equal(s.bytesOutstanding, bytes);
  assert.equal(s.misses, sizes.length);
  assert.equal(s.hits, 0);
  assert.equal(s.unpooled, 0);
});

test('a released block is reused for any request of its size class', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  const a = pool.acquire(20);
  pool.release(a);
  assert.equal(pool.stats().idleBlocks, 1);
  assert.equal(pool.stats().idleBytes, 32);
  assert.equal(pool.acquire(16).buf.length, 16, 'another class: a new block');
  const again = pool.acquire(31);
  assert.equal(again, a, 'same class: the idle block');
  assert.equal(again.refs, 1);
  const s = pool.stats();
  assert.equal(s.hits, 1);
  assert.equal(s.misses, 2);
  assert.equal(s.idleBlocks, 0);
  assert.equal(s.idleBytes, 0);
});

test('blocks above maxBlockSize are exact-sized, counted, and never kept idle', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  const big = pool.acquire(1025);
  assert.equal(big.buf.length, 1025);
  assert.equal(big.cls, -1);
  assert.equal(pool.stats().unpooled, 1);
  assert.equal(pool.stats().bytesOutstanding, 1025);
  pool.release(big);
  const s = pool.stats();
  assert.equal(s.blocksOutstanding, 0);
  assert.equal(s.bytesOutstanding, 0);
  assert.equal(s.idleBlocks, 0);
  assert.notEqual(pool.acquire(1025), big);
  assert.equal(pool.stats().unpooled, 2);
});

test('retain/release count references; the last release returns the block', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  const b = pool.acquire(16);
  pool.retain(b);
  pool.retain(b);
  assert.equal(b.refs, 3);
  pool.release(b);
  pool.release(b);
  assert.equal(pool.stats().blocksOutstanding, 1, 'still referenced once');
  assert.equal(pool.stats().idleBlocks, 0);
  pool.release(b);
  assert.equal(b.refs, 0);
  assert.equal(pool.stats().blocksOutstanding, 0);
  assert.equal(pool.stats().idleBlocks, 1);
});

test('releasing (or retaining) a block too often throws BlockReleasedError and changes nothing', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  const b = pool.acquire(16);
  pool.release(b);
  const before = pool.stats();
  assert.throws(() => pool.release(b), (e: unknown) => {
    assert.ok(e instanceof BlockReleasedError);
    assert.ok(e instanceof LinkBufferError);
    assert.equal(e.code, 'ERR_BLOCK_RELEASED');
    assert.equal(e.name, 'BlockReleasedError');
    return true;
  });
  assert.throws(() => pool.retain(b), { code: 'ERR_BLOCK_RELEASED' });
  assert.deepEqual(pool.stats(), before);
  const big = pool.acquire(5000);
  pool.release(big);
  assert.throws(() => pool.release(big), BlockReleasedError);
});

test('maxIdleBytes caps the idle memory; blocks beyond it are dropped', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, maxIdleBytes: 40 });
  const blocks = [pool.acquire(16), pool.acquire(16), pool.acquire(16)];
  for (const b of blocks) pool.release(b);
  let s = pool.stats();
  assert.equal(s.idleBlocks, 2);
  assert.equal(s.idleBytes, 32);
  assert.equal(s.blocksOutstanding, 0);
  pool.release(pool.acquire(64)); // 32 + 64 > 40: dropped
  s = pool.stats();
  assert.equal(s.idleBytes, 32);

  const none = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, maxIdleBytes: 0 });
  none.release(none.acquire(16));
  assert.equal(none.stats().idleBlocks, 0);
  none.acquire(16);
  assert.equal(none.stats().hits, 0);
});

test('trim() drops every idle block and leaves outstanding ones alone', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  const kept = pool.acquire(16);
  pool.release(pool.acquire(16));
  pool.release(pool.acquire(200));
  assert.equal(pool.stats().idleBlocks, 2);
  pool.trim();
  const s = pool.stats();
  assert.equal(s.idleBlocks, 0);
  assert.equal(s.idleBytes, 0);
  assert.equal(s.blocksOutstanding, 1);
  assert.notEqual(pool.acquire(16), kept);
  assert.equal(pool.stats().hits, 0, 'nothing idle to reuse after trim');
  pool.release(kept);
  assert.equal(pool.stats().idleBlocks, 1);
});

test('invalid pool options and sizes throw InvalidSizeError', () => {
  const bad = [
    { minBlockSize: 100 },
    { minBlockSize: 0 },
    { maxBlockSize: 3000 },
    { minBlockSize: 64, maxBlockSize: 32 },
    { maxIdleBytes: -1 },
    { maxIdleBytes: 1.5 },
    { minBlockSize: 2 ** 31 },
  ];
  for (const options of bad) {
    assert.throws(() => new BlockPool(options), InvalidSizeError, JSON.stringify(options));
  }
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  for (const size of [-1, 1.5, NaN, Infinity, 2 ** 32]) {
    assert.throws(() => pool.acquire(size), { code: 'ERR_INVALID_SIZE' }, String(size));
  }
  assert.equal(pool.stats().blocksOutstanding, 0, 'a refused acquire counts nothing');
});
