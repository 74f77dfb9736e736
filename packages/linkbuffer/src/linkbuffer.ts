// LinkBuffer: a singly linked chain of nodes over pooled blocks, with a nocopy Reader and Writer.
// See README.md for the contract of every method: which calls return views, which copy,
// and how long a view stays valid.
import { BufferClosedError, InvalidOptionError, InvalidSizeError, MallocAckError, ShortBufferError } from './errors.js';
import { type Block, type BlockPool, defaultPool } from './block-pool.js';
import { EMPTY, LinkNode, asBuffer, dropNode, takeNode, view } from './node.js';

export type Delimiter = number | string | Uint8Array;

export interface LinkBufferOptions {
  /** Where blocks come from and go back to. Default: the shared `defaultPool`. */
  pool?: BlockPool;
  /** Capacity of a new node for small writes. Default 8 KiB. */
  nodeSize?: number;
  /** `writeBinary` and `append` reference inputs longer than this instead of copying them. Default 4 KiB. */
  binaryInplaceThreshold?: number;
}

function checkSize(n: number, what?: string): void {
  if ((n >>> 0) !== n) throw new InvalidSizeError(n, what);
}

// Scratch for a decode of a string that spans nodes; single-threaded, so one is enough.
const SCRATCH_MAX = 64 * 1024;
// Integer access across a seam goes through this 8-byte scratch, shared: it is read right after it is
// filled, and JavaScript runs one buffer operation at a time (one per instance cost an allocation).
const INT_SCRATCH = Buffer.allocUnsafeSlow(8);
let stringScratch = Buffer.allocUnsafeSlow(4096);
const NO_OPTIONS: LinkBufferOptions = {};
// The buffer slice() is constructing a child of; read and cleared by the constructor.
let sliceParent: LinkBuffer | null = null;

export class LinkBuffer {
  readonly pool: BlockPool;
  readonly #nodeSize: number;
  readonly #inplace: number;
  // Cursors: head (oldest unreleased) <= read <= flush (first node that may hold unflushed bytes) <= tail.
  #head: LinkNode | null = null;
  #read: LinkNode | null = null;
  #flush: LinkNode | null = null;
  #tail: LinkNode | null = null;
  #length = 0;
  #mallocSize = 0;
  #closed = false;
  // Copies made by next()/until() across nodes live in pooled scratch blocks until release().
  #arena: Block[] | null = null;
  #arenaOff = 0;
  // Cross-node peek() reuses one block (netpoll's Peek OOM lesson: do not allocate per peek).
  #peekBlock: Block | null = null;
  // until(): bytes after the read position already known not to start the current delimiter.
  #scanKey: unknown = undefined;
  #scanned = 0;
  // Side channel of #take/#peekAt: the buffer the returned offset refers to.
  #tb: Buffer = EMPTY;
  // Bytes linked since the last compact(): 0 means there is nothing to compact.
  #linked = 0;

  constructor(options: LinkBufferOptions = NO_OPTIONS) {
    // A slice: the parent's settings, already validated (no options object per slice).
    const parent = sliceParent;
    if (parent !== null) {
      sliceParent = null;
      this.pool = parent.pool;
      this.#nodeSize = parent.#nodeSize;
      this.#inplace = parent.#inplace;
      return;
    }
    this.pool = options.pool ?? defaultPool;
    const nodeSize = options.nodeSize ?? 8192;
    if ((nodeSize >>> 0) !== nodeSize) throw new InvalidOptionError('nodeSize', nodeSize, 'an integer from 0 to 2^32-1');
    this.#nodeSize = Math.max(nodeSize, 1);
    const inplace = options.binaryInplaceThreshold ?? 4096;
    if ((inplace >>> 0) !== inplace) throw new InvalidOptionError('binaryInplaceThreshold', inplace, 'an integer from 0 to 2^32-1');
    this.#inplace = inplace;
  }

  // ---- state ----

  /** Readable (flushed, unconsumed) bytes. */
  get length(): number {
    return this.#length;
  }

  /** Bytes malloc'd or written and not yet flushed. */
  get mallocLength(): number {
    return this.#mallocSize;
  }

  /** Contiguous bytes the next malloc() can return from the current tail node without adding a node. */
  get mallocCapacity(): number {
    const t = this.#tail;
    return t !== null && t.writable ? t.buf.length - t.malloc : 0;
  }

  get isEmpty(): boolean {
    return this.#length === 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- Reader ----

  /** Consumes `n` bytes. A view if they lie in one node, else a copy in pooled scratch; valid until release(). */
  next(n: number): Buffer {
    // Fast path: a view inside the current node (a closed buffer has no read node and falls through).
    const r = this.#read;
    if (r !== null && n > 0 && r.end - r.off >= n && (n >>> 0) === n) {
      const o = r.off;
      r.off = o + n;
      this.#consumed(n);
      return view(r, o, n);
    }
    checkSize(n);
    this.#need(n);
    if (n === 0) return EMPTY;
    const node = this.#readNode();
    const off = node.off;
    if (node.end - off >= n) {
      node.off = off + n;
      this.#consumed(n);
      return view(node, off, n);
    }
    const out = this.#scratch(n);
    this.#copyOut(out, n, true);
    this.#consumed(n);
    return out;
  }

  /**
   * The next `n` bytes without consuming them. A view if they lie in one node; else a copy that stays
   * valid until release() or the next peek() that spans nodes.
   */
  peek(n: number): Buffer {
    checkSize(n);
    this.#need(n);
    if (n === 0) return EMPTY;
    const node = this.#readNode();
    if (node.end - node.off >= n) return view(node, node.off, n);
    let block = this.#peekBlock;
    if (block === null || block.buf.length < n) {
      if (block !== null) this.pool.release(block);
      block = this.#peekBlock = this.pool.acquire(n);
    }
    const out = block.buf.subarray(0, n);
    this.#copyOut(out, n, false);
    return out;
  }

  /** Consumes `n` bytes without copying them. */
  skip(n: number): void {
    const r = this.#read;
    if (r !== null && r.end - r.off >= n && (n >>> 0) === n) {
      r.off += n;
      this.#consumed(n);
      return;
    }
    checkSize(n);
    this.#need(n);
    let node = this.#read;
    let left = n;
    while (left > 0) {
      const avail = node!.end - node!.off;
      if (avail >= left) {
        node!.off += left;
        break;
      }
      node!.off = node!.end;
      left -= avail;
      node = node!.next;
    }
    if (node !== null) this.#read = node;
    this.#consumed(n);
  }

  /**
   * Consumes up to and including the first `delim`, like next(); returns null (consuming nothing)
   * when the readable data holds no `delim`. Repeated calls do not rescan bytes already searched.
   */
  until(delim: Delimiter): Buffer | null {
    const m = typeof delim === 'number' ? 1 : delimiterBytes(delim).length;
    const from = this.#scanKey === delim ? this.#scanned : 0;
    const i = this.indexOf(delim, from);
    if (i < 0) {
      this.#scanKey = delim;
      const scanned = this.#length - m + 1;
      this.#scanned = scanned > 0 ? scanned : 0;
      return null;
    }
    return this.next(i + m);
  }

  /** Position of the first `delim` at or after `from` (relative to the read position), or -1. Copies nothing. */
  indexOf(delim: Delimiter, from = 0): number {
    checkSize(from, 'from'); // argument checks come before the closed check, as in every method
    this.#open();
    const needle = typeof delim === 'number' ? checkByte(delim) : delimiterBytes(delim);
    const m = typeof needle === 'number' ? 1 : needle.length;
    if (m === 0) return from <= this.#length ? from : -1;
    if (from + m > this.#length) return -1;
    // Find the node holding `from`; `pos` is the logical position of node.off.
    let node = this.#read!;
    let pos = 0;
    while (pos + (node.end - node.off) <= from) {
      pos += node.end - node.off;
      node = node.next!;
    }
    const limit = this.#length;
    for (;;) {
      const { buf, off, end } = node;
      const start = off + (from > pos ? from - pos : 0);
      // Search only the readable part: the block beyond `end` holds stale bytes.
      const hay = end === buf.length ? buf : buf.subarray(0, end);
      const i = hay.indexOf(needle, start);
      if (i >= 0 && i + m <= end) return pos + i - off;
      const next = pos + (end - off);
      if (next >= limit) return -1;
      if (m > 1) {
        // The delimiter may straddle the seam: try each start in the last m-1 bytes.
        for (let c = Math.max(start, end - m + 1); c < end; c++) {
          if (matchAcross(node, c, needle as Buffer)) return pos + c - off;
        }
      }
      pos = next;
      node = node.next!;
    }
  }

  /** Copies `n` bytes into a string (default utf8). */
  readString(n: number, encoding: BufferEncoding = 'utf8'): string {
    checkSize(n);
    this.#need(n);
    if (n === 0) return '';
    const node = this.#readNode();
    const off = node.off;
    if (node.end - off >= n) {
      node.off = off + n;
      this.#consumed(n);
      return node.buf.toString(encoding, off, off + n);
    }
    // The shared scratch grows to 64 KiB at most; a larger string decodes from a transient copy.
    let tmp = stringScratch;
    if (tmp.length < n) {
      tmp = Buffer.allocUnsafeSlow(n <= SCRATCH_MAX ? SCRATCH_MAX : n);
      if (n <= SCRATCH_MAX) stringScratch = tmp;
    }
    this.#copyOut(tmp, n, true);
    this.#consumed(n);
    return tmp.toString(encoding, 0, n);
  }

  /** Copies `n` bytes into a fresh Buffer owned by the caller (never invalidated). */
  readBinary(n: number): Buffer {
    checkSize(n);
    this.#need(n);
    const out = Buffer.allocUnsafe(n);
    if (n > 0) {
      this.#copyOut(out, n, true);
      this.#consumed(n);
    }
    return out;
  }

  /** Consumes one byte. */
  readByte(): number {
    this.#need(1);
    const node = this.#readNode();
    const b = node.buf[node.off++]!;
    this.#consumed(1);
    return b;
  }

  readUint8(): number { return this.readByte(); }
  readInt8(): number { const o = this.#take(1); return this.#tb.readInt8(o); }
  readUint16BE(): number { const o = this.#take(2); return this.#tb.readUInt16BE(o); }
  readUint16LE(): number { const o = this.#take(2); return this.#tb.readUInt16LE(o); }
  readInt16BE(): number { const o = this.#take(2); return this.#tb.readInt16BE(o); }
  readInt16LE(): number { const o = this.#take(2); return this.#tb.readInt16LE(o); }
  readUint32BE(): number { const o = this.#take(4); return this.#tb.readUInt32BE(o); }
  readUint32LE(): number { const o = this.#take(4); return this.#tb.readUInt32LE(o); }
  readInt32BE(): number { const o = this.#take(4); return this.#tb.readInt32BE(o); }
  readInt32LE(): number { const o = this.#take(4); return this.#tb.readInt32LE(o); }
  readBigUint64BE(): bigint { const o = this.#take(8); return this.#tb.readBigUInt64BE(o); }
  readBigUint64LE(): bigint { const o = this.#take(8); return this.#tb.readBigUInt64LE(o); }
  readBigInt64BE(): bigint { const o = this.#take(8); return this.#tb.readBigInt64BE(o); }
  readBigInt64LE(): bigint { const o = this.#take(8); return this.#tb.readBigInt64LE(o); }

  /** Integer peeks at `offset` bytes past the read position; nothing is consumed. */
  peekUint8(offset = 0): number { const o = this.#peekAt(1, offset); return this.#tb[o]!; }
  peekUint16BE(offset = 0): number { const o = this.#peekAt(2, offset); return this.#tb.readUInt16BE(o); }
  peekUint16LE(offset = 0): number { const o = this.#peekAt(2, offset); return this.#tb.readUInt16LE(o); }
  peekUint32BE(offset = 0): number {
    // Fast path for the frame-length peek of every length-prefixed parser.
    const r = this.#read;
    if (r !== null && offset === 0 && r.end - r.off >= 4) {
      const b = r.buf;
      const o = r.off;
      return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
    }
    const o = this.#peekAt(4, offset);
    return this.#tb.readUInt32BE(o);
  }
  peekUint32LE(offset = 0): number { const o = this.#peekAt(4, offset); return this.#tb.readUInt32LE(o); }

  /**
   * Consumes `n` bytes into a new LinkBuffer that shares this buffer's memory (no copy), then
   * calls release() on this buffer. The slice owns its references: close() it when done.
   */
  slice(n: number): LinkBuffer {
    // Fast path: the bytes lie in the current read node (a request-sized frame): one node, no loop,
    // and the node's cached ArrayBuffer carries over, so that a copy of the slice (append() of small
    // contents) does not read the `buffer` getter again.
    const r = this.#read;
    if (r !== null && n > 0 && r.end - r.off >= n && (n >>> 0) === n) {
      sliceParent = this;
      const out = new LinkBuffer();
      const s = takeNode();
      s.buf = r.buf;
      const block = r.block;
      if (block !== null) {
        this.pool.retain(block);
        s.block = block;
      }
      let ab = r.ab;
      if (ab === null) {
        ab = r.ab = r.buf.buffer as ArrayBuffer;
        r.base = r.buf.byteOffset;
      }
      s.ab = ab;
      s.base = r.base;
      const o = r.off;
      s.off = o;
      s.end = s.malloc = o + n;
      r.off = o + n;
      out.#head = out.#read = out.#flush = out.#tail = s;
      out.#length = n;
      this.#consumed(n);
      this.release();
      return out;
    }
    checkSize(n);
    this.#need(n);
    sliceParent = this;
    const out = new LinkBuffer();
    let node = this.#read;
    let left = n;
    while (left > 0) {
      const avail = node!.end - node!.off;
      if (avail === 0) {
        node = node!.next;
        continue;
      }
      const k = avail < left ? avail : left;
      const s = takeNode();
      s.buf = node!.buf;
      if (node!.block !== null) {
        this.pool.retain(node!.block);
        s.block = node!.block;
      }
      s.off = node!.off;
      s.end = s.malloc = node!.off + k;
      out.#linkNode(s);
      node!.off += k;
      left -= k;
    }
    if (node !== null) this.#read = node;
    out.#length = n;
    // Every slice node is fully flushed: the flush cursor belongs at the tail. Left at the first
    // node, mallocAck() would cut readable nodes and release() would leave it dangling.
    out.#flush = out.#tail;
    this.#consumed(n);
    this.release();
    return out;
  }

  /**
   * Gives back the memory of everything consumed so far. Every view returned by next(), peek(),
   * until() and views() before this call becomes invalid: its memory may be reused.
   */
  release(): void {
    if (this.#closed) return;
    let read = this.#read;
    if (read !== null) {
      const tail = this.#tail!;
      // Step over consumed, fully flushed nodes so they can be freed too.
      while (read !== tail && read.off === read.end && read.end === read.malloc) {
        if (read === this.#flush) this.#flush = read.next;
        read = read.next!;
      }
      let node = this.#head!;
      while (node !== read) {
        const next = node.next!;
        dropNode(node);
        node = next;
      }
      this.#head = this.#read = read;
      // Drained: give every block back, so a buffer that once held a large message pins nothing.
      if (this.#length === 0 && this.#mallocSize === 0 && read === tail) {
        dropNode(read);
        this.#head = this.#read = this.#flush = this.#tail = null;
      }
    }
    this.#freeScratch();
  }

  /**
   * release() for memory that must outlive it: the memory of everything consumed so far (consumed
   * nodes, the consumed part of the read node, scratch copies) moves to the returned buffer, which
   * has nothing readable, instead of going back to the pool. Views returned before this call stay
   * valid until that buffer is closed; this buffer no longer holds them. Null when it holds nothing.
   * For output that references input and that the socket has not written yet.
   */
  detachConsumed(): LinkBuffer | null {
    if (this.#closed) return null;
    const held: LinkNode[] = [];
    let read = this.#read;
    if (read !== null) {
      const tail = this.#tail!;
      while (read !== tail && read.off === read.end && read.end === read.malloc) {
        if (read === this.#flush) this.#flush = read.next;
        read = read.next!;
      }
      for (let node = this.#head!; node !== read; node = node.next!) held.push(node);
      this.#head = this.#read = read;
      if (this.#length === 0 && this.#mallocSize === 0 && read === tail) {
        // Drained: the last node goes too, as release() would give it back.
        this.#head = this.#read = this.#flush = this.#tail = null;
        held.push(read);
      } else if (read.block !== null && read.off > 0) {
        // Partly consumed and still in use here: the held buffer shares its block.
        this.pool.retain(read.block);
        held.push(holderOf(read.block));
      }
    }
    const arena = this.#arena;
    if (arena !== null && arena.length !== 0) {
      for (let i = 0; i < arena.length; i++) held.push(holderOf(arena[i]!));
      arena.length = 0;
      this.#arenaOff = 0;
    }
    if (this.#peekBlock !== null) {
      held.push(holderOf(this.#peekBlock));
      this.#peekBlock = null;
    }
    if (held.length === 0) return null;
    // Nothing readable or writable in the held nodes: they only keep their memory.
    for (let i = 0; i < held.length; i++) {
      const node = held[i]!;
      node.off = node.end = node.malloc = 0;
      node.writable = false;
      node.next = i + 1 < held.length ? held[i + 1]! : null;
    }
    sliceParent = this;
    const out = new LinkBuffer();
    out.#head = out.#read = held[0]!;
    out.#flush = out.#tail = held[held.length - 1]!;
    return out;
  }

  // ---- Writer ----

  /** A contiguous writable region of `n` bytes at the tail; not readable until flush(). */
  malloc(n: number): Buffer {
    checkSize(n);
    if (n === 0) {
      this.#open();
      return EMPTY;
    }
    const o = this.#reserve(n);
    return this.#tb.subarray(o, o + n);
  }

  /** Keeps the first `n` of the malloc'd, unflushed bytes and discards the rest. */
  mallocAck(n: number): void {
    checkSize(n);
    this.#open();
    if (n > this.#mallocSize) throw new MallocAckError(n, this.#mallocSize);
    if (n === this.#mallocSize) return;
    let node = this.#flush!;
    let left = n;
    for (;;) {
      const unflushed = node.malloc - node.end;
      if (unflushed >= left) {
        node.malloc = node.end + left;
        break;
      }
      left -= unflushed;
      node = node.next!;
    }
    let dead = node.next;
    node.next = null;
    this.#tail = node;
    while (dead !== null) {
      const next = dead.next;
      dropNode(dead);
      dead = next;
    }
    this.#mallocSize = n;
  }

  /** Makes everything written so far readable. */
  flush(): void {
    this.#open();
    this.#publish();
  }

  /** The flush of the buffer itself; internal callers use this so a subclass may override flush() (a socket writer sends). */
  #publish(): void {
    if (this.#mallocSize === 0) return;
    const tail = this.#tail!;
    let node = this.#flush!;
    for (;;) {
      node.end = node.malloc;
      if (node === tail) break;
      node = node.next!;
    }
    this.#length += this.#mallocSize;
    this.#mallocSize = 0;
    this.#flush = tail;
    // Do not keep filling an oversize block with small writes: it would stay pinned (netpoll's tail rule).
    if (tail.writable && tail.buf.length > 2 * this.#nodeSize) tail.writable = false;
  }

  /** Writes one byte. */
  writeByte(b: number): void {
    const o = this.#reserve(1);
    this.#tb[o] = b;
  }

  /** Encodes `s` straight into malloc'd memory; returns the byte count. */
  writeString(s: string, encoding: BufferEncoding = 'utf8'): number {
    this.#open();
    if (s.length === 0) return 0;
    const max = maxEncodedLength(s, encoding);
    const tail = this.#writableTail(max);
    const written = tail.buf.write(s, tail.malloc, encoding);
    tail.malloc += written;
    this.#mallocSize += written;
    return written;
  }

  /**
   * Writes `b`: by reference when longer than the inplace threshold (4 KiB; do not mutate `b`
   * until it has been consumed), else by copy.
   */
  writeBinary(b: Uint8Array): void {
    this.#open();
    const n = b.length;
    if (n === 0) return;
    if (n > this.#inplace) {
      this.#linkRef(asBuffer(b));
      return;
    }
    const o = this.#reserve(n);
    this.#tb.set(b, o);
  }

  /**
   * Inserts `p` by reference inside the region malloc'd last: the last `remainCap` bytes of that
   * region move after `p`. For `a = malloc(nA + nB); writeDirect(p, nB)`, bytes written to
   * a[0..nA) come before `p`, bytes written to a[nA..) after it.
   */
  writeDirect(p: Uint8Array, remainCap: number): void {
    checkSize(remainCap, 'remainCap');
    this.#open();
    const t = this.#tail;
    const unflushed = t === null || !t.writable ? 0 : t.malloc - t.end;
    if (remainCap > unflushed) throw new MallocAckError(remainCap, unflushed, 'writeDirect remainCap');
    if (t === null || !t.writable) {
      if (p.length > 0) this.#linkRef(asBuffer(p));
      return;
    }
    const split = t.malloc - remainCap;
    t.malloc = split;
    t.writable = false;
    if (p.length > 0) this.#linkRef(asBuffer(p));
    // The rest of the block continues in a node that shares it.
    const c = takeNode();
    c.buf = t.buf;
    c.block = t.block;
    if (c.block !== null) this.pool.retain(c.block);
    c.off = c.end = split;
    c.malloc = split + remainCap;
    c.writable = true;
    this.#linkNode(c);
  }

  /**
   * Moves all of `other`'s data (readable and unflushed) to this buffer's tail without copying,
   * as written-but-unflushed bytes: flush() makes them readable. `other` is left empty and usable.
   * Contents up to the inplace threshold (4 KiB) are copied into the current node instead.
   */
  append(other: LinkBuffer): void {
    this.#open();
    if (other === this) throw new TypeError('cannot append a LinkBuffer to itself');
    other.#open();
    const total = other.#length + other.#mallocSize;
    if (total !== 0 && total <= this.#inplace) {
      this.#appendCopy(other, total);
      return;
    }
    other.#publish();
    other.release();
    const first = other.#read;
    const moved = other.#length;
    if (first !== null) {
      for (let n: LinkNode | null = first; n !== null; n = n.next) {
        // Readable there becomes unflushed here.
        n.malloc = n.end;
        n.end = n.off;
      }
      const last = other.#tail!;
      if (this.#tail === null) {
        this.#head = this.#read = this.#flush = first;
      } else {
        this.#tail.next = first;
      }
      this.#tail = last;
      this.#mallocSize += moved;
      if (this.#flush === null) this.#flush = first;
    }
    other.#head = other.#read = other.#flush = other.#tail = null;
    other.#length = 0;
    other.#linked = 0;
    other.#scanKey = undefined;
    other.#scanned = 0;
  }

  /**
   * append() of small contents: a copy into the current node costs less than linking the nodes and
   * handing the socket one more buffer per append (netpoll's WriteBinary copies below 4 KiB too).
   * `other`'s nodes go back (its blocks are released or stay with the buffers sharing them).
   */
  #appendCopy(other: LinkBuffer, total: number): void {
    let at = this.#reserve(total);
    const dst = this.#tb;
    const only = other.#head;
    if (only !== null && only === other.#tail && other.#arena === null && other.#peekBlock === null) {
      // One node (a slice of one frame): copy it and recycle the node, nothing to walk.
      let ab = only.ab;
      if (ab === null) {
        ab = only.ab = only.buf.buffer as ArrayBuffer;
        only.base = only.buf.byteOffset;
      }
      dst.set(new Uint8Array(ab, only.base + only.off, total), at);
      dropNode(only);
      other.#head = other.#read = other.#flush = other.#tail = null;
      other.#length = other.#mallocSize = 0;
      other.#linked = 0;
      other.#scanKey = undefined;
      other.#scanned = 0;
      return;
    }
    // Readable then unflushed bytes: [off, malloc) of every node from the read cursor on.
    for (let node = other.#read; node !== null; node = node.next) {
      const k = node.malloc - node.off;
      if (k === 0) continue;
      // A plain Uint8Array over the cached ArrayBuffer: cheaper to make than a Buffer view.
      let ab = node.ab;
      if (ab === null) {
        ab = node.ab = node.buf.buffer as ArrayBuffer;
        node.base = node.buf.byteOffset;
      }
      dst.set(new Uint8Array(ab, node.base + node.off, k), at);
      at += k;
    }
    for (let node = other.#head; node !== null; ) {
      const next: LinkNode | null = node.next;
      dropNode(node);
      node = next;
    }
    other.#head = other.#read = other.#flush = other.#tail = null;
    other.#length = other.#mallocSize = 0;
    other.#linked = 0;
    other.#scanKey = undefined;
    other.#scanned = 0;
    other.#freeScratch();
  }

  /** Links `chunk` as a readable node without copying (implies flush()). Do not mutate it afterwards. */
  link(chunk: Uint8Array): void {
    this.#open();
    // Flush first, even for an empty chunk: link() implies flush() unconditionally.
    if (this.#mallocSize !== 0) this.#publish();
    const n = chunk.length;
    if (n === 0) return;
    const node = takeNode();
    node.buf = asBuffer(chunk);
    node.end = node.malloc = n;
    this.#linkNode(node);
    this.#flush = node;
    this.#length += n;
    this.#linked += n;
  }

  /**
   * Copies the unread bytes that live in linked memory (link()) into pooled blocks, so that input
   * kept for later is bounded by the pool and goes back to it. Views returned earlier stay valid:
   * linked memory is never reused, only no longer referenced. Copies continue in the free space of
   * the block the previous compaction filled, and new blocks grow with the buffered length, so a
   * message that arrives in many pieces ends up in a few large blocks. Returns the bytes copied.
   */
  compact(): number {
    this.#open();
    if (this.#linked === 0 || this.#mallocSize !== 0) return 0;
    this.#linked = 0;
    // The trailing run of linked nodes at or after the read cursor, and the node before it. Pooled
    // nodes stay where they are: views of them must stay valid until release(), so their blocks
    // cannot go back to the pool now.
    let prev: LinkNode | null = null;
    let first: LinkNode | null = null;
    let atRead = false;
    for (let n = this.#head, before: LinkNode | null = null; n !== null; before = n, n = n.next) {
      if (n === this.#read) atRead = true;
      if (!atRead || n.block !== null) {
        first = null;
      } else if (first === null && n.end > n.off) {
        first = n;
        prev = before;
      }
    }
    if (first === null) return 0;
    const readWasFirst = first === this.#read;
    let k = 0;
    for (let n: LinkNode | null = first; n !== null; n = n.next) k += n.end - n.off;
    // Destination: the free space of the block the previous compaction filled, then new blocks.
    const extend = prev !== null && prev.writable && prev.block !== null && prev.malloc === prev.end && prev.end < prev.buf.length;
    let dest: LinkNode | null = extend ? prev : null;
    const grow = Math.min(8 * 1024 * 1024, Math.max(this.#nodeSize, this.#length));
    let firstNew: LinkNode | null = null;
    let last: LinkNode | null = prev;
    let src = first;
    let so = first.off;
    for (let left = k; left > 0; ) {
      if (dest === null || dest.end === dest.buf.length) {
        const block = this.pool.acquire(Math.max(left, grow));
        const node = takeNode();
        node.buf = block.buf;
        node.block = block;
        node.writable = true;
        if (last === null) this.#head = node;
        else last.next = node;
        last = dest = node;
        firstNew ??= node;
      }
      while (so === src.end) {
        src = src.next!;
        so = src.off;
      }
      const room = dest.buf.length - dest.end;
      const c = Math.min(room, src.end - so, left);
      src.buf.copy(dest.buf, dest.end, so, so + c);
      so += c;
      dest.end = dest.malloc = dest.end + c;
      left -= c;
    }
    // The copied nodes go; the chain ends at the last destination.
    for (let n: LinkNode | null = first; n !== null; ) {
      const next: LinkNode | null = n.next;
      dropNode(n);
      n = next;
    }
    last!.next = null;
    this.#tail = this.#flush = last;
    if (readWasFirst) this.#read = extend ? prev : firstNew;
    return k;
  }

  /** The readable bytes as views, one per node, for a writev. Nothing is consumed; valid until release(). */
  views(): Buffer[] {
    this.#open();
    // Two passes: count, then fill an array of the exact size (the write path calls this per flush).
    let count = 0;
    let left = this.#length;
    for (let node = this.#read; left > 0 && node !== null; node = node.next) {
      const k = node.end - node.off;
      if (k === 0) continue;
      count++;
      left -= k;
    }
    const out = new Array<Buffer>(count);
    let i = 0;
    for (let node = this.#read; i < count; node = node!.next) {
      const k = node!.end - node!.off;
      if (k === 0) continue;
      out[i++] = node!.off === 0 && node!.end === node!.buf.length ? node!.buf : view(node!, node!.off, k);
    }
    return out;
  }

  /** Releases every node and scratch block back to the pool. Idempotent; later use throws BufferClosedError. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let node = this.#head;
    while (node !== null) {
      const next = node.next;
      dropNode(node);
      node = next;
    }
    this.#head = this.#read = this.#flush = this.#tail = null;
    this.#length = this.#mallocSize = 0;
    this.#freeScratch();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // Integer writes: Buffer's writer validates the value before the bytes count as written, so a
  // RangeError leaves no reserved garbage behind.
  writeUint8(v: number): void { const o = this.#room(1); this.#tb.writeUInt8(v, o); this.#commit(1); }
  writeInt8(v: number): void { const o = this.#room(1); this.#tb.writeInt8(v, o); this.#commit(1); }
  writeUint16BE(v: number): void { const o = this.#room(2); this.#tb.writeUInt16BE(v, o); this.#commit(2); }
  writeUint16LE(v: number): void { const o = this.#room(2); this.#tb.writeUInt16LE(v, o); this.#commit(2); }
  writeInt16BE(v: number): void { const o = this.#room(2); this.#tb.writeInt16BE(v, o); this.#commit(2); }
  writeInt16LE(v: number): void { const o = this.#room(2); this.#tb.writeInt16LE(v, o); this.#commit(2); }
  writeUint32BE(v: number): void { const o = this.#room(4); this.#tb.writeUInt32BE(v, o); this.#commit(4); }
  writeUint32LE(v: number): void { const o = this.#room(4); this.#tb.writeUInt32LE(v, o); this.#commit(4); }
  writeInt32BE(v: number): void { const o = this.#room(4); this.#tb.writeInt32BE(v, o); this.#commit(4); }
  writeInt32LE(v: number): void { const o = this.#room(4); this.#tb.writeInt32LE(v, o); this.#commit(4); }
  writeBigUint64BE(v: bigint): void { const o = this.#room(8); this.#tb.writeBigUInt64BE(v, o); this.#commit(8); }
  writeBigUint64LE(v: bigint): void { const o = this.#room(8); this.#tb.writeBigUInt64LE(v, o); this.#commit(8); }
  writeBigInt64BE(v: bigint): void { const o = this.#room(8); this.#tb.writeBigInt64BE(v, o); this.#commit(8); }
  writeBigInt64LE(v: bigint): void { const o = this.#room(8); this.#tb.writeBigInt64LE(v, o); this.#commit(8); }

  // ---- internals ----

  #open(): void {
    if (this.#closed) throw new BufferClosedError();
  }

  #need(n: number): void {
    if (this.#closed) throw new BufferClosedError();
    if (n > this.#length) throw new ShortBufferError(n, this.#length);
  }

  /** The first node with readable bytes; only valid while length > 0. */
  #readNode(): LinkNode {
    let node = this.#read!;
    while (node.off === node.end) node = node.next!;
    this.#read = node;
    return node;
  }

  #consumed(n: number): void {
    this.#length -= n;
    if (this.#scanned !== 0) {
      const s = this.#scanned - n;
      this.#scanned = s > 0 ? s : 0;
    }
  }

  /** Copies the next `n` readable bytes into `dst`, consuming them when `consume`. */
  #copyOut(dst: Buffer, n: number, consume: boolean): void {
    let node = this.#read!;
    let at = 0;
    let off = node.off;
    for (;;) {
      const avail = node.end - off;
      const k = avail < n - at ? avail : n - at;
      if (k > 0) {
        node.buf.copy(dst, at, off, off + k);
        at += k;
        if (consume) node.off = off + k;
      }
      if (at === n) break;
      node = node.next!;
      off = node.off;
    }
    if (consume) this.#read = node;
  }

  /** `n` bytes of pooled scratch memory, freed by release(). */
  #scratch(n: number): Buffer {
    const arena = (this.#arena ??= []);
    const cur = arena.length > 0 ? arena[arena.length - 1]! : null;
    if (cur !== null && cur.buf.length - this.#arenaOff >= n) {
      const o = this.#arenaOff;
      this.#arenaOff = o + n;
      return cur.buf.subarray(o, o + n);
    }
    const block = this.pool.acquire(n);
    arena.push(block);
    this.#arenaOff = n;
    return block.buf.subarray(0, n);
  }

  #freeScratch(): void {
    const arena = this.#arena;
    // Setting length on an empty array still costs (~25 ns): skip it on the common path.
    if (arena !== null && arena.length !== 0) {
      for (let i = 0; i < arena.length; i++) this.pool.release(arena[i]!);
      arena.length = 0;
      this.#arenaOff = 0;
    }
    if (this.#peekBlock !== null) {
      this.pool.release(this.#peekBlock);
      this.#peekBlock = null;
    }
  }

  /** Consumes `k` bytes for an integer read: returns an offset into this.#tb. */
  #take(k: number): number {
    this.#need(k);
    const node = this.#readNode();
    const off = node.off;
    if (node.end - off >= k) {
      node.off = off + k;
      this.#consumed(k);
      this.#tb = node.buf;
      return off;
    }
    this.#copyOut(INT_SCRATCH, k, true);
    this.#consumed(k);
    this.#tb = INT_SCRATCH;
    return 0;
  }

  /** Locates `k` bytes at `offset` past the read position without consuming: an offset into this.#tb. */
  #peekAt(k: number, offset: number): number {
    checkSize(offset, 'offset');
    this.#need(offset + k);
    let node = this.#read!;
    let skip = offset;
    while (node.end - node.off <= skip) {
      skip -= node.end - node.off;
      node = node.next!;
    }
    const off = node.off + skip;
    if (node.end - off >= k) {
      this.#tb = node.buf;
      return off;
    }
    const dst = INT_SCRATCH;
    let at = 0;
    let o = off;
    while (at < k) {
      if (o === node.end) {
        node = node.next!;
        o = node.off;
        continue;
      }
      dst[at++] = node.buf[o++]!;
    }
    this.#tb = dst;
    return 0;
  }

  /** A writable tail node with at least `n` bytes of free capacity. */
  #writableTail(n: number): LinkNode {
    const t = this.#tail;
    if (t !== null && t.writable && t.buf.length - t.malloc >= n) return t;
    const block = this.pool.acquire(n > this.#nodeSize ? n : this.#nodeSize);
    const node = takeNode();
    node.buf = block.buf;
    node.block = block;
    node.writable = true;
    this.#linkNode(node);
    if (this.#flush === null) this.#flush = node;
    return node;
  }

  /** Room for `n` bytes at the tail, not yet counted as written: their offset into this.#tb. */
  #room(n: number): number {
    this.#open();
    const t = this.#writableTail(n);
    this.#tb = t.buf;
    return t.malloc;
  }

  /** Counts the `n` bytes just written at #room()'s offset. */
  #commit(n: number): void {
    this.#tail!.malloc += n;
    this.#mallocSize += n;
  }

  /** Malloc's `n` bytes at the tail: returns their offset into this.#tb. */
  #reserve(n: number): number {
    this.#open();
    const t = this.#writableTail(n);
    const o = t.malloc;
    t.malloc = o + n;
    this.#mallocSize += n;
    this.#tb = t.buf;
    return o;
  }

  /** Appends `buf` by reference as unflushed bytes. */
  #linkRef(buf: Buffer): void {
    const node = takeNode();
    node.buf = buf;
    node.malloc = buf.length;
    this.#linkNode(node);
    if (this.#flush === null) this.#flush = node;
    this.#mallocSize += buf.length;
  }

  #linkNode(node: LinkNode): void {
    if (this.#tail === null) {
      this.#head = this.#read = node;
      if (this.#flush === null) this.#flush = node;
    } else {
      this.#tail.next = node;
    }
    this.#tail = node;
  }
}

/** A node that holds one reference to `block` (taken by the caller) and nothing readable. */
function holderOf(block: Block): LinkNode {
  const node = takeNode();
  node.buf = block.buf;
  node.block = block;
  return node;
}

function checkByte(b: number): number {
  if ((b & 0xff) !== b) throw new InvalidSizeError(b, 'delimiter byte');
  return b;
}

let lastDelimString = '';
let lastDelimBytes: Buffer = EMPTY;

function delimiterBytes(delim: string | Uint8Array): Buffer {
  if (typeof delim !== 'string') return asBuffer(delim);
  if (delim !== lastDelimString) {
    lastDelimBytes = Buffer.from(delim, 'utf8');
    lastDelimString = delim;
  }
  return lastDelimBytes;
}

/** Does `needle` start at node.buf[c] and continue across the following nodes? */
function matchAcross(node: LinkNode, c: number, needle: Buffer): boolean {
  let n: LinkNode | null = node;
  let o = c;
  for (let i = 0; i < needle.length; i++) {
    while (o === n!.end) {
      n = n!.next;
      if (n === null) return false;
      o = n.off;
    }
    if (n!.buf[o++] !== needle[i]) return false;
  }
  return true;
}

function maxEncodedLength(s: string, encoding: BufferEncoding): number {
  switch (encoding) {
    case 'utf8':
    case 'utf-8':
      return s.length <= 1024 ? s.length * 3 : Buffer.byteLength(s, 'utf8');
    case 'latin1':
    case 'binary':
    case 'ascii':
      return s.length;
    case 'ucs2':
    case 'ucs-2':
    case 'utf16le':
    case 'utf-16le':
      return s.length * 2;
    default:
      return Buffer.byteLength(s, encoding);
  }
}
