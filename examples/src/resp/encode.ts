// RESP2 replies as values, and how they are written: a Buffer is a bulk string, null the nil bulk,
// a number an integer, an array an array, and SimpleString / ErrorReply the two line replies.
import type { FrameWriter } from '@nocopy/transport';

/** A `+...` line: built once per distinct string (OK, PONG), never per reply. */
export class SimpleString {
  readonly bytes: Buffer;
  constructor(s: string) {
    if (/[\r\n]/.test(s)) throw new RangeError('a simple string cannot hold CR or LF');
    this.bytes = Buffer.from(`+${s}\r\n`, 'latin1');
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

export type RespReply = SimpleString | ErrorReply | number | bigint | Uint8Array | null | readonly RespReply[];

export const OK = new SimpleString('OK');
export const PONG = new SimpleString('PONG');

const CRLF = Buffer.from('\r\n');
const NULL_BULK = Buffer.from('$-1\r\n');

type Out = Pick<FrameWriter, 'writeBinary' | 'writeString'>;

// The `$<n>\r\n` headers of bulk strings up to 1 KiB, made once: most values are small.
const BULK_HEADERS = Array.from({ length: 1025 }, (_, n) => Buffer.from(`$${n}\r\n`, 'latin1'));

export function writeReply(w: Out, r: RespReply): void {
  if (r instanceof Uint8Array) {
    const n = r.length;
    if (n < BULK_HEADERS.length) w.writeBinary(BULK_HEADERS[n]!);
    else w.writeString(`$${n}\r\n`, 'latin1');
    w.writeBinary(r);
    w.writeBinary(CRLF);
  } else if (r === null) {
    w.writeBinary(NULL_BULK);
  } else if (r instanceof SimpleString) {
    w.writeBinary(r.bytes);
  } else if (typeof r === 'number' || typeof r === 'bigint') {
    w.writeString(`:${r}\r\n`, 'latin1');
  } else if (r instanceof ErrorReply) {
    w.writeString(`-${r.message}\r\n`, 'latin1');
  } else {
    w.writeString(`*${r.length}\r\n`, 'latin1');
    for (const x of r) writeReply(w, x);
  }
}
