// The pieces of the Redis-protocol example: the RESP2 request decoder, replies, the codec, the store.
export { RespDecoder, RespCommands, DEFAULT_LIMITS, type RespLimits, type RespInput } from './decode.js';
export { Encoded, SimpleString, ErrorReply, OK, PONG, type RespReply, writeReply } from './encode.js';
export { respCodec, type RespOut } from './codec.js';
export { Replies, Store } from './commands.js';
export { KeyTable } from './keytable.js';
export { RespProtocolError } from './errors.js';
