// The onread input path: libuv reads straight into the free tail of the reader's pooled nodes
// instead of a fresh 64 KiB allocation per read. Node calls `buffer` at socket creation and after
// every read; each call malloc's one region, which the following `callback` acknowledges.
import type { OnReadOpts } from 'node:net';
import type { LinkBuffer } from '@nocopy/linkbuffer';
import { kOnRead } from './symbols.js';

const kOnReadKey: typeof kOnRead = kOnRead;

const MIN_READ = 8 * 1024;
const MAX_READ = 64 * 1024;
// Where a read lands if it races with close: never handed to anyone.
const discard = Buffer.allocUnsafeSlow(MIN_READ);

/** The connection the reads are for, once it exists (the socket is made first). */
export interface ReadTarget {
  current: { [kOnRead](n: number): void } | null;
}

export function onreadFor(input: LinkBuffer, target: ReadTarget): OnReadOpts {
  // Read size adapts as in netpoll, but it also shrinks: a burst must not pin large nodes forever.
  let readSize = MIN_READ;
  let region = 0;
  return {
    buffer(): Uint8Array {
      if (input.closed) return discard;
      // Use the tail's free space only if it is a worthwhile read; else start a new node.
      const cap = input.mallocCapacity;
      region = cap >= readSize >> 1 ? cap : readSize;
      return input.malloc(region);
    },
    callback(n: number): boolean {
      if (n === region && readSize < MAX_READ) readSize *= 2;
      else if (n < readSize >> 3 && readSize > MIN_READ) readSize >>= 1;
      const conn = target.current;
      if (conn !== null) {
        conn[kOnReadKey](n);
      } else {
        // Before the connection exists: keep the bytes; it finds them when it starts.
        input.mallocAck(n);
        input.flush();
      }
      return true;
    },
  };
}
