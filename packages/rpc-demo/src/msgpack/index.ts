// The strict MessagePack codec of @nocopy/rpc-demo (rule.ts says what a valid message is; decode.ts and encode.ts what each side takes).
import { LinkBuffer } from '@nocopy/linkbuffer';
import { encodeInto } from './encode.js';

export { decode } from './decode.js';
export { MAX_DEPTH, MAX_CONTAINERS, containersFor } from './rule.js';
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
