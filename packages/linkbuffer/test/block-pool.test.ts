// BlockPool: size classes, unpooled large blocks, reference counts, the idle cap, trim and stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Block, BlockPool, BlockReleasedError, LinkBufferError, defaultPool } from '../src/index.js';
import { until } from '@nocopy/test-kit';

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

test('maxIdleBytes caps the idle memory: a large block past it is dropped, a slab once all its blocks are idle', () => {
  // Blocks of up to a quarter of slabSize are carved from slabs; larger ones are allocated alone.
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, slabSize: 256, maxIdleBytes: 40 });
  const small = [pool.acquire(16), pool.acquire(16), pool.acquire(16)];
  assert.equal(pool.stats().slabs, 1, 'three 16-byte blocks from one 256-byte slab');
  pool.release(small[0]!);
  pool.release(small[1]!);
  let s = pool.stats();
  assert.equal(s.idleBlocks, 2);
  assert.equal(s.idleBytes, 32);
  pool.release(small[2]!); // 48 idle > 40, and the slab is all idle: it goes
  s = pool.stats();
  assert.equal(s.idleBlocks, 0);
  assert.equal(s.idleBytes, 0);
  assert.equal(s.slabs, 0);
  assert.equal(s.blocksOutstanding, 0);
  // A slab still in use keeps its idle blocks whatever the cap.
  const kept = pool.acquire(16);
  const more = [pool.acquire(16), pool.acquire(16), pool.acquire(16)];
  for (const b of more) pool.release(b);
  assert.equal(pool.stats().idleBytes, 48);
  pool.release(kept);
  assert.equal(pool.stats().idleBytes, 0, 'then it goes with its last block');
  // Large blocks (above slabSize / 4) are dropped one by one past the cap.
  const big = [pool.acquire(512), pool.acquire(512)];
  const capped = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, slabSize: 256, maxIdleBytes: 600 });
  const bb = [capped.acquire(512), capped.acquire(512)];
  for (const b of bb) capped.release(b);
  assert.equal(capped.stats().idleBlocks, 1);
  assert.equal(capped.stats().idleBytes, 512);
  for (const b of big) pool.release(b);
  assert.equal(pool.stats().idleBytes, 0);

  const none = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, maxIdleBytes: 0 });
  none.release(none.acquire(16));
  assert.equal(none.stats().idleBlocks, 0);
  none.acquire(16);
  assert.equal(none.stats().hits, 0);
});

test('memory the pool lets go of is freed at once: views of a dropped block read as empty', async () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, slabSize: 256, maxIdleBytes: 0 });
  const b = pool.acquire(16);
  const view = b.buf;
  view.fill(7);
  pool.release(b);
  assert.equal(view.length, 16, 'freed in a microtask, not synchronously');
  await new Promise<void>((resolve) => queueMicrotask(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(view.length, 0, 'the slab was detached (transferred to a closed port), so its memory is gone');
  const big = pool.acquire(1024);
  const bigView = big.buf;
  pool.release(big);
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(bigView.length, 0);
});

test('idle memory nobody needed for a whole decay period goes back, down to minIdleBytes', async () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, slabSize: 256, minIdleBytes: 64, decayMs: 50 });
  // 4 slabs of 256 bytes, then all idle.
  const blocks = Array.from({ length: 16 }, () => pool.acquire(64));
  assert.equal(pool.stats().slabs, 4);
  for (const b of blocks) pool.release(b);
  assert.equal(pool.stats().idleBytes, 1024);
  // Half of it is in use all along (taken and given back every 10 ms): that half stays idle-ready.
  let running = true;
  const churn = (async () => {
    while (running) {
      const some = Array.from({ length: 8 }, () => pool.acquire(64));
      await new Promise((r) => setTimeout(r, 10));
      for (const b of some) pool.release(b);
    }
  })();
  await until(() => pool.stats().decayedBytes >= 256, () => `unneeded memory to go back (${pool.stats().decayedBytes} B)`);
  let s = pool.stats();
  assert.ok(s.idleBytes + s.bytesOutstanding >= 512, `the memory in use stayed: ${s.idleBytes} idle + ${s.bytesOutstanding} out`);
  running = false;
  await churn;
  await until(() => pool.stats().idleBytes <= 256 && pool.stats().slabs <= 1, () => `then down to about minIdleBytes, whole slabs (${JSON.stringify(pool.stats())})`);
  // With decay off, idle memory stays: a twin pool with a 10 ms decay, filled at the same moment,
  // has given its memory back by then.
  const keep = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, decayMs: 0, minIdleBytes: 0 });
  const twin = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, decayMs: 10, minIdleBytes: 0 });
  keep.release(keep.acquire(64));
  twin.release(twin.acquire(64));
  await until(() => twin.stats().idleBytes === 0, 'the twin with decay to give its idle memory back');
  assert.equal(keep.stats().idleBytes, 64);
});

test('trim() gives back idle blocks and all-idle slabs, and leaves outstanding ones alone', () => {
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024, slabSize: 256 });
  const kept = pool.acquire(16);
  pool.release(pool.acquire(16)); // same slab as `kept`: stays idle, the slab is in use
  pool.release(pool.acquire(64)); // its own slab: all idle, goes
  pool.release(pool.acquire(512)); // a large block: goes
  assert.equal(pool.stats().idleBlocks, 3);
  pool.trim();
  let s = pool.stats();
  assert.equal(s.idleBlocks, 1);
  assert.equal(s.idleBytes, 16);
  assert.equal(s.slabs, 1);
  assert.equal(s.blocksOutstanding, 1);
  pool.release(kept);
  pool.trim();
  s = pool.stats();
  assert.equal(s.idleBlocks, 0);
  assert.equal(s.slabs, 0);
  assert.notEqual(pool.acquire(16), kept);
});

test('invalid pool options throw InvalidOptionError, invalid sizes InvalidSizeError', () => {
  const bad = [
    { minBlockSize: 100 },
    { minBlockSize: 0 },
    { maxBlockSize: 3000 },
    { minBlockSize: 64, maxBlockSize: 32 },
    { maxIdleBytes: -1 },
    { maxIdleBytes: 1.5 },
    { minBlockSize: 2 ** 31 },
    { slabSize: 1000 },
    { minIdleBytes: -1 },
    { decayMs: 1.5 },
  ];
  for (const options of bad) {
    assert.throws(() => new BlockPool(options), { name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION' }, JSON.stringify(options));
  }
  const pool = new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
  for (const size of [-1, 1.5, NaN, Infinity, 2 ** 32]) {
    assert.throws(() => pool.acquire(size), { code: 'ERR_INVALID_SIZE' }, String(size));
  }
  assert.equal(pool.stats().blocksOutstanding, 0, 'a refused acquire counts nothing');
});
