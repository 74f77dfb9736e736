// RESP2 replies as values, and how they are written: a Buffer is a bulk string, null the nil bulk,
// a number an integer, an array an array, SimpleString / ErrorReply the two line replies, and an
// Encoded reply bytes already in RESP (a stored value kept as its bulk string), written as they are.
import type { FrameWriter } from '@nocopy/transport';

/**
 * A reply already encoded: one writeBinary, no header made per reply. The writer copies up to its
 * inplace threshold (4 KiB) and links longer bytes by reference, so bytes longer than that must
 * not change once written (the store replaces those instead of overwriting them).
 */
export class Encoded {
  constructor(public bytes: Buffer) {}
}

/** Bytes the writer copies (its binaryInplaceThreshold, 4 KiB by default): may be overwritten in place once written. */
export const COPIED_BY_WRITER = 4096;

/** A bulk string's header and the bytes b[off, off + len), in one new buffer. */
export function encodeBulk(b: Uint8Array, off: number, len: number): Buffer {
  const head = len < BULK_HEADERS.length ? BULK_HEADERS[len]! : Buffer.from(`$${len}\r\n`, 'latin1');
  const out = Buffer.allocUnsafe(head.length + len + 2);
  head.copy(out, 0);
  out.set(b.subarray(off, off + len), head.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/** A `+...` line: built once per distinct string (OK, PONG), never per reply. */
export class SimpleString extends Encoded {
  constructor(s: string) {
    if (/[\r\n]/.test(s)) throw new RangeError('a simple string cannot hold CR or LF');
    super(Buffer.from(`+${s}\r\n`, 'latin1'));
  }
}

/** A `-ERR ...` line. */
export class ErrorReply {
  readonly message: string;
  constructor(message: string) {
    // A CR or LF would end the line early: the client would read the rest as another reply.
    this.message = message.replace(/[\r\n]/g, ' ');
  }
}

export type RespReply = Encoded | ErrorReply | number | bigint | Uint8Array | null | readonly RespReply[];

export const OK = new SimpleString('OK');
export const PONG = new SimpleString('PONG');

const CRLF = Buffer.from('\r\n');
const NULL_BULK = Buffer.from('$-1\r\n');

type Out = Pick<FrameWriter, 'writeBinary' | 'writeString'>;

// The `$<n>\r\n` headers of bulk strings up to 1 KiB, made once: most values are small.
const BULK_HEADERS = Array.from({ length: 1025 }, (_, n) => Buffer.from(`$${n}\r\n`, 'latin1'));

export function writeReply(w: Out, r: RespReply): void {
  if (r instanceof Encoded) {
    w.writeBinary(r.bytes);
  } else if (r === null) {
    w.writeBinary(NULL_BULK);
  } else if (r instanceof Uint8Array) {
    const n = r.length;
    if (n < BULK_HEADERS.length) w.writeBinary(BULK_HEADERS[n]!);
    else w.writeString(`$${n}\r\n`, 'latin1');
    // Longer bytes would be linked by reference, and a view of the input must not outlive its read.
    w.writeBinary(n > COPIED_BY_WRITER ? Buffer.from(r) : r);
    w.writeBinary(CRLF);
  } else if (typeof r === 'number' || typeof r === 'bigint') {
    w.writeString(`:${r}\r\n`, 'latin1');
  } else if (r instanceof ErrorReply) {
    w.writeString(`-${r.message}\r\n`, 'latin1');
  } else {
    w.writeString(`*${r.length}\r\n`, 'latin1');
    for (const x of r) writeReply(w, x);
  }
}
