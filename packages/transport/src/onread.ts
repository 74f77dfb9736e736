// The onread input path for dialed sockets: libuv reads straight into the free tail of the reader's
// pooled nodes instead of a fresh 64 KiB allocation per read. Node calls `buffer` at socket creation
// and after every read; each call malloc's one region, which the following `callback` acknowledges.
// Accepted server sockets cannot take `onread` in Node 20 (see research/node.md 1.1).
import type { OnReadOpts } from 'node:net';
import { ConnectionReader } from './reader.js';
import { kConnection, kOnRead } from './symbols.js';

const MIN_READ = 8 * 1024;
const MAX_READ = 64 * 1024;
// Where a read lands if it races with close: never handed to anyone.
const discard = Buffer.allocUnsafeSlow(MIN_READ);

export function onreadFor(reader: ConnectionReader): OnReadOpts {
  // Read size adapts as in netpoll, but it also shrinks: a burst must not pin large nodes forever.
  let readSize = MIN_READ;
  let region = 0;
  return {
    buffer(): Uint8Array {
      if (reader.closed) return discard;
      // Use the tail's free space only if it is a worthwhile read; else start a new node.
      const cap = reader.mallocCapacity;
      region = cap >= readSize >> 1 ? cap : readSize;
      return reader.malloc(region);
    },
    callback(n: number): boolean {
      if (n === region && readSize < MAX_READ) readSize *= 2;
      else if (n < readSize >> 3 && readSize > MIN_READ) readSize >>= 1;
      reader[kConnection][kOnRead](n);
      return true;
    },
  };
}
