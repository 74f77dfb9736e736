// Shared fixtures for the LinkBuffer tests. (Node's runner also loads this file as a test file
// when given the whole directory; it defines no tests, so it only shows up as one passing entry.)
import { assertAllBack as kitAssertAllBack } from '@nocopy/test-kit';
import { BlockPool, LinkBuffer, type LinkBufferOptions } from '../src/index.js';

/** A small pool, so that seams and size classes are easy to reach with short inputs. */
export function smallPool(): BlockPool {
  return new BlockPool({ minBlockSize: 16, maxBlockSize: 1024 });
}

/**
 * A copy of `data` in its own ArrayBuffer. Buffer.from() of short data shares Node's 8 KiB slab,
 * which would make `view.buffer === chunk.buffer` identity checks meaningless.
 */
export function own(data: Uint8Array): Buffer {
  const b = Buffer.alloc(data.length); // alloc() never uses the shared slab
  b.set(data);
  return b;
}

/** The latin1 bytes of `s`, in their own memory. */
export function bytes(s: string): Buffer {
  return own(Buffer.from(s, 'latin1'));
}

/**
 * A LinkBuffer whose readable bytes are `data`, linked as chunks of the given sizes (the last
 * chunk takes what is left), so reads cross node seams exactly where a test wants them.
 */
export function chunked(data: Uint8Array | string, sizes: number[], options: LinkBufferOptions = {}): LinkBuffer {
  const all = typeof data === 'string' ? bytes(data) : own(data);
  const lb = new LinkBuffer({ pool: options.pool ?? new BlockPool(), ...options });
  let at = 0;
  for (const size of sizes) {
    // Each chunk in its own memory, as socket chunks are.
    lb.link(own(all.subarray(at, at + size)));
    at += size;
  }
  if (at < all.length) lb.link(own(all.subarray(at)));
  return lb;
}

/** A LinkBuffer on a fresh pool of its own, so a test can check that every block came back. */
export function fresh(options: LinkBufferOptions = {}): LinkBuffer {
  return new LinkBuffer({ pool: new BlockPool(), ...options });
}

/** Closes `lb` and checks that its pool has every block back. */
export function finish(lb: LinkBuffer): void {
  lb.close();
  assertAllBack(lb.pool);
}

/**
 * Every block acquired from `pool` has been released (test-kit's check). Not "the pool was used":
 * many of these tests append only their own chunks, which take no block.
 */
export function assertAllBack(pool: BlockPool): void {
  kitAssertAllBack(pool, 'pool', { used: false });
}

/** The readable bytes, read through views() (consumes nothing). */
export function contents(lb: LinkBuffer): Buffer {
  return Buffer.concat(lb.views());
}

/**
 * A LinkBuffer of 16-byte nodes on a fresh small pool (seams every few bytes), holding `text` written
 * and flushed when given. `finish(lb)` closes it and checks its pool.
 */
export function small(text?: string, options: LinkBufferOptions = {}): LinkBuffer {
  const lb = new LinkBuffer({ pool: smallPool(), nodeSize: 16, ...options });
  if (text !== undefined) {
    lb.writeString(text);
    lb.flush();
  }
  return lb;
}

/** A fresh() LinkBuffer with each of `texts` linked as its own chunk (so reads cross seams between them), and those chunks. */
export function linked<T extends string[]>(...texts: T): { lb: LinkBuffer; chunks: { [K in keyof T]: Buffer } } {
  const lb = fresh();
  const chunks = texts.map((t) => {
    const chunk = bytes(t);
    lb.link(chunk);
    return chunk;
  });
  return { lb, chunks: chunks as { [K in keyof T]: Buffer } };
}
