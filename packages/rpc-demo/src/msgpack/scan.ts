// Finds where one MessagePack value ends in a reader's bytes without decoding it: the framing of a
// 'stream' connection (concatenated MessagePack, as the MessagePack-RPC specification and Neovim
// use). The walk keeps two numbers between calls, the bytes scanned so far and the values still
// owed, so each read resumes where the last stopped: linear in the input however it is split. A
// declared length past `max` is refused as soon as its header has arrived, before the body.
import { MalformedMessageError, MessageTooLargeError } from '../errors.js';

// Formats 0xc0-0xdf: the header's size in bytes, and how the bytes after the format byte count.
const NONE = 0; // the header is the whole value
const BODY = 1; // str, bin, ext: a body of the declared length (ext: plus its type byte, in the header)
const ITEMS = 2; // array: the declared number of values follows
const PAIRS = 3; // map: twice the declared number
//                    c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 ca cb cc cd ce cf d0 d1 d2 d3 d4 d5 d6 d7 d8  d9 da db dc dd de df
const HEADER = [1, 0, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, 3, 4, 6, 10, 18, 2, 3, 5, 3, 5, 3, 5];
const LENGTH = [0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4];
const KIND = [NONE, NONE, NONE, NONE, BODY, BODY, BODY, BODY, BODY, BODY, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, BODY, BODY, BODY, ITEMS, ITEMS, PAIRS, PAIRS];

export class ValueScanner {
  /** Bytes of the current value scanned so far (its prefix in the reader). */
  #offset = 0;
  /** Values still owed before the current one is complete. */
  #pending = 1;
  #views: Buffer[] = [];
  #vi = 0;
  #vstart = 0;

  /**
   * The length of the first complete value in `r` (nothing is consumed), or -1 while it is
   * incomplete. Throws MessageTooLargeError as soon as it cannot fit in `max` bytes, and
   * MalformedMessageError for the reserved byte 0xc1.
   */
  scan(r: { readonly length: number; views(): Buffer[] }, max: number): number {
    const total = r.length;
    // Nothing new to look at (with nothing owed, the last value's body may just have completed).
    if (total < this.#offset || (total === this.#offset && this.#pending > 0)) return -1;
    this.#views = r.views();
    this.#vi = 0;
    this.#vstart = 0;
    let off = this.#offset;
    let pending = this.#pending;
    try {
      while (pending > 0 && off < total) {
        const b = this.#byteAt(off);
        let h = 1;
        let body = 0;
        let items = 0;
        if (b < 0x80 || b >= 0xe0) {
          // fixint
        } else if (b < 0x90) {
          items = (b & 0x0f) * 2;
        } else if (b < 0xa0) {
          items = b & 0x0f;
        } else if (b < 0xc0) {
          body = b & 0x1f;
        } else {
          if (b === 0xc1) throw new MalformedMessageError('the reserved byte 0xc1');
          const i = b - 0xc0;
          h = HEADER[i]!;
          const kind = KIND[i]!;
          if (kind !== NONE) {
            const lenBytes = LENGTH[i]!;
            if (off + 1 + lenBytes > total) break;
            let n = 0;
            for (let k = 1; k <= lenBytes; k++) n = n * 256 + this.#byteAt(off + k);
            if (kind === BODY) body = n;
            else items = kind === ITEMS ? n : n * 2;
          }
        }
        const next = off + h + body;
        if (next > max) throw new MessageTooLargeError(next, max);
        pending += items - 1;
        // Every value still owed takes at least one byte.
        if (pending > max - next) throw new MessageTooLargeError(next + pending, max);
        off = next;
      }
    } finally {
      this.#views = [];
    }
    if (pending > 0 || off > total) {
      this.#offset = off;
      this.#pending = pending;
      return -1;
    }
    this.#offset = 0;
    this.#pending = 1;
    return off;
  }

  /** Forgets a partial scan (the reader was emptied). */
  reset(): void {
    this.#offset = 0;
    this.#pending = 1;
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
