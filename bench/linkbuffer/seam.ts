// Section 2, reads across a seam between two chunks. Each buffer is built once; the timed
// function only reads or searches, never consumes, so it does no building at all. One call does
// `reps` reads, because a single one is too short to time alone.
import { LinkBuffer } from '@nocopy/linkbuffer';
import { BufferList } from 'bl';
import type { Case } from '../lib/suite.js';
import { Rng } from '../lib/rng.js';

export const U32_GROUP = 'u32 BE across seam';
export const CRLF_GROUP = 'CRLF across seam';

const U32_REPS = 1000;
const CRLF_REPS = 200;
const CHUNK = 1024;
const CRLF_CHUNKS = 16;
/** Chunk index holding the '\r' as its last byte; the next chunk starts with '\n'. */
const CRLF_AT = 11;
const CRLF = Buffer.from('\r\n');

function chunksOf(all: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < all.length; off += size) out.push(all.subarray(off, off + size));
  return out;
}

function both(chunks: readonly Buffer[]): { lb: LinkBuffer; bl: BufferList } {
  const lb = new LinkBuffer();
  const bl = new BufferList();
  for (const c of chunks) {
    lb.link(c);
    bl.append(c);
  }
  return { lb, bl };
}

function check(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: got ${got}, expected ${want}`);
}

/** A u32 at offset 1022 of two 1 KiB chunks: 2 bytes in each. */
function u32Cases(): Case[] {
  const rng = new Rng(0xc0ffee);
  const all = Buffer.allocUnsafeSlow(2 * CHUNK);
  rng.fill(all);
  const at = CHUNK - 2;
  const want = all.readUInt32BE(at);
  const { lb, bl } = both(chunksOf(all, CHUNK));
  check('LinkBuffer peekUint32BE', lb.peekUint32BE(at), want);
  check('bl readUInt32BE', bl.readUInt32BE(at), want);
  const base = { group: U32_GROUP, units: U32_REPS, unit: 'read' };
  return [
    {
      ...base,
      name: 'LinkBuffer',
      fn: () => {
        let s = 0;
        for (let i = 0; i < U32_REPS; i++) s = (s + lb.peekUint32BE(at)) | 0;
        return s;
      },
    },
    {
      ...base,
      name: 'bl',
      fn: () => {
        let s = 0;
        for (let i = 0; i < U32_REPS; i++) s = (s + bl.readUInt32BE(at)) | 0;
        return s;
      },
    },
    {
      ...base,
      name: 'Buffer (contiguous, reference)',
      fn: () => {
        let s = 0;
        for (let i = 0; i < U32_REPS; i++) s = (s + all.readUInt32BE(at)) | 0;
        return s;
      },
    },
  ];
}

/** '\r\n' split over chunks 11 and 12 of 16 × 1 KiB of printable bytes without CR or LF. */
function crlfCases(): Case[] {
  const rng = new Rng(0xc21f);
  const all = Buffer.allocUnsafeSlow(CRLF_CHUNKS * CHUNK);
  for (let i = 0; i < all.length; i++) all[i] = rng.int(0x20, 0x7e);
  const want = (CRLF_AT + 1) * CHUNK - 1;
  all[want] = 0x0d;
  all[want + 1] = 0x0a;
  const { lb, bl } = both(chunksOf(all, CHUNK));
  check('LinkBuffer indexOf', lb.indexOf(CRLF), want);
  check('bl indexOf', bl.indexOf(CRLF), want);
  check('Buffer indexOf', all.indexOf(CRLF), want);
  const base = { group: CRLF_GROUP, units: CRLF_REPS, unit: 'search', bytes: CRLF_REPS * (want + 2) };
  return [
    {
      ...base,
      name: 'LinkBuffer',
      fn: () => {
        let s = 0;
        for (let i = 0; i < CRLF_REPS; i++) s += lb.indexOf(CRLF);
        return s;
      },
    },
    {
      ...base,
      name: 'bl',
      fn: () => {
        let s = 0;
        for (let i = 0; i < CRLF_REPS; i++) s += bl.indexOf(CRLF);
        return s;
      },
    },
    {
      ...base,
      name: 'Buffer (contiguous, reference)',
      fn: () => {
        let s = 0;
        for (let i = 0; i < CRLF_REPS; i++) s += all.indexOf(CRLF);
        return s;
      },
    },
  ];
}

export function seamCases(): Case[] {
  return [...u32Cases(), ...crlfCases()];
}
