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
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });

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
      value = unpackr.unpack(bytes);
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
    unpackr.unpackMultiple(buf, (value: unknown, _start?: number, end?: number) => {
      consumed = end!;
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
