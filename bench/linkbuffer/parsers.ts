// Three parsers of a stream of 4-byte big-endian length-prefixed frames, each fed the chunks one
// at a time as a socket 'data' handler would be, each handing every complete frame to the sink.
import { LinkBuffer } from '@nocopy/linkbuffer';
import { BufferList } from 'bl';
import type { FrameSink } from './stream.js';

export type Parser = (chunks: readonly Buffer[], sink: FrameSink) => void;

const EMPTY: Buffer = Buffer.alloc(0);

/** LinkBuffer: link each chunk (no copy); frames inside a chunk are views, frames across chunks one copy. */
export const parseLinkBuffer: Parser = (chunks, sink) => {
  const lb = new LinkBuffer();
  for (let i = 0; i < chunks.length; i++) {
    lb.link(chunks[i]!);
    while (lb.length >= 4) {
      const len = lb.peekUint32BE();
      if (lb.length - 4 < len) break;
      lb.skip(4);
      sink.frame(lb.next(len));
    }
    // The frames of this batch have been handled: their memory may go.
    lb.release();
  }
  if (lb.length !== 0) throw new Error('LinkBuffer parser: trailing bytes');
  lb.close();
};

/** bl's BufferList: append each chunk, read the header with readUInt32BE(0), slice the body, consume. */
export const parseBl: Parser = (chunks, sink) => {
  const bl = new BufferList();
  for (let i = 0; i < chunks.length; i++) {
    bl.append(chunks[i]!);
    while (bl.length >= 4) {
      const len = bl.readUInt32BE(0);
      if (bl.length - 4 < len) break;
      sink.frame(bl.slice(4, 4 + len));
      bl.consume(4 + len);
    }
  }
  if (bl.length !== 0) throw new Error('bl parser: trailing bytes');
};

/** The naive accumulator: Buffer.concat each chunk onto the leftover, subarray the frames out. */
export const parseConcat: Parser = (chunks, sink) => {
  let acc: Buffer = EMPTY;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
    let off = 0;
    while (acc.length - off >= 4) {
      const len = acc.readUInt32BE(off);
      if (acc.length - off - 4 < len) break;
      sink.frame(acc.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    acc = off === acc.length ? EMPTY : off === 0 ? acc : acc.subarray(off);
  }
  if (acc.length !== 0) throw new Error('concat parser: trailing bytes');
};

export const parsers: ReadonlyArray<{ readonly name: string; readonly parse: Parser }> = [
  { name: 'LinkBuffer', parse: parseLinkBuffer },
  { name: 'bl', parse: parseBl },
  { name: 'Buffer.concat', parse: parseConcat },
];
