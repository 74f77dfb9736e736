// The example server's key space: a hash table keyed by byte strings and looked up straight from
// the bytes of a request (a buffer, an offset, a length), so a GET or SET makes no string and no
// view per key. Open addressing with linear probing over a power-of-two slot array; deletion
// shifts the run back (no tombstones); entries are dense (a deleted one takes the last's place).
// The hash is FNV-1a with a random seed per process, so that clients cannot choose colliding keys.
import { randomBytes } from 'node:crypto';

const SEED = randomBytes(4).readInt32LE(0);

function hashOf(b: Uint8Array, off: number, len: number): number {
  let h = SEED ^ 0x811c9dc5;
  for (let i = off, end = off + len; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  // Never 0, so that the slot array's 0 stays "empty" and a hash is a valid entry tag.
  return h | 1;
}

export class KeyTable<V> {
  /** Entry index + 1 per slot; 0 is empty. */
  #slots = new Int32Array(64);
  #mask = 63;
  #hashes = new Int32Array(32);
  readonly #keys: Buffer[] = [];
  readonly #values: V[] = [];

  get size(): number {
    return this.#keys.length;
  }

  /** The entry of the key at b[off, off + len), or -1. */
  find(b: Uint8Array, off: number, len: number): number {
    const h = hashOf(b, off, len);
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = slots[i]!;
      if (s === 0) return -1;
      const e = s - 1;
      if (this.#hashes[e] === h && equal(this.#keys[e]!, b, off, len)) return e;
    }
  }

  value(e: number): V {
    return this.#values[e]!;
  }

  setValue(e: number, v: V): void {
    this.#values[e] = v;
  }

  /** Adds the key at b[off, off + len) (copied), which must not be in the table yet; its entry. */
  insert(b: Uint8Array, off: number, len: number, v: V): number {
    const e = this.#keys.length;
    if ((e + 1) * 2 > this.#slots.length) this.#grow();
    if (e >= this.#hashes.length) {
      const h = new Int32Array(this.#hashes.length * 2);
      h.set(this.#hashes);
      this.#hashes = h;
    }
    const h = hashOf(b, off, len);
    this.#keys.push(Buffer.from(b.subarray(off, off + len)));
    this.#values.push(v);
    this.#hashes[e] = h;
    this.#place(h, e);
    return e;
  }

  /** Removes entry e; the last entry takes its index. */
  delete(e: number): void {
    const mask = this.#mask;
    const slots = this.#slots;
    let i = this.#slotOf(e);
    // Backward shift: every entry after the hole in its probe run that may move into it does.
    for (let j = (i + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = this.#hashes[slots[j]! - 1]! & mask;
      // j's entry stays when its home lies cyclically in (i, j].
      if (i <= j ? home > i && home <= j : home > i || home <= j) continue;
      slots[i] = slots[j]!;
      i = j;
    }
    slots[i] = 0;
    const last = this.#keys.length - 1;
    if (e !== last) {
      slots[this.#slotOf(last)] = e + 1;
      this.#keys[e] = this.#keys[last]!;
      this.#values[e] = this.#values[last]!;
      this.#hashes[e] = this.#hashes[last]!;
    }
    this.#keys.pop();
    this.#values.pop();
  }

  #slotOf(e: number): number {
    const mask = this.#mask;
    for (let i = this.#hashes[e]! & mask; ; i = (i + 1) & mask) if (this.#slots[i] === e + 1) return i;
  }

  #place(h: number, e: number): void {
    const mask = this.#mask;
    let i = h & mask;
    while (this.#slots[i] !== 0) i = (i + 1) & mask;
    this.#slots[i] = e + 1;
  }

  #grow(): void {
    this.#slots = new Int32Array(this.#slots.length * 2);
    this.#mask = this.#slots.length - 1;
    for (let e = 0; e < this.#keys.length; e++) this.#place(this.#hashes[e]!, e);
  }
}

function equal(key: Buffer, b: Uint8Array, off: number, len: number): boolean {
  if (key.length !== len) return false;
  for (let i = 0; i < len; i++) if (key[i] !== b[off + i]) return false;
  return true;
}
