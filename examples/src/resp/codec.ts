// RESP2 as a session codec: requests in (the whole commands of a read, as one RespCommands whose
// arguments lie in the input, valid until their onMessage returns), replies out.
import type { Codec } from '@nocopy/transport';
import { RespDecoder, type RespCommands, type RespLimits } from './decode.js';
import { type RespReply, writeReply } from './encode.js';
import { Replies } from './commands.js';

/** A reply, or the replies of a whole read (run and written by encode). */
export type RespOut = RespReply | Replies;

export function respCodec(limits: Partial<RespLimits> = {}): Codec<RespCommands, RespOut> {
  const decoder = new RespDecoder(limits);
  return {
    maxMessageLength: decoder.limits.maxBulk,
    decode: (reader) => decoder.decode(reader),
    encode: (reply, writer) => (reply instanceof Replies ? reply.writeTo(writer) : writeReply(writer, reply)),
  };
}
