// A pool of memory blocks in power-of-two size classes, with reference counts so that
// several nodes (slices) can share one block. A block returns to its pool when its last
// reference is released. Idle memory is capped, so the pool itself never grows without bound.
import { BlockReleasedError, InvalidSizeError } from './errors.js';

/** One block of memory. `refs` counts the nodes that reference it; 0 means it is idle or gone. */
export class Block {
  readonly buf: Buffer;
  readonly pool: BlockPool;
  /** Size class index, or -1 for a block too large to pool. */
  readonly cls: number;
  refs = 1;
  constructor(buf: Buffer, pool: BlockPool, cls: number) {
    this.buf = buf;
    this.pool = pool;
    this.cls = cls;
  }
}

export interface BlockPoolOptions {
  /** Smallest block; every request is rounded up to a power of two at least this large. Default 4 KiB. */
  minBlockSize?: number;
  /** Largest pooled block; larger requests get an exact, unpooled block. Default 8 MiB. */
  maxBlockSize?: number;
  /** Idle bytes the pool keeps for reuse; blocks released beyond this are dropped for the GC. Default 64 MiB. */
  maxIdleBytes?: number;
}

export interface BlockPoolStats {
  /** Blocks handed out and not yet released (pooled and unpooled). */
  blocksOutstanding: number;
  /** Bytes of those blocks. */
  bytesOutstanding: number;
  /** Blocks kept idle for reuse. */
  idleBlocks: number;
  /** Bytes of those idle blocks. */
  idleBytes: number;
  /** Acquisitions served from an idle block. */
  hits: number;
  /** Acquisitions that allocated new memory (including unpooled ones). */
  misses: number;
  /** Acquisitions larger than maxBlockSize (never pooled). */
  unpooled: number;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export class BlockPool {
  readonly minBlockSize: number;
  readonly maxBlockSize: number;
  readonly maxIdleBytes: number;
  readonly #minShift: number;
  readonly #free: Block[][] = [];
  #idleBytes = 0;
  #idleBlocks = 0;
  #outBlocks = 0;
  #outBytes = 0;
  #hits = 0;
  #misses = 0;
  #unpooled = 0;

  constructor(options: BlockPoolOptions = {}) {
    const min = options.minBlockSize ?? 4096;
    const max = options.maxBlockSize ?? 8 * 1024 * 1024;
    if (!isPowerOfTwo(min) || min > 2 ** 30) throw new InvalidSizeError(min, 'minBlockSize (a power of two)');
    if (!isPowerOfTwo(max) || max < min || max > 2 ** 30) throw new InvalidSizeError(max, 'maxBlockSize (a power of two >= minBlockSize)');
    const idle = options.maxIdleBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(idle) || idle < 0) throw new InvalidSizeError(idle, 'maxIdleBytes');
    this.minBlockSize = min;
    this.maxBlockSize = max;
    this.maxIdleBytes = idle;
    this.#minShift = 31 - Math.clz32(min);
    const classes = (31 - Math.clz32(max)) - this.#minShift + 1;
    for (let i = 0; i < classes; i++) this.#free.push([]);
  }

  /** A block of at least `size` bytes, with one reference. Its contents are not zeroed. */
  acquire(size: number): Block {
    if ((size >>> 0) !== size) throw new InvalidSizeError(size);
    this.#outBlocks++;
    if (size > this.maxBlockSize) {
      this.#misses++;
      this.#unpooled++;
      const buf = Buffer.allocUnsafeSlow(size);
      this.#outBytes += size;
      return new Block(buf, this, -1);
    }
    const cls = size <= this.minBlockSize ? 0 : (32 - Math.clz32(size - 1)) - this.#minShift;
    const list = this.#free[cls]!;
    const block = list.pop();
    if (block !== undefined) {
      this.#hits++;
      this.#idleBlocks--;
      this.#idleBytes -= block.buf.length;
      this.#outBytes += block.buf.length;
      block.refs = 1;
      return block;
    }
    this.#misses++;
    const bytes = this.minBlockSize << cls;
    this.#outBytes += bytes;
    return new Block(Buffer.allocUnsafeSlow(bytes), this, cls);
  }

  /** Adds a reference (a node sharing the block). */
  retain(block: Block): void {
    if (block.refs <= 0) throw new BlockReleasedError();
    block.refs++;
  }

  /** Drops a reference; the last one returns the block to the pool (or to the GC past the idle cap). */
  release(block: Block): void {
    if (block.refs <= 0) throw new BlockReleasedError();
    if (--block.refs > 0) return;
    const bytes = block.buf.length;
    this.#outBlocks--;
    this.#outBytes -= bytes;
    if (block.cls < 0 || this.#idleBytes + bytes > this.maxIdleBytes) return;
    this.#idleBytes += bytes;
    this.#idleBlocks++;
    this.#free[block.cls]!.push(block);
  }

  /** Drops every idle block (for the GC). Outstanding blocks are untouched. */
  trim(): void {
    for (const list of this.#free) list.length = 0;
    this.#idleBlocks = 0;
    this.#idleBytes = 0;
  }

  stats(): BlockPoolStats {
    return {
      blocksOutstanding: this.#outBlocks,
      bytesOutstanding: this.#outBytes,
      idleBlocks: this.#idleBlocks,
      idleBytes: this.#idleBytes,
      hits: this.#hits,
      misses: this.#misses,
      unpooled: this.#unpooled,
    };
  }
}

/** The pool every LinkBuffer uses unless given another. */
export const defaultPool = new BlockPool();
