// Frames that end with a delimiter: lines, CRLF protocols. Searches use the reader's native indexOf
// across nodes and resume where the last one stopped, so a long partial line is not scanned again
// with every read: linear in the input.
import { type Delimiter } from '@nocopy/linkbuffer';
import { FrameTooLargeError, InvalidOptionError } from '../errors.js';
import { checkBytes } from '../util/validate.js';
import { type FrameCodec, type FrameReader, type FrameWriter, dropTail } from './codec.js';

export interface DelimiterOptions {
  /** A byte, a string (UTF-8) or a byte sequence, e.g. '\r\n'. */
  delimiter: Delimiter;
  /** The largest frame without its delimiter, in bytes. Required. */
  maxFrameLength: number;
  /** Cut the delimiter from each frame returned. Default true. */
  strip?: boolean;
  /** Return frames as copies the caller owns instead of views. Default false. */
  copy?: boolean;
}

export function delimiter(options: DelimiterOptions): FrameCodec<Buffer> {
  const d = options.delimiter;
  const bytes = typeof d === 'number' ? Buffer.from([d]) : typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d);
  if (bytes.length === 0 || (typeof d === 'number' && (d & 0xff) !== d)) throw new InvalidOptionError('delimiter', d, 'a byte, or a non-empty string or byte sequence');
  const max = checkBytes('maxFrameLength', options.maxFrameLength, undefined);
  const strip = options.strip ?? true;
  const copy = options.copy ?? false;
  // One delimiter object for every search: until() resumes its scan for the same delimiter.
  const needle: Delimiter = typeof d === 'number' ? d : bytes;
  const m = bytes.length;
  return {
    decode(r: FrameReader): Buffer | undefined {
      const found = r.until(needle);
      if (found === null) {
        // No delimiter yet: everything buffered belongs to one frame.
        if (r.length - m + 1 > max) throw new FrameTooLargeError(r.length, max);
        return undefined;
      }
      if (found.length - m > max) throw new FrameTooLargeError(found.length - m, max);
      const frame = strip ? dropTail(found, m) : found;
      return copy ? Buffer.from(frame) : frame;
    },
    encode(frame: Uint8Array, w: FrameWriter): void {
      if (frame.length > max) throw new FrameTooLargeError(frame.length, max);
      w.writeBinary(frame);
      w.writeBinary(bytes);
    },
  };
}
