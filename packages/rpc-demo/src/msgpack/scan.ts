// Finds where one MessagePack value ends in a reader's bytes without decoding it: the framing of a
// 'stream' connection (concatenated MessagePack, as the MessagePack-RPC specification and Neovim
// use). The walk keeps its place between calls (the bytes scanned so far, what each open array and
// map still owes), so each read resumes where the last stopped: linear in the input however it is
// split. A declared length past `max` is refused as soon as its header has arrived, before the body.
// Along the way it applies the structural part of the validity rule (rule.ts): standard formats
// (0xc1 and extensions other than the timestamp refused as soon as their header is here), nesting
// depth and the count of arrays and maps; the decoder checks the content of each frame it returns.
import { MalformedMessageError, MessageTooLargeError } from '../errors.js';
import { BODY, EXT, HEADER, ITEMS, KIND, LENGTH, MAX_CONTAINERS, MAX_DEPTH, RESERVED, SCALAR, WHY, extRefusal } from './rule.js';

// Module-local copies for the walk: every use of an imported binding costs a load and a check.
const DEPTH = MAX_DEPTH;
const KINDS = KIND;
const HEADERS = HEADER;
const LENGTHS = LENGTH;

export class ValueScanner {
  /** Bytes of the current value scanned so far (its prefix in the reader). */
  #offset = 0;
  /** Values still owed at the innermost open level (the top level owes one). */
  #left = 1;
  /** What each enclosing array or map still owes, outermost first, in [0, #depth). */
  readonly #outer = new Float64Array(MAX_DEPTH);
  #depth = 0;
  /** Values owed at every level together: each takes at least one byte. */
  #owed = 1;
  /** Arrays and maps the current value may still open. */
  #containers: number;
  readonly #maxContainers: number;
  #views: Buffer[] = [];
  #vi = 0;
  #vstart = 0;

  /** `maxContainers`: the bound on arrays and maps in one value, as decode() takes it. */
  constructor(maxContainers = MAX_CONTAINERS) {
    this.#maxContainers = maxContainers;
    this.#containers = maxContainers;
  }

  /**
   * The length of the first complete value in `r` (nothing is consumed), or -1 while it is
   * incomplete. Throws MessageTooLargeError as soon as it cannot fit in `max` bytes, and
   * MalformedMessageError when it breaks the structural rule (then the partial scan is forgotten).
   */
  scan(r: { readonly length: number; views(): Buffer[] }, max: number): number {
    const total = r.length;
    // Nothing new to look at (with nothing owed, the last value's body may just have completed).
    if (total < this.#offset || (total === this.#offset && this.#owed > 0)) return -1;
    this.#views = r.views();
    this.#vi = 0;
    this.#vstart = 0;
    const outer = this.#outer;
    let depth = this.#depth;
    let off = this.#offset;
    let left = this.#left;
    let owed = this.#owed;
    let containers = this.#containers;
    try {
      for (;;) {
        if (left === 0) {
          if (depth === 0) break;
          left = outer[--depth]!;
          continue;
        }
        if (off >= total) break;
        const b = this.#byteAt(off);
        let h = 1;
        let body = 0;
        let items = -1; // not an array or map
        if (b < 0x80 || b >= 0xe0) {
          // fixint
        } else if (b < 0x90) {
          items = (b & 0x0f) * 2;
        } else if (b < 0xa0) {
          items = b & 0x0f;
        } else if (b < 0xc0) {
          body = b & 0x1f;
        } else {
          const i = b - 0xc0;
          const kind = KINDS[i]!;
          if (kind === RESERVED) throw new MalformedMessageError(WHY.reserved);
          h = HEADERS[i]!;
          if (b >= 0xd4 && b <= 0xd8) {
            // fixext: the type byte follows the format byte.
            if (off + 2 > total) break;
            const why = extRefusal(b, 1 << (b - 0xd4), this.#byteAt(off + 1));
            if (why !== null) throw new MalformedMessageError(why);
          } else if (kind !== SCALAR) {
            const lenBytes = LENGTHS[i]!;
            // The whole header: the length, and an ext's type byte.
            if (off + h > total) break;
            let n = 0;
            for (let k = 1; k <= lenBytes; k++) n = n * 256 + this.#byteAt(off + k);
            if (kind === BODY) {
              body = n;
            } else if (kind === EXT) {
              const why = extRefusal(b, n, this.#byteAt(off + h - 1));
              if (why !== null) throw new MalformedMessageError(why);
              body = n;
            } else {
              items = kind === ITEMS ? n : n * 2;
            }
          }
        }
        const next = off + h + body;
        if (next > max) throw new MessageTooLargeError(next, max);
        if (items >= 0) {
          if (depth >= DEPTH) throw new MalformedMessageError(WHY.depth);
          if (--containers < 0) throw new MalformedMessageError(WHY.containers);
          outer[depth++] = left - 1;
          left = items;
          owed += items - 1;
        } else {
          left--;
          owed--;
        }
        // Every value still owed takes at least one byte.
        if (owed > max - next) throw new MessageTooLargeError(next + owed, max);
        off = next;
      }
    } catch (e) {
      this.reset();
      throw e;
    } finally {
      this.#views = [];
    }
    if (owed > 0 || off > total) {
      this.#offset = off;
      this.#depth = depth;
      this.#left = left;
      this.#owed = owed;
      this.#containers = containers;
      return -1;
    }
    this.reset();
    return off;
  }

  /** Forgets a partial scan (the reader was emptied). */
  reset(): void {
    this.#offset = 0;
    this.#left = 1;
    this.#depth = 0;
    this.#owed = 1;
    this.#containers = this.#maxContainers;
  }

  /** The byte at logical offset `i` of the views; offsets only grow within one scan. */
  #byteAt(i: number): number {
    const views = this.#views;
    let v = views[this.#vi]!;
    while (i >= this.#vstart + v.length) {
      this.#vstart += v.length;
      v = views[++this.#vi]!;
    }
    return v[i - this.#vstart]!;
  }
}
