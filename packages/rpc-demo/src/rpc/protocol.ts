// MessagePack-RPC messages and their two framings, over LinkBuffers.
//   request      [0, msgid, method, params]
//   response     [1, msgid, error, result]
//   notification [2, method, params]
// Encoded with msgpackr and useRecords: false, so any MessagePack peer reads them. 'framed' puts a
// 4-byte big-endian length before each message (the fast default); 'stream' is plain concatenated
// MessagePack, as the MessagePack-RPC specification and Neovim speak it.
import { Packr, Unpackr } from 'msgpackr';
import type { LinkBuffer } from '@nocopy/linkbuffer';
import { MalformedMessageError, MessageTooLargeError } from '../errors.js';

export type Framing = 'framed' | 'stream';

export const REQUEST = 0;
export const RESPONSE = 1;
export const NOTIFICATION = 2;

export type Request = [0, number, string, unknown[]];
export type Response = [1, number, unknown, unknown];
export type Notification = [2, string, unknown[]];
export type Message = Request | Response | Notification;

export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

// Binary fields are copied out of the input: handlers answer after the input's nodes are released.
// int64AsType 'auto' (msgpackr supports it; its typings omit it): other peers encode integers beyond
// 32 bits as int64/uint64, which msgpackr's default decodes as BigInt, so a handler got 1700000000000n
// for a millisecond timestamp and a uint64-encoded msgid was refused as malformed. 'auto' gives a
// number within +-2^53 (what msgpackr's own float64 encoding of such integers decodes to), else BigInt.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true, int64AsType: 'auto' as 'bigint' });
// Framed messages are copied whole into a decode arena and decoded there without copyBuffers: binary
// fields are views of the arena, which is only ever appended to, so they stay valid and unaliased
// like copies. copyBuffers gave each binary its own ArrayBuffer (about 0.9 µs and GC work per 128 B
// field), and decoding a fresh view makes msgpackr build a DataView for it; the arena's is made once.
// A binary kept for long pins its arena (8 KiB), as a Buffer.allocUnsafe slice pins Node's pool.
const viewUnpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' as 'bigint' });
const ARENA_SIZE = 8 * 1024;
/** Larger messages get a buffer of their own. */
const ARENA_MAX = ARENA_SIZE / 4;
let arena: Buffer = Buffer.allocUnsafeSlow(ARENA_SIZE);
let arenaOff = 0;
const range = { start: 0, end: 0 };

/** Decodes one whole message from a copy of `bytes` (which may be reused once this returns). */
function decodeCopy(bytes: Buffer): unknown {
  const n = bytes.length;
  if (n > ARENA_MAX) {
    const own = Buffer.allocUnsafeSlow(n);
    bytes.copy(own, 0, 0, n);
    return viewUnpackr.unpack(own);
  }
  if (ARENA_SIZE - arenaOff < n) {
    arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
    arenaOff = 0;
  }
  const start = arenaOff;
  bytes.copy(arena, start, 0, n);
  arenaOff = start + n;
  range.start = start;
  range.end = start + n;
  return viewUnpackr.unpack(arena, range);
}

export function checkFraming(framing: unknown): Framing {
  if (framing === undefined) return 'framed';
  if (framing !== 'framed' && framing !== 'stream') throw new TypeError(`framing must be "framed" or "stream", got ${String(framing)}`);
  return framing;
}

/** Encodes `msg` at the tail of `w` (not flushed). Throws MessageTooLargeError, writing nothing, past `max`. */
export function writeMessage(w: LinkBuffer, framing: Framing, msg: Message, max: number): void {
  const bytes = packr.pack(msg);
  if (bytes.length > max) throw new MessageTooLargeError(bytes.length, max);
  if (framing === 'framed') w.writeUint32BE(bytes.length);
  w.writeBinary(bytes);
}

/** Shape check: a message array of a known type with well-typed fields. */
export function validate(v: unknown): Message {
  if (!Array.isArray(v)) throw new MalformedMessageError('not an array');
  switch (v[0]) {
    case REQUEST:
      if (v.length !== 4 || !isMsgId(v[1]) || typeof v[2] !== 'string' || !Array.isArray(v[3])) throw new MalformedMessageError('bad request');
      return v as Request;
    case RESPONSE:
      if (v.length !== 4 || !isMsgId(v[1])) throw new MalformedMessageError('bad response');
      return v as Response;
    case NOTIFICATION:
      if (v.length !== 3 || typeof v[1] !== 'string' || !Array.isArray(v[2])) throw new MalformedMessageError('bad notification');
      return v as Notification;
    default:
      throw new MalformedMessageError(`unknown message type ${String(v[0])}`);
  }
}

function isMsgId(x: unknown): x is number {
  return typeof x === 'number' && x >= 0 && x <= 0xffffffff && Number.isInteger(x);
}

/**
 * Decodes every complete message in `r`, consuming it, and passes each to `onMessage`; stops early
 * when onMessage returns false (the rest stays in `r`). Throws MessageTooLargeError or
 * MalformedMessageError, after which the connection must be closed.
 */
export function readMessages(r: LinkBuffer, framing: Framing, max: number, onMessage: (m: Message) => boolean | void): void {
  if (framing === 'framed') readFramed(r, max, onMessage);
  else readStream(r, max, onMessage);
}

function readFramed(r: LinkBuffer, max: number, onMessage: (m: Message) => boolean | void): void {
  while (r.length >= 4) {
    const len = r.peekUint32BE();
    // Reject on the length prefix alone: an oversized message is never buffered.
    if (len > max) throw new MessageTooLargeError(len, max);
    if (r.length < 4 + len) return;
    r.skip(4);
    const bytes = r.next(len);
    let value: unknown;
    try {
      value = decodeCopy(bytes);
    } catch (err) {
      throw new MalformedMessageError((err as Error).message, { cause: err });
    }
    if (onMessage(validate(value)) === false) return;
  }
}

function readStream(r: LinkBuffer, max: number, onMessage: (m: Message) => boolean | void): void {
  const n = r.length;
  if (n === 0) return;
  // One contiguous view of what is buffered (a copy only when it spans nodes).
  const buf = r.peek(n);
  let consumed = 0;
  let stopped = false;
  let failure: unknown = null;
  try {
    unpackr.unpackMultiple(buf, (value: unknown, start?: number, end?: number) => {
      consumed = end!;
      // A complete message is bounded like a partial one: else one larger than max was accepted
      // when it arrived in a single read and refused when it arrived in pieces (found by fuzzing).
      if (end! - start! > max) {
        failure = new MessageTooLargeError(end! - start!, max);
        return false;
      }
      try {
        if (onMessage(validate(value)) === false) {
          stopped = true;
          return false;
        }
      } catch (err) {
        failure = err;
        return false;
      }
      return true;
    });
  } catch (err) {
    const e = err as { incomplete?: boolean; lastPosition?: number };
    if (!e.incomplete) {
      r.skip(consumed);
      throw new MalformedMessageError((err as Error).message, { cause: err });
    }
    consumed = e.lastPosition ?? consumed;
  }
  r.skip(consumed);
  if (failure !== null) throw failure;
  // What is left is one incomplete message: bound it like a framed one.
  if (!stopped && r.length > max) throw new MessageTooLargeError(r.length, max);
}
