// A pool of memory blocks in power-of-two size classes, with reference counts so that
// several nodes (slices) can share one block. A block returns to its pool when its last
// reference is released. Idle memory is capped, so the pool itself never grows without bound.
import { MessageChannel } from 'node:worker_threads';
import { BlockReleasedError, InvalidOptionError, InvalidSizeError } from './errors.js';

/** One block of memory. `refs` counts the nodes that reference it; 0 means it is idle or gone. */
export class Block {
  readonly buf: Buffer;
  readonly pool: BlockPool;
  /** Size class index, or -1 for a block too large to pool. */
  readonly cls: number;
  /** The slab the block was carved from, or null for a block allocated on its own. */
  readonly slab: Slab | null;
  refs = 1;
  constructor(buf: Buffer, pool: BlockPool, cls: number, slab: Slab | null = null) {
    this.buf = buf;
    this.pool = pool;
    this.cls = cls;
    this.slab = slab;
  }
}

/**
 * One allocation that small blocks of one class are carved from. Small allocations of their own
 * come from the C heap, which keeps freed memory mapped (a burst of small buffers leaves the process
 * that much larger for good); a slab is one large allocation, given back whole when all its blocks
 * are idle and the pool lets it go.
 */
export class Slab {
  readonly buf: Buffer;
  readonly blockSize: number;
  readonly count: number;
  carved = 0;
  /** Blocks handed out and not yet released. */
  live = 0;
  readonly idle: Block[] = [];
  /** Position in its class's list of slabs with room, or -1. */
  index = -1;
  constructor(bytes: number, blockSize: number) {
    this.buf = Buffer.allocUnsafeSlow(bytes);
    this.blockSize = blockSize;
    this.count = Math.floor(bytes / blockSize);
  }
}

export interface BlockPoolOptions {
  /** Smallest block; every request is rounded up to a power of two at least this large. Default 4 KiB. */
  minBlockSize?: number;
  /** Largest pooled block; larger requests get an exact, unpooled block. Default 8 MiB. */
  maxBlockSize?: number;
  /**
   * Idle bytes the pool keeps for reuse. Past it, released memory goes back to the system: a large
   * block at once, a slab once all its blocks are idle. Default 64 MiB.
   */
  maxIdleBytes?: number;
  /** Blocks up to a quarter of this size are carved from slabs of this size (a power of two). Default 1 MiB. */
  slabSize?: number;
  /**
   * Idle bytes kept however long they stay unused. Above this, idle memory that no acquisition
   * needed during a whole `decayMs` period goes back to the system, so a burst's memory is given
   * back once the burst is over. Default 4 MiB.
   */
  minIdleBytes?: number;
  /** The period of that check, in ms; 0 keeps idle memory up to maxIdleBytes forever. Default 2000. */
  decayMs?: number;
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
  /** Idle bytes given back because they went unused for a decay period. */
  decayedBytes: number;
  /** Acquisitions that needed new memory (including unpooled ones). */
  misses: number;
  /** Acquisitions larger than maxBlockSize (never pooled). */
  unpooled: number;
  /** Slabs allocated now. */
  slabs: number;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export class BlockPool {
  readonly minBlockSize: number;
  readonly maxBlockSize: number;
  readonly maxIdleBytes: number;
  readonly slabSize: number;
  readonly #minShift: number;
  /** Idle blocks of the classes allocated block by block. */
  readonly #free: Block[][] = [];
  /** Slabs with an idle or uncarved block, per slab-carved class. */
  readonly #partial: Slab[][] = [];
  /** Classes below this index are carved from slabs. */
  readonly #slabClasses: number;
  #slabs = 0;
  #idleBytes = 0;
  #idleBlocks = 0;
  #outBlocks = 0;
  #outBytes = 0;
  #hits = 0;
  #misses = 0;
  #unpooled = 0;
  readonly minIdleBytes: number;
  readonly decayMs: number;
  /** The least idle memory seen since the last decay check: what nobody needed all period. */
  #lowIdle = 0;
  #decayTimer: NodeJS.Timeout | null = null;
  #decayed = 0;

  constructor(options: BlockPoolOptions = {}) {
    const min = options.minBlockSize ?? 4096;
    const max = options.maxBlockSize ?? 8 * 1024 * 1024;
    if (!isPowerOfTwo(min) || min > 2 ** 30) throw new InvalidOptionError('minBlockSize', min, 'a power of two up to 2^30');
    if (!isPowerOfTwo(max) || max < min || max > 2 ** 30) throw new InvalidOptionError('maxBlockSize', max, 'a power of two >= minBlockSize');
    const idle = options.maxIdleBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(idle) || idle < 0) throw new InvalidOptionError('maxIdleBytes', idle, 'a non-negative integer');
    this.minBlockSize = min;
    this.maxBlockSize = max;
    this.maxIdleBytes = idle;
    const minIdle = options.minIdleBytes ?? 4 * 1024 * 1024;
    if (!Number.isSafeInteger(minIdle) || minIdle < 0) throw new InvalidOptionError('minIdleBytes', minIdle, 'a non-negative integer');
    this.minIdleBytes = minIdle;
    const decay = options.decayMs ?? 2000;
    if (!Number.isSafeInteger(decay) || decay < 0 || decay > 2 ** 31 - 1) throw new InvalidOptionError('decayMs', decay, 'an integer number of ms from 0 to 2^31-1');
    this.decayMs = decay;
    const slab = options.slabSize ?? 1024 * 1024;
    if (!isPowerOfTwo(slab) || slab > 2 ** 30) throw new InvalidOptionError('slabSize', slab, 'a power of two up to 2^30');
    this.slabSize = slab;
    this.#minShift = 31 - Math.clz32(min);
    const classes = (31 - Math.clz32(max)) - this.#minShift + 1;
    let slabClasses = 0;
    for (let i = 0; i < classes; i++) {
      this.#free.push([]);
      this.#partial.push([]);
      if (min << i <= slab / 4) slabClasses = i + 1;
    }
    this.#slabClasses = slabClasses;
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
    if (cls < this.#slabClasses) return this.#fromSlab(cls);
    const list = this.#free[cls]!;
    const block = list.pop();
    if (block !== undefined) {
      this.#hits++;
      this.#idleBlocks--;
      this.#idleBytes -= block.buf.length;
      if (this.#idleBytes < this.#lowIdle) this.#lowIdle = this.#idleBytes;
      this.#outBytes += block.buf.length;
      block.refs = 1;
      return block;
    }
    this.#misses++;
    const bytes = this.minBlockSize << cls;
    this.#outBytes += bytes;
    return new Block(Buffer.allocUnsafeSlow(bytes), this, cls);
  }

  #fromSlab(cls: number): Block {
    const partial = this.#partial[cls]!;
    let slab = partial.length > 0 ? partial[partial.length - 1]! : null;
    const bytes = this.minBlockSize << cls;
    if (slab === null) {
      slab = new Slab(this.slabSize, bytes);
      this.#slabs++;
      slab.index = partial.length;
      partial.push(slab);
    }
    let block = slab.idle.pop();
    if (block !== undefined) {
      this.#hits++;
      this.#idleBlocks--;
      this.#idleBytes -= bytes;
      if (this.#idleBytes < this.#lowIdle) this.#lowIdle = this.#idleBytes;
      block.refs = 1;
    } else {
      this.#misses++;
      const off = slab.carved++ * bytes;
      block = new Block(slab.buf.subarray(off, off + bytes), this, cls, slab);
    }
    slab.live++;
    this.#outBytes += bytes;
    if (slab.idle.length === 0 && slab.carved === slab.count) this.#unlist(slab, partial);
    return block;
  }

  #unlist(slab: Slab, partial: Slab[]): void {
    const last = partial.pop()!;
    if (last !== slab) {
      partial[slab.index] = last;
      last.index = slab.index;
    }
    slab.index = -1;
  }

  /** Gives a slab whose blocks are all idle back to the system. */
  #freeSlab(slab: Slab): void {
    const partial = this.#partial[slab.idle[0]?.cls ?? 0]!;
    if (slab.index >= 0) this.#unlist(slab, partial);
    this.#idleBlocks -= slab.idle.length;
    this.#idleBytes -= slab.idle.length * slab.blockSize;
    slab.idle.length = 0;
    this.#slabs--;
    freeSoon(slab.buf);
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
    const slab = block.slab;
    if (slab !== null) {
      slab.live--;
      slab.idle.push(block);
      this.#idleBytes += bytes;
      this.#idleBlocks++;
      if (slab.index < 0) {
        const partial = this.#partial[block.cls]!;
        slab.index = partial.length;
        partial.push(slab);
      }
      if (slab.live === 0 && this.#idleBytes > this.maxIdleBytes) this.#freeSlab(slab);
      else this.#armDecay();
      return;
    }
    if (block.cls < 0 || this.#idleBytes + bytes > this.maxIdleBytes) {
      freeSoon(block.buf);
      return;
    }
    this.#idleBytes += bytes;
    this.#idleBlocks++;
    this.#free[block.cls]!.push(block);
    this.#armDecay();
  }

  #armDecay(): void {
    if (this.#decayTimer === null && this.decayMs > 0 && this.#idleBytes > this.minIdleBytes) {
      this.#lowIdle = this.#idleBytes;
      this.#decayTimer = setTimeout(this.#onDecay, this.decayMs).unref();
    }
  }

  /** Drops the idle memory that stayed unused for a whole period (largest blocks first), down to minIdleBytes. */
  readonly #onDecay = (): void => {
    this.#decayTimer = null;
    let excess = Math.min(this.#lowIdle, this.#idleBytes) - this.minIdleBytes;
    for (let cls = this.#free.length - 1; cls >= 0 && excess > 0; cls--) {
      if (cls < this.#slabClasses) {
        // Only slabs with every block idle can go; the others keep their idle blocks for reuse.
        const partial = this.#partial[cls]!;
        for (let i = partial.length - 1; i >= 0 && excess > 0; i--) {
          const slab = partial[i]!;
          if (slab.live !== 0) continue;
          const bytes = slab.idle.length * slab.blockSize;
          this.#freeSlab(slab);
          this.#decayed += bytes;
          excess -= bytes;
          i = Math.min(i, partial.length);
        }
        continue;
      }
      const list = this.#free[cls]!;
      while (list.length > 0 && excess > 0) {
        const buf = list.pop()!.buf;
        const bytes = buf.length;
        freeSoon(buf);
        this.#idleBlocks--;
        this.#idleBytes -= bytes;
        this.#decayed += bytes;
        excess -= bytes;
      }
    }
    this.#lowIdle = this.#idleBytes;
    if (this.#idleBytes > this.minIdleBytes) this.#decayTimer = setTimeout(this.#onDecay, this.decayMs).unref();
  };

  /**
   * Gives idle memory back to the system: every idle block allocated on its own, and every slab
   * whose blocks are all idle. Idle blocks of slabs still in use stay (they cannot go alone).
   */
  trim(): void {
    for (let cls = 0; cls < this.#free.length; cls++) {
      const list = this.#free[cls]!;
      for (const b of list) freeSoon(b.buf);
      this.#idleBlocks -= list.length;
      this.#idleBytes -= list.length * (this.minBlockSize << cls);
      list.length = 0;
      const partial = this.#partial[cls]!;
      for (let i = partial.length - 1; i >= 0; i--) {
        const slab = partial[i];
        if (slab !== undefined && slab.live === 0) this.#freeSlab(slab);
      }
    }
    this.#lowIdle = this.#idleBytes;
  }

  stats(): BlockPoolStats {
    return {
      blocksOutstanding: this.#outBlocks,
      bytesOutstanding: this.#outBytes,
      idleBlocks: this.#idleBlocks,
      idleBytes: this.#idleBytes,
      hits: this.#hits,
      decayedBytes: this.#decayed,
      misses: this.#misses,
      unpooled: this.#unpooled,
      slabs: this.#slabs,
    };
  }
}

// Memory a pool lets go of is freed at once rather than at some later garbage collection: an idle
// process may not collect for minutes, and blocks that lived long sit in the old generation. An
// ArrayBuffer transferred to a MessagePort that is then closed unread is freed when the port closes.
// Only blocks nothing references are dropped, so detaching them is safe; a view kept past its
// release() (a misuse) reads as empty instead of as reused memory.
let graveyard: ArrayBuffer[] = [];
function freeSoon(buf: Buffer): void {
  if (graveyard.length === 0) queueMicrotask(freeNow);
  graveyard.push(buf.buffer as ArrayBuffer);
}
function freeNow(): void {
  const list = graveyard;
  graveyard = [];
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(null, list);
  } catch {
    // A buffer that cannot be transferred is left to the garbage collector.
  }
  port1.close();
  port2.close();
}

/** The pool every LinkBuffer uses unless given another. */
export const defaultPool = new BlockPool();
