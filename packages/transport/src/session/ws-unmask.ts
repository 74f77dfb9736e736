// Client-to-server WebSocket frames unmasked ahead of `ws`, a 32-bit word at a time. Without the
// optional native `bufferutil`, ws unmasks in a JavaScript loop a byte at a time: 40-45 µs of a 16 KiB
// message on this machine, most of the server's CPU per message; four bytes at a time take 3-4 µs.
// ws skips unmasking a frame whose mask key is all zeros (receiver.js; with any other ws, XOR with
// zero keeps the bytes as they are), so this filter follows the frame headers in the socket's byte
// stream as each read comes in, unmasks each payload in place and sets the mask key to zeros: ws
// then reads the same frames, already unmasked. It changes no other byte and checks nothing:
// validation (opcodes, lengths, RSV bits, UTF-8) stays ws's. Header bytes that straddle two reads
// are changed where they lie: ws reads a mask key only once all four bytes are there, that is,
// after this filter has seen the read that completes it.
import type { Socket } from 'node:net';

/** @internal The unmasking state of one socket (exported for its tests). */
export class Unmasker {
  /** Payload bytes of the current frame still to come (0: a header comes next). */
  #left = 0;
  /** The current frame's mask key, and whether it has one that is not all zeros. */
  readonly #mask = new Uint8Array(4);
  #masked = false;
  /** Offset of the next payload byte in the frame, modulo 4. */
  #phase = 0;
  /** A header split between reads: its bytes so far and where each lies (to zero a split key in place). */
  readonly #hdr = new Uint8Array(14);
  readonly #bufs: Uint8Array[] = [];
  readonly #ats: number[] = [];
  #have = 0;

  /** Processes one read, in place. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.#left > 0) {
        const take = Math.min(this.#left, n - pos);
        if (this.#masked) this.#phase = unmask(chunk, pos, take, this.#mask, this.#phase);
        this.#left -= take;
        pos += take;
        continue;
      }
      // The usual case: the whole header in this read.
      if (this.#have === 0 && n - pos >= 2) {
        const hlen = headerLength(chunk[pos + 1]!);
        if (n - pos >= hlen) {
          this.#frame(chunk, pos, hlen, null);
          pos += hlen;
          continue;
        }
      }
      // A header split between reads: byte by byte until all of it is there.
      this.#hdr[this.#have] = chunk[pos]!;
      this.#bufs[this.#have] = chunk;
      this.#ats[this.#have] = pos;
      this.#have++;
      pos++;
      if (this.#have >= 2 && this.#have === headerLength(this.#hdr[1]!)) {
        this.#frame(this.#hdr, 0, this.#have, this.#bufs);
        this.#have = 0;
        this.#bufs.length = 0;
      }
    }
  }

  /** A frame header at `h[at..at+hlen)`; `split`: the reads its bytes lie in (a header split between reads). */
  #frame(h: Uint8Array, at: number, hlen: number, split: Uint8Array[] | null): void {
    const b1 = h[at + 1]!;
    const len7 = b1 & 0x7f;
    let len = len7;
    if (len7 === 126) len = (h[at + 2]! << 8) | h[at + 3]!;
    else if (len7 === 127) {
      const hi = h[at + 2]! * 2 ** 24 + ((h[at + 3]! << 16) | (h[at + 4]! << 8) | h[at + 5]!);
      const lo = h[at + 6]! * 2 ** 24 + ((h[at + 7]! << 16) | (h[at + 8]! << 8) | h[at + 9]!);
      len = hi * 2 ** 32 + lo; // above 2^53 ws refuses the frame (1009); the filter just goes on
    }
    this.#masked = false;
    if ((b1 & 0x80) !== 0) {
      const k = at + hlen - 4;
      const mask = this.#mask;
      for (let i = 0; i < 4; i++) {
        mask[i] = h[k + i]!;
        // The key, zeroed where ws will read it.
        if (split === null) h[k + i] = 0;
        else split[k + i]![this.#ats[k + i]!] = 0;
      }
      this.#masked = (mask[0]! | mask[1]! | mask[2]! | mask[3]!) !== 0;
    }
    this.#phase = 0;
    this.#left = len;
  }
}

/** A header's whole length from its second byte: 2, the extended length, the mask key. */
function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}

// The four mask bytes in the order a 32-bit word of the platform's byte order lays them out.
const wordBytes = new Uint8Array(4);
const word = new Int32Array(wordBytes.buffer);
/** Payloads shorter than this are unmasked a byte at a time (a typed-array view costs more). */
const WORDS_FROM = 64;

/** XORs `n` bytes of `b` from `at` with `mask`, starting at mask byte `phase`; returns the next phase. */
export function unmask(b: Uint8Array, at: number, n: number, mask: Uint8Array, phase: number): number {
  let i = at;
  const end = at + n;
  let p = phase;
  if (n >= WORDS_FROM) {
    // Bytes up to a 4-byte boundary of the underlying memory, then whole words, then the rest.
    while (((b.byteOffset + i) & 3) !== 0) {
      b[i++] ^= mask[p]!;
      p = (p + 1) & 3;
    }
    const words = (end - i) >>> 2;
    wordBytes[0] = mask[p]!;
    wordBytes[1] = mask[(p + 1) & 3]!;
    wordBytes[2] = mask[(p + 2) & 3]!;
    wordBytes[3] = mask[(p + 3) & 3]!;
    const m = word[0]!;
    const w = new Int32Array(b.buffer, b.byteOffset + i, words);
    // Unrolled: 2-3x the speed of the plain loop here (V8 does not unroll it).
    let k = 0;
    for (; k + 8 <= words; k += 8) {
      w[k] ^= m;
      w[k + 1] ^= m;
      w[k + 2] ^= m;
      w[k + 3] ^= m;
      w[k + 4] ^= m;
      w[k + 5] ^= m;
      w[k + 6] ^= m;
      w[k + 7] ^= m;
    }
    for (; k < words; k++) w[k] ^= m;
    i += words << 2;
  }
  for (; i < end; i++) {
    b[i] ^= mask[p]!;
    p = (p + 1) & 3;
  }
  return p;
}

/**
 * Unmasks the client frames of `socket` before `ws` reads them: call in the server's 'upgrade'
 * handler, before handleUpgrade, with the bytes the upgrade request carried (`head`, which ws puts
 * back in front of the socket's input). Every later read goes through here as the socket takes it
 * in (its push()), before a 'data' listener or a read() can see it, flowing or paused.
 */
export function unmaskAheadOfWs(socket: Socket, head: Buffer): void {
  const u = new Unmasker();
  if (head.length > 0) u.push(head);
  const s = socket as Socket & { push(chunk: unknown, encoding?: BufferEncoding): boolean };
  const push = s.push;
  s.push = function (this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk instanceof Uint8Array) u.push(chunk);
    return push.call(this, chunk, encoding);
  };
}
