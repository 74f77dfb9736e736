// The strict MessagePack codec of @nocopy/rpc-demo (see decode.ts and encode.ts for what each side accepts).
import { LinkBuffer } from '@nocopy/linkbuffer';
import { encodeInto } from './encode.js';

export { decode, MAX_DEPTH, MAX_CONTAINERS } from './decode.js';
export { encodeInto, type EncodeTarget } from './encode.js';
export { ValueScanner } from './scan.js';
export { valueFrames } from './frames.js';

/** Encodes `value` into a new Buffer (a convenience for cold paths; the RPC writes into its output buffers). */
export function encode(value: unknown, max = 0xffffffff): Buffer {
  const lb = new LinkBuffer();
  try {
    encodeInto(lb, value, max, false);
    lb.flush();
    return lb.readBinary(lb.length);
  } finally {
    lb.close();
  }
}
