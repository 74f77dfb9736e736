// A node of a LinkBuffer: a window on one memory region. Offsets are absolute within `buf`:
// [off, end) is readable, [end, malloc) is written but not yet flushed, [malloc, buf.length)
// is free capacity (usable only when `writable`).
import type { Block } from './block-pool.js';

export const EMPTY: Buffer = Buffer.alloc(0);

export class LinkNode {
  buf: Buffer = EMPTY;
  /** The pooled block behind `buf`, or null for memory we only reference (socket chunks, user buffers). */
  block: Block | null = null;
  off = 0;
  end = 0;
  malloc = 0;
  /** Free capacity may be malloc'd: false for referenced memory and for nodes that share a block. */
  writable = false;
  next: LinkNode | null = null;
  /** `buf.buffer` and `buf.byteOffset`, cached by view(): reading `buffer` costs ~20 ns on Node 20. */
  ab: ArrayBuffer | null = null;
  base = 0;
}

// Node's own Buffer class (FastBuffer): constructing it over a cached ArrayBuffer is about twice as
// fast as Buffer#subarray, which reads the `buffer` getter on every call (as ws does, buffer-util.js).
const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (ab: ArrayBuffer, off: number, len: number) => Buffer })[Symbol.species];

/** A Buffer view of node.buf[off, off + n), without copying. */
export function view(node: LinkNode, off: number, n: number): Buffer {
  // All of a referenced (linked) Buffer: itself, no new object (a datagram or WebSocket message read whole).
  if (off === 0 && node.block === null && n === node.buf.length) return node.buf;
  let ab = node.ab;
  if (ab === null) {
    ab = node.ab = node.buf.buffer as ArrayBuffer;
    node.base = node.buf.byteOffset;
  }
  return new FastBuffer(ab, node.base + off, n);
}

// Node objects are recycled: a busy connection links and drops one per socket chunk.
const spare: LinkNode[] = [];
const MAX_SPARE = 4096;

export function takeNode(): LinkNode {
  return spare.pop() ?? new LinkNode();
}

/** Drops the node's reference to its block and recycles the node object. */
export function dropNode(node: LinkNode): void {
  if (node.block !== null) {
    node.block.pool.release(node.block);
    node.block = null;
  }
  node.buf = EMPTY;
  node.ab = null;
  node.base = 0;
  node.off = node.end = node.malloc = 0;
  node.writable = false;
  node.next = null;
  if (spare.length < MAX_SPARE) spare.push(node);
}

/** A Buffer view of any Uint8Array, without copying. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
