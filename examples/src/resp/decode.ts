// RESP2 requests, as Redis reads them: multibulk (`*<n>\r\n` then n times `$<len>\r\n<bytes>\r\n`)
// and inline commands (one line of words, as `redis-cli` over telnet or PING_INLINE sends).
// A command is decoded only once all of it has arrived; its arguments are views of the input, valid
// until the reader's release() (the end of the onMessage call), so a value that is kept must be copied.
import type { Reader } from '@nocopy/transport';

/** What the decoder reads from: a connection's reader, or any LinkBuffer. */
export type RespInput = Pick<Reader, 'length' | 'peek' | 'skip' | 'next'>;
import { RespProtocolError } from './errors.js';

export interface RespLimits {
  /** Arguments per command at most (Redis: 1024 * 1024). */
  maxArgs: number;
  /** Bytes of one argument at most (Redis' proto-max-bulk-len is 512 MiB; ours is smaller by default). */
  maxBulk: number;
  /** Bytes of an inline command line at most (Redis: 64 KiB). */
  maxInline: number;
}

export const DEFAULT_LIMITS: RespLimits = { maxArgs: 1024 * 1024, maxBulk: 16 * 1024 * 1024, maxInline: 64 * 1024 };

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;

/** Where the parse of a buffer ended: a command and the bytes it took, or how many bytes are needed at least. */
interface Parsed {
  args: Buffer[] | null;
  end: number;
}

export class RespDecoder {
  readonly limits: RespLimits;
  readonly #parsed: Parsed = { args: null, end: 0 };
  /** Readers known to hold an incomplete command, and the input each needs before it is parsed again. */
  readonly #need = new WeakMap<RespInput, number>();
  /** How many readers #need holds (an estimate: a reader collected while waiting is not subtracted), so the common case skips the lookup. */
  #waiting = 0;

  constructor(limits: Partial<RespLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** The next command's arguments (at least one), consumed; undefined while incomplete. Throws RespProtocolError. */
  decode(r: RespInput): Buffer[] | undefined {
    for (;;) {
      const n = r.length;
      // Input known to be incomplete is not parsed again until at least this much has arrived: a
      // large value trickling in is parsed (and, across nodes, copied by peek) once per arrival of
      // the bytes it still needs. (Not a property on the reader: adding one changes the reader's
      // shape, and the transport's reads of it got slower.)
      if (n === 0 || (this.#waiting > 0 && n < (this.#need.get(r) ?? 0))) return undefined;
      // A view when the input lies in one node (the common case), else one copy.
      const b = r.peek(n);
      const p = this.#parsed;
      if (b[0] === STAR) this.#multibulk(b, n, p);
      else this.#inline(b, n, p);
      if (p.args === null) {
        if (!this.#need.has(r)) this.#waiting++;
        this.#need.set(r, p.end);
        return undefined;
      }
      if (this.#waiting > 0 && this.#need.delete(r)) this.#waiting--;
      const args = p.args;
      if (args.length === 0) {
        r.skip(p.end); // an empty line: Redis ignores it
        continue;
      }
      // Consume, and take the arguments from what next() returns: a peeked copy is reused by the
      // next peek, next()'s stays valid until release().
      const m = r.next(p.end);
      if (m.buffer !== b.buffer || m.byteOffset !== b.byteOffset) {
        const base = b.byteOffset;
        for (let i = 0; i < args.length; i++) args[i] = m.subarray(args[i]!.byteOffset - base, args[i]!.byteOffset - base + args[i]!.length);
      }
      return args;
    }
  }

  #multibulk(b: Buffer, n: number, out: Parsed): void {
    out.args = null;
    let at = 1;
    const count = readInt(b, at, n, this.limits.maxArgs, 'multibulk length');
    if (count === INCOMPLETE) return need(out, n + 1, n);
    if (count === EMPTY_COUNT) {
      out.args = [];
      out.end = intEnd;
      return;
    }
    at = intEnd;
    const args: Buffer[] = new Array(count);
    for (let i = 0; i < count; i++) {
      if (at >= n) return need(out, n + 1, n);
      if (b[at] !== DOLLAR) throw new RespProtocolError(`expected '$', got '${String.fromCharCode(b[at]!)}'`);
      const len = readInt(b, at + 1, n, this.limits.maxBulk, 'bulk length');
      if (len < 0) return need(out, n + 1, n);
      at = intEnd;
      if (at + len + 2 > n) return need(out, at + len + 2 + (count - i - 1) * 4, n);
      if (b[at + len] !== CR || b[at + len + 1] !== LF) throw new RespProtocolError('bulk data not followed by CRLF');
      args[i] = b.subarray(at, at + len);
      at += len + 2;
    }
    out.args = args;
    out.end = at;
  }

  #inline(b: Buffer, n: number, out: Parsed): void {
    out.args = null;
    const lf = b.indexOf(LF);
    if (lf < 0 || lf >= n) {
      if (n > this.limits.maxInline) throw new RespProtocolError('too big inline request');
      return need(out, n + 1, n);
    }
    const stop = lf > 0 && b[lf - 1] === CR ? lf - 1 : lf;
    const args: Buffer[] = [];
    let i = 0;
    while (i < stop) {
      while (i < stop && (b[i] === 32 || b[i] === 9)) i++;
      if (i === stop) break;
      const s = i;
      while (i < stop && b[i] !== 32 && b[i] !== 9) i++;
      args.push(b.subarray(s, i));
    }
    out.args = args;
    out.end = lf + 1;
  }
}

const INCOMPLETE = -1;
const EMPTY_COUNT = -2;
// Where the last readInt() stopped (after its CRLF): a module variable, so that no object is made per integer.
let intEnd = 0;

/** A non-negative decimal integer at `at`, ended by CRLF, at most `max`; INCOMPLETE if the CRLF has not arrived. */
function readInt(b: Buffer, at: number, n: number, max: number, what: string): number {
  let v = 0;
  let i = at;
  if (i < n && b[i] === 45) {
    // `*-1`: Redis treats a negative multibulk length as an empty command; the rest must still be
    // a decimal integer ("*-" or "*-x" is a protocol error), and a negative bulk length is invalid.
    i++;
    const digits = i;
    while (i < n && b[i] !== CR) {
      if (b[i]! < 48 || b[i]! > 57 || i - digits > 19) throw new RespProtocolError(`invalid ${what}`);
      i++;
    }
    if (i + 1 >= n) return INCOMPLETE;
    if (i === digits) throw new RespProtocolError(`invalid ${what}`);
    if (b[i + 1] !== LF) throw new RespProtocolError(`${what} not followed by CRLF`);
    intEnd = i + 2;
    if (what === 'bulk length') throw new RespProtocolError('invalid bulk length');
    return EMPTY_COUNT;
  }
  for (; i < n; i++) {
    const c = b[i]!;
    if (c === CR) break;
    if (c < 48 || c > 57) throw new RespProtocolError(`invalid ${what}`);
    v = v * 10 + (c - 48);
    if (v > max) throw new RespProtocolError(`invalid ${what}`);
  }
  if (i + 1 >= n) {
    if (i - at > 20) throw new RespProtocolError(`invalid ${what}`);
    return INCOMPLETE;
  }
  if (i === at) throw new RespProtocolError(`invalid ${what}`);
  if (b[i + 1] !== LF) throw new RespProtocolError(`${what} not followed by CRLF`);
  intEnd = i + 2;
  return v;
}

function need(out: Parsed, bytes: number, n: number): void {
  out.args = null;
  out.end = Math.max(bytes, n + 1);
}
