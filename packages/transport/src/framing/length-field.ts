// Frames behind a length field, the shape of Netty's LengthFieldBasedFrameDecoder, which covers most
// binary protocols: `offset` bytes, then the length in `width` bytes, then the body. The body is the
// length plus `adjustment` bytes long (a negative adjustment for lengths that count the header).
import { FrameTooLargeError, InvalidOptionError, MalformedFrameError } from '../errors.js';
import { checkBytes, checkEnum, checkSafeInteger } from '../util/validate.js';
import type { FrameCodec, FrameReader, FrameWriter } from './codec.js';

export interface LengthFieldOptions {
  /** Bytes of the length field: 1, 2, 3, 4 or 8. Default 4. */
  width?: 1 | 2 | 3 | 4 | 8;
  /** Default 'big'. */
  endian?: 'big' | 'little';
  /** Bytes before the length field (other header fields). Default 0. */
  offset?: number;
  /** Added to the length field's value to get the bytes after the length field. Default 0. */
  adjustment?: number;
  /** Bytes cut from the start of each frame returned. Default: the header (offset + width). */
  strip?: number;
  /** The largest frame decode() returns (after strip), in bytes. Required. */
  maxFrameLength: number;
  /** Return frames as copies the caller owns (readBinary) instead of views. Default false. */
  copy?: boolean;
}

/** A length-field codec; frameSize() tells how many bytes the next frame takes before it has arrived. */
export interface LengthFieldCodec extends FrameCodec<Buffer> {
  /** Bytes of the next frame, header included, once its header is readable (else undefined); throws like decode(). */
  frameSize(reader: FrameReader): number | undefined;
}

export function lengthField(options: LengthFieldOptions): LengthFieldCodec {
  const width = checkEnum('width', options.width, [1, 2, 3, 4, 8] as const, 4);
  const endian = checkEnum('endian', options.endian, ['big', 'little'] as const, 'big');
  const offset = checkSafeInteger('offset', options.offset, 0, 0);
  const adjustment = checkSafeInteger('adjustment', options.adjustment, 0);
  const header = offset + width;
  const strip = checkSafeInteger('strip', options.strip, header, 0);
  const max = checkBytes('maxFrameLength', options.maxFrameLength, undefined);
  const copy = options.copy ?? false;
  const big = endian === 'big';
  const read = lengthReader(width, big);

  const frameSize = (r: FrameReader): number | undefined => {
    if (r.length < header) return undefined;
    const body = read(r, offset) + adjustment;
    if (body < 0) throw new MalformedFrameError(`length ${body - adjustment} with adjustment ${adjustment} is below zero`);
    const total = header + body;
    const size = total - strip;
    // Refused on the header alone: an oversized frame is never buffered.
    if (size > max) throw new FrameTooLargeError(size, max);
    if (size < 0) throw new MalformedFrameError(`a frame of ${total} bytes is shorter than the ${strip} bytes to strip`);
    return total;
  };
  return {
    frameSize,
    decode(r: FrameReader): Buffer | undefined {
      const total = frameSize(r);
      if (total === undefined || r.length < total) return undefined;
      if (strip > 0) r.skip(strip);
      return copy ? r.readBinary(total - strip) : r.next(total - strip);
    },
    encode(frame: Uint8Array, w: FrameWriter): void {
      if (offset !== 0 || strip !== header) throw new InvalidOptionError('lengthField', 'offset or strip', 'offset 0 and the default strip to encode');
      const n = frame.length;
      if (n > max) throw new FrameTooLargeError(n, max);
      writeLength(w, width, big, n - adjustment);
      w.writeBinary(frame);
    },
  };
}

type LengthRead = (r: FrameReader, at: number) => number;

function lengthReader(width: number, big: boolean): LengthRead {
  switch (width) {
    case 1:
      return (r, at) => r.peekUint8(at);
    case 2:
      return big ? (r, at) => r.peekUint16BE(at) : (r, at) => r.peekUint16LE(at);
    case 3:
      return big
        ? (r, at) => (r.peekUint16BE(at) << 8) | r.peekUint8(at + 2)
        : (r, at) => r.peekUint16LE(at) | (r.peekUint8(at + 2) << 16);
    case 4:
      return big ? (r, at) => r.peekUint32BE(at) : (r, at) => r.peekUint32LE(at);
    default:
      // 64 bits: beyond 2^53 is larger than any frame can be.
      return big
        ? (r, at) => r.peekUint32BE(at) * 0x100000000 + r.peekUint32BE(at + 4)
        : (r, at) => r.peekUint32LE(at + 4) * 0x100000000 + r.peekUint32LE(at);
  }
}

function writeLength(w: FrameWriter, width: number, big: boolean, n: number): void {
  if (n < 0 || n >= 2 ** (8 * Math.min(width, 6))) throw new FrameTooLargeError(n, 2 ** (8 * Math.min(width, 6)) - 1);
  switch (width) {
    case 1:
      return w.writeUint8(n);
    case 2:
      return big ? w.writeUint16BE(n) : w.writeUint16LE(n);
    case 3:
      if (big) {
        w.writeUint16BE(n >>> 8);
        w.writeUint8(n & 0xff);
      } else {
        w.writeUint16LE(n & 0xffff);
        w.writeUint8(n >>> 16);
      }
      return;
    case 4:
      return big ? w.writeUint32BE(n) : w.writeUint32LE(n);
    default:
      return big ? w.writeBigUint64BE(BigInt(n)) : w.writeBigUint64LE(BigInt(n));
  }
}
