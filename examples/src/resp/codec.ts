// RESP2 as a session codec: requests in (the whole commands of a read, as one RespCommands whose
// arguments lie in the input, valid until their onMessage returns), replies out.
import type { Codec } from '@nocopy/transport';
import { RespDecoder, type RespCommands, type RespLimits } from './decode.js';
import { type RespReply, writeReply } from './encode.js';

export function respCodec(limits: Partial<RespLimits> = {}): Codec<RespCommands, RespReply> {
  const decoder = new RespDecoder(limits);
  return {
    maxMessageLength: decoder.limits.maxBulk,
    decode: (reader) => decoder.decode(reader),
    encode: (reply, writer) => writeReply(writer, reply),
  };
}
