// TLV messages (tao's): a 4-byte type, a 4-byte length, then the value, big-endian. The length is
// checked against maxMessageLength as soon as the 8-byte header is readable.
import { FrameTooLargeError, InvalidOptionError } from '../errors.js';
import { lengthField } from '../framing/length-field.js';
import type { FrameReader, FrameWriter } from '../framing/codec.js';
import { checkBytes } from '../util/validate.js';
import type { Codec } from './codec.js';

export interface TlvMessage {
  /** 0 to 2^32-1. */
  type: number;
  /** The value: a view of the input on decode (valid until onMessage settles, unless `copy`). */
  body: Uint8Array;
}

export interface TlvOptions {
  /** The largest value, in bytes. Required. */
  maxMessageLength: number;
  /** Decode values as copies the application owns. Default false (views). */
  copy?: boolean;
}

export function tlvCodec(options: TlvOptions): Codec<TlvMessage> {
  const max = checkBytes('maxMessageLength', options?.maxMessageLength, undefined);
  // Nothing stripped: the frame keeps its type field, read below.
  const framing = lengthField({ offset: 4, width: 4, strip: 0, maxFrameLength: max + 8, copy: options.copy });
  return {
    maxMessageLength: max,
    decode(reader: FrameReader): TlvMessage | undefined {
      const frame = framing.decode(reader);
      if (frame === undefined) return undefined;
      return { type: frame.readUint32BE(0), body: frame.subarray(8) };
    },
    encode(m: TlvMessage, w: FrameWriter): void {
      const type = m.type;
      if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) throw new InvalidOptionError('type', type, 'an integer from 0 to 2^32-1');
      if (m.body.length > max) throw new FrameTooLargeError(m.body.length, max);
      w.writeUint32BE(type);
      w.writeUint32BE(m.body.length);
      w.writeBinary(m.body);
    },
  };
}
