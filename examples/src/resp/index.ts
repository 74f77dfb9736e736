// The pieces of the Redis-protocol example: the RESP2 request decoder, replies, the codec, the store.
export { RespDecoder, DEFAULT_LIMITS, type RespLimits, type RespInput } from './decode.js';
export { SimpleString, ErrorReply, OK, PONG, type RespReply, writeReply } from './encode.js';
export { respCodec } from './codec.js';
export { Store } from './commands.js';
export { RespProtocolError } from './errors.js';
