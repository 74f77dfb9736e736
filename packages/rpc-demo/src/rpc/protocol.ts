// MessagePack-RPC messages and their two framings, over LinkBuffers.
//   request      [0, msgid, method, params] (or with a fifth element, our extension: extensions.ts)
//   response     [1, msgid, error, result]
//   notification [2, method, params]
// Encoded and decoded by the strict codec in ../msgpack: standard MessagePack only, so any peer reads
// what we send and nothing but standard MessagePack is accepted. 'framed' puts a 4-byte big-endian
// length before each message (the fast default); 'stream' is plain concatenated MessagePack, as the
// MessagePack-RPC specification and Neovim speak it. Either way a message is decoded from a view
// that ends where the message ends.
import { type FrameCodec, type FrameReader, FrameTooLargeError, InvalidOptionError, lengthField } from '@nocopy/transport';
import { MalformedMessageError, MessageTooLargeError } from '../errors.js';
import { decode } from '../msgpack/decode.js';
import { type EncodeTarget, closeRegion, encodeInto, encodeResponse } from '../msgpack/encode.js';
import { valueFrames } from '../msgpack/frames.js';
import { framedPeer, peekRequestId, streamPeer } from './sniff.js';
import { type RequestExtension, readExtension } from './extensions.js';

export type Framing = 'framed' | 'stream';

export const REQUEST = 0;
export const RESPONSE = 1;
export const NOTIFICATION = 2;

/** A request; the fifth element (our extension, see extensions.ts) is replaced by its checked form when decoded. */
export type Request = [0, number, string, unknown[]] | [0, number, string, unknown[], RequestExtension | number];
export type Response = [1, number, unknown, unknown];
export type Notification = [2, string, unknown[]];
export type Message = Request | Response | Notification;

/** MessageReader allows at least this many arrays and maps per message, and maxMessageSize / 16. */
const MAX_CONTAINERS_FLOOR = 65_536;

/** 4 MiB, gRPC's default. */
export const DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024;

export function checkFraming(framing: unknown): Framing {
  if (framing === undefined) return 'framed';
  if (framing !== 'framed' && framing !== 'stream') throw new InvalidOptionError('framing', framing, '"framed" or "stream"');
  return framing;
}

/** A request as our client sends it to a server with the extensions: the fifth element is the wire map. */
export type ExtendedRequest = [0, number, string, unknown[], number | { t?: number; m?: Readonly<Record<string, string>> }];

/** Encodes `msg` at the tail of `w` (not flushed). Throws MessageTooLargeError or UnencodableValueError, writing nothing. */
export function writeMessage(w: EncodeTarget, framing: Framing, msg: Message | ExtendedRequest, max: number): void {
  encodeInto(w, msg, max, framing === 'framed');
}

/**
 * writeMessage(w, framing, [1, id, error, result], max) without building the array. With `keep`, the
 * next response to `w` goes on in the same region: endResponses() must run before `w` is flushed.
 */
export function writeResponse(w: EncodeTarget, framing: Framing, id: number, error: unknown, result: unknown, max: number, keep = false): void {
  encodeResponse(w, id, error, result, max, framing === 'framed', keep);
}

/** Closes the region writeResponse(..., keep) left open (any writer's): before a flush. */
export const endResponses: () => void = closeRegion;

/** Shape check: a message array of a known type with well-typed fields. */
export function validate(v: unknown): Message {
  if (!Array.isArray(v)) throw new MalformedMessageError('not an array');
  switch (v[0]) {
    case REQUEST:
      if ((v.length !== 4 && v.length !== 5) || !isMsgId(v[1]) || typeof v[2] !== 'string' || !Array.isArray(v[3])) throw new MalformedMessageError('bad request');
      if (v.length === 5) v[4] = readExtension(v[4]);
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
 * A connection's message decoder: each read() decodes every complete message in `r`, consuming it,
 * and passes each to `onMessage`; it stops early when onMessage returns false (the rest stays in
 * `r`). Throws MessageTooLargeError, FramingMismatchError or MalformedMessageError, after which the
 * connection must be closed. One per connection: the 'stream' framing remembers how far it scanned a partial message.
 */
export class MessageReader {
  readonly framing: Framing;
  readonly max: number;
  readonly #frames: FrameCodec<Buffer>;
  /** Arrays and maps per message at most: decoding cost grows with them, not with bytes. */
  readonly #containers: number;
  /** Messages decoded so far. */
  #decoded = 0;
  readonly #check = (bytes: Buffer): Message => validate(decode(bytes, this.#containers));

  constructor(framing: Framing, max: number) {
    this.framing = framing;
    this.max = max;
    this.#frames = framing === 'framed' ? lengthField({ width: 4, maxFrameLength: max }) : valueFrames(max);
    this.#containers = Math.max(MAX_CONTAINERS_FLOOR, Math.floor(max / 16));
  }

  read(r: FrameReader, onMessage: (m: Message) => boolean | void): void {
    if (this.framing === 'framed' && r.length >= 4 && r.length <= IN_PLACE_MAX && !this.#readInPlace(r, onMessage)) return;
    for (;;) {
      const m = this.next(r);
      if (m === undefined || onMessage(m) === false) return;
    }
  }

  /**
   * The next complete message in `r`, consumed, or undefined (nothing consumed) while it is not all
   * here: one message at a time, for a session's codec. Throws as read() does.
   */
  next(r: FrameReader): Message | undefined {
    let frame: Buffer | undefined;
    try {
      frame = this.#frames.decode(r);
    } catch (err) {
      // Refused input says why, and carries the id of the request when its first bytes are here.
      // A mismatched framing shows on a connection's first message.
      if (err instanceof FrameTooLargeError) throw (this.#decoded === 0 ? streamPeer(r, this.max, this.#check) : null) ?? new MessageTooLargeError(err.size, err.limit, peekRequestId(r, 4));
      if (err instanceof MessageTooLargeError) err.requestId = peekRequestId(r, 0);
      throw err;
    }
    if (frame === undefined) return undefined;
    // A bare 0 is no message; it is likely the first byte of a 'framed' peer's length prefix.
    if (frame.length === 1 && frame[0] === 0 && this.framing === 'stream' && this.#decoded === 0) {
      const mismatch = framedPeer(r, this.max, this.#check);
      if (mismatch !== null) throw mismatch;
    }
    // Exactly the message's bytes (a view, or one copy when it spans nodes); the decoded values
    // own their memory, so the input may be released as soon as this returns.
    const m = this.#check(frame);
    this.#decoded++;
    return m;
  }

  /**
   * The 'framed' fast path: the complete messages that lie in the reader's first node, each decoded
   * in a view of its own bytes (made over the node's ArrayBuffer, read once per batch), without the
   * frame codec's work per message. The decoder never sees the bytes of the next message: a length
   * it misreads ends at its own message. Returns false when onMessage stopped the reading, true when
   * read() goes on with what is left: a message not all here or across nodes, or a length past the
   * limit (read() refuses it with the usual errors).
   */
  #readInPlace(r: FrameReader, onMessage: (m: Message) => boolean | void): boolean {
    const v = r.views()[0]!;
    const n = v.length;
    const ab = v.buffer as ArrayBuffer;
    const base = v.byteOffset;
    const max = this.max;
    let off = 0;
    while (n - off >= 4) {
      const len = v[off]! * 0x1000000 + ((v[off + 1]! << 16) | (v[off + 2]! << 8) | v[off + 3]!);
      if (len > max || n - off - 4 < len) break;
      // Consumed before it is decoded, as read() does: a malformed message is gone when it throws.
      r.skip(4 + len);
      const m = validate(decode(new FastBuffer(ab, base + off + 4, len), this.#containers));
      off += 4 + len;
      this.#decoded++;
      if (onMessage(m) === false) return false;
    }
    return true;
  }
}

// Node's own Buffer class: a view over a known ArrayBuffer without the `buffer` getter per message.
const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (ab: ArrayBuffer, off: number, len: number) => Buffer })[Symbol.species];

/**
 * 'framed' input up to this many bytes takes the fast path (readInPlace): finding the first node
 * walks every node buffered, so a large backlog takes the message-by-message path.
 */
const IN_PLACE_MAX = 256 * 1024;
