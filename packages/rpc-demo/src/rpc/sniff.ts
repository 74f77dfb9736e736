// Reading a little of input that is about to be refused, so that the refusal can say why and answer
// the request it belongs to: the id of a request from its first bytes, and the signs of a peer that
// speaks the other framing. Only fixed-size headers are read (peek, nothing consumed, nothing decoded).
import type { FrameReader } from '@nocopy/transport';
import { FramingMismatchError } from '../errors.js';
import { ValueScanner } from '../msgpack/scan.js';

const FIXARRAY_3 = 0x93;
const FIXARRAY_4 = 0x94;
/** A request with our extension (extensions.ts). */
const FIXARRAY_5 = 0x95;

/**
 * The msgid of a request whose encoding starts `at` bytes into `r` ([0x94 or 0x95, 0x00, id...]), or
 * undefined when the bytes are not a request's start or have not arrived.
 */
export function peekRequestId(r: FrameReader, at: number): number | undefined {
  const n = r.length;
  if (n < at + 3 || (r.peekUint8(at) !== FIXARRAY_4 && r.peekUint8(at) !== FIXARRAY_5) || r.peekUint8(at + 1) !== 0) return undefined;
  const f = r.peekUint8(at + 2);
  if (f <= 0x7f) return f;
  if (f === 0xcc && n >= at + 4) return r.peekUint8(at + 3);
  if (f === 0xcd && n >= at + 5) return r.peekUint16BE(at + 3);
  if (f === 0xce && n >= at + 7) return r.peekUint32BE(at + 3);
  return undefined;
}

/** Decodes and checks one whole message (the strict decoder, on exactly its bytes). */
export type DecodeMessage = (bytes: Buffer) => readonly unknown[];

/**
 * At a 'framed' end, on the first message of a connection, whose length prefix was too large: a
 * prefix starting with the byte of a 3- or 4-element array is a MessagePack-RPC message sent without
 * a prefix (a 'stream' peer; such a length is above 2.4 GB, past any sensible limit). The request's
 * id is given only when the whole message is here and decodes as a request, so that an answer in
 * the other framing is never sent on a guess. Consumes that message.
 */
export function streamPeer(r: FrameReader, max: number, decodeMessage: DecodeMessage): FramingMismatchError | null {
  if (r.length < 1) return null;
  const b = r.peekUint8(0);
  if (b !== FIXARRAY_3 && b !== FIXARRAY_4 && b !== FIXARRAY_5) return null;
  let id: number | undefined;
  try {
    const n = new ValueScanner().scan(r, max);
    if (n > 0) id = requestId(decodeMessage(r.next(n)));
  } catch {
    // Not a whole valid message: named a mismatch all the same, but not answered.
  }
  return new FramingMismatchError('framed', 'stream', id);
}

/**
 * At a 'stream' end, on the first message of a connection, that read a bare 0 as a whole message:
 * it is the first byte of a length prefix (a 'framed' peer) when the next three bytes and the one
 * after them look like the rest of a prefix below 16 MiB and the start of an array of 3 or 4. `r`
 * is positioned after the 0. The id as for streamPeer(). Consumes that message.
 */
export function framedPeer(r: FrameReader, max: number, decodeMessage: DecodeMessage): FramingMismatchError | null {
  if (r.length < 4) return null;
  const b = r.peekUint8(3);
  if (b !== FIXARRAY_3 && b !== FIXARRAY_4) return null;
  const n = (r.peekUint8(0) << 16) | r.peekUint16BE(1);
  let id: number | undefined;
  if (n <= max && r.length >= 3 + n) {
    r.skip(3);
    try {
      id = requestId(decodeMessage(r.next(n)));
    } catch {
      // As in streamPeer.
    }
  }
  return new FramingMismatchError('stream', 'framed', id);
}

function requestId(m: readonly unknown[]): number | undefined {
  return m[0] === 0 ? (m[1] as number) : undefined;
}
