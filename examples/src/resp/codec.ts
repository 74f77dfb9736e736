// RESP2 as a session codec: requests in (argument arrays, views of the input valid until their
// onMessage settles), replies out.
import type { Codec } from '@nocopy/transport';
import { RespDecoder, type RespLimits } from './decode.js';
import { type RespReply, writeReply } from './encode.js';

export function respCodec(limits: Partial<RespLimits> = {}): Codec<Buffer[], RespReply> {
  const decoder = new RespDecoder(limits);
  return {
    maxMessageLength: decoder.limits.maxBulk,
    decode: (reader) => decoder.decode(reader),
    encode: (reply, writer) => writeReply(writer, reply),
  };
}
