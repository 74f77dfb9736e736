// The 'stream' framing as a framing codec: each frame is one whole MessagePack value, found by the
// resumable ValueScanner. It keeps per-connection state: one codec per connection.
import type { FrameCodec, FrameReader, FrameWriter } from '@nocopy/transport';
import { MessageTooLargeError } from '../errors.js';
import { containersFor } from './rule.js';
import { ValueScanner } from './scan.js';

/** `maxContainers`: the bound on arrays and maps per value, by default the RPC's for frames of this size. */
export function valueFrames(maxFrameLength: number, maxContainers = containersFor(maxFrameLength)): FrameCodec<Buffer> {
  const scanner = new ValueScanner(maxContainers);
  return {
    decode(r: FrameReader): Buffer | undefined {
      const n = scanner.scan(r, maxFrameLength);
      return n < 0 ? undefined : r.next(n);
    },
    encode(frame: Uint8Array, w: FrameWriter): void {
      if (frame.length > maxFrameLength) throw new MessageTooLargeError(frame.length, maxFrameLength);
      w.writeBinary(frame);
    },
  };
}
