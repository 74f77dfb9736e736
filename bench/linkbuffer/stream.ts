// The input of the frame-parsing cases: one pre-built byte stream of 4-byte big-endian
// length-prefixed frames, cut into chunks of random size the way a socket delivers them.
// Built once, outside any timed function; every parser sees exactly these chunks.
import { Rng } from '../lib/rng.js';

export interface FrameStream {
  /** Payload bytes of every frame. */
  readonly payload: number;
  readonly frames: number;
  /** Stream bytes, headers included. */
  readonly bytes: number;
  /** Subarrays of one big Buffer, in order, covering it exactly. */
  readonly chunks: readonly Buffer[];
  /** What a FrameSink must hold after taking every frame (see FrameSink). */
  readonly expected: { readonly sum: number; readonly digest: number };
}

/** Smallest and largest chunk; sizes are log-uniform in between (mean about 7 KiB). */
export const MIN_CHUNK = 8;
export const MAX_CHUNK = 64 * 1024;

/**
 * Receives parsed frames. `sum` is the cheap touch done in timed runs (first byte and length of
 * every frame, so no parser can skip producing the frame); with `deep` it also hashes every byte,
 * which is how the parsers are checked against each other before timing.
 */
export class FrameSink {
  frames = 0;
  sum = 0;
  digest = 0;
  readonly deep: boolean;

  constructor(deep = false) {
    this.deep = deep;
  }

  reset(): void {
    this.frames = this.sum = this.digest = 0;
  }

  frame(f: Buffer): void {
    this.frames++;
    this.sum = (this.sum + f[0]! + f.length) | 0;
    if (this.deep) this.digest = digest(this.digest, f);
  }
}

/** FNV-1a over the bytes, chained across frames (and marking frame boundaries). */
function digest(h: number, f: Uint8Array): number {
  h = Math.imul(h ^ f.length, 0x01000193);
  for (let i = 0; i < f.length; i++) h = Math.imul(h ^ f[i]!, 0x01000193);
  return h >>> 0;
}

/** About `targetBytes` of frames with `payload`-byte bodies, chunked with a fixed seed. */
export function makeFrameStream(payload: number, targetBytes: number, seed: number): FrameStream {
  const rng = new Rng(seed);
  const frames = Math.max(1, Math.floor(targetBytes / (4 + payload)));
  const bytes = frames * (4 + payload);
  const all = Buffer.allocUnsafeSlow(bytes);
  rng.fill(all);
  const check = new FrameSink(true);
  for (let i = 0, off = 0; i < frames; i++, off += 4 + payload) {
    all.writeUInt32BE(payload, off);
    check.frame(all.subarray(off + 4, off + 4 + payload));
  }
  const chunks: Buffer[] = [];
  for (let off = 0; off < bytes; ) {
    const n = Math.min(rng.logUniform(MIN_CHUNK, MAX_CHUNK), bytes - off);
    chunks.push(all.subarray(off, off + n));
    off += n;
  }
  return { payload, frames, bytes, chunks, expected: { sum: check.sum, digest: check.digest } };
}
