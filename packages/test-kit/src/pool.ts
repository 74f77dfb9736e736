// The pool check every zero-copy test ends with: every block taken from a BlockPool is back.
// Structural (this package depends on no nocopy package): anything with a BlockPool's stats().
import assert from 'node:assert/strict';

export interface PoolLike {
  stats(): { hits: number; misses: number; blocksOutstanding: number; bytesOutstanding: number };
}

/**
 * Every block taken from `pool` is back, and (unless `used: false`, for a test whose buffers hold
 * only the caller's own chunks) the pool was used at all, so the check means something.
 */
export function assertAllBack(pool: PoolLike, what = 'pool', options: { used?: boolean } = {}): void {
  const s = pool.stats();
  if (options.used !== false) assert.ok(s.hits + s.misses > 0, `${what}: never used`);
  assert.equal(s.blocksOutstanding, 0, `${what}: blocksOutstanding`);
  assert.equal(s.bytesOutstanding, 0, `${what}: bytesOutstanding`);
}
