// The framing contract: a codec turns a reader's bytes into frames and frames into bytes.
import type { Reader } from '../connection/reader.js';
import type { Writer } from '../connection/writer.js';

/** What a codec reads from: a connection's reader, or any LinkBuffer. */
export type FrameReader = Pick<Reader, 'length' | 'next' | 'peek' | 'skip' | 'readBinary' | 'readString' | 'until' | 'indexOf' | 'peekUint8' | 'peekUint16BE' | 'peekUint16LE' | 'peekUint32BE' | 'peekUint32LE' | 'views'>;

/** What a codec writes to: a connection's writer, or any LinkBuffer. */
export type FrameWriter = Pick<Writer, 'writeBinary' | 'writeString' | 'writeUint8' | 'writeUint16BE' | 'writeUint16LE' | 'writeUint32BE' | 'writeUint32LE' | 'writeBigUint64BE' | 'writeBigUint64LE'>;

export interface FrameCodec<F = Buffer> {
  /**
   * Consumes and returns the next whole frame, or returns undefined (consuming nothing) while it is
   * incomplete. A frame that cannot fit maxFrameLength throws FrameTooLargeError as soon as its
   * header is readable, before the body arrives; an impossible header throws MalformedFrameError.
   * Frames are views valid until the reader's release() (after the onRequest call), unless the
   * codec was made with `copy: true`.
   */
  decode(reader: FrameReader): F | undefined;
  /** Writes `frame` with its framing at the tail of `writer` (not sent). */
  encode(frame: Uint8Array, writer: FrameWriter): void;
}

/** A view of `b` without its last `n` bytes. */
export function dropTail(b: Buffer, n: number): Buffer {
  return n === 0 ? b : b.subarray(0, b.length - n);
}
