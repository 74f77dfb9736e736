// RESP2 requests, as Redis reads them: multibulk (`*<n>\r\n` then n times `$<len>\r\n<bytes>\r\n`)
// and inline commands (one line of words, as `redis-cli` over telnet or PING_INLINE sends).
// One decode() parses every whole command of a read at once into a reused RespCommands: argument
// offsets and lengths into the read's bytes, no Buffer view or array per command. The bytes are a
// view of the input (or one copy when it spans nodes), valid until the reader's release() (the end
// of the onMessage call), so a value that is kept must be copied.
import type { Reader } from '@nocopy/transport';
import { RespProtocolError } from './errors.js';

/** What the decoder reads from: a connection's reader, or any LinkBuffer. */
export type RespInput = Pick<Reader, 'length' | 'peek' | 'skip'>;

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
const INCOMPLETE = -1;
const EMPTY_COUNT = -2;
const EMPTY = Buffer.alloc(0);
/** Argument slots kept between reads; a read that needed more gives them back after it. */
const KEEP_ARGS = 4096;

/**
 * The whole commands of one read. Command i has argc(i) arguments; its argument j lies at
 * buf[off[k], off[k] + len[k]) with k = start[i] + j. Reused by the decoder's next decode(), so it
 * must be used up before onMessage returns (the example server's onMessage is synchronous).
 */
export class RespCommands {
  /** The bytes the arguments lie in. */
  buf: Buffer = EMPTY;
  /** How many commands. */
  count = 0;
  /** First argument index of each command; start[count] is the number of arguments. */
  start = new Int32Array(64);
  off = new Int32Array(256);
  len = new Int32Array(256);

  argc(i: number): number {
    return this.start[i + 1]! - this.start[i]!;
  }

  /** Argument j of command i, as a view (valid as long as buf). */
  arg(i: number, j: number): Buffer {
    const k = this.start[i]! + j;
    return this.buf.subarray(this.off[k]!, this.off[k]! + this.len[k]!);
  }

  /** Every argument of command i, as views. */
  args(i: number): Buffer[] {
    const n = this.argc(i);
    const out: Buffer[] = new Array(n);
    for (let j = 0; j < n; j++) out[j] = this.arg(i, j);
    return out;
  }

  /** Argument j of command i as a latin1 string (one char per byte). */
  string(i: number, j: number): string {
    const k = this.start[i]! + j;
    return this.buf.toString('latin1', this.off[k]!, this.off[k]! + this.len[k]!);
  }
}

export class RespDecoder {
  readonly limits: RespLimits;
  readonly #cmds = new RespCommands();
  /** Arguments in #cmds so far (during a parse). */
  #nargs = 0;
  /** Where an incomplete command needs the input to reach, relative to the parse's start. */
  #needAt = 0;
  /** Readers known to hold an incomplete command, and the input each needs before it is parsed again. */
  readonly #need = new WeakMap<RespInput, number>();
  /** How many readers #need holds (an estimate: a reader collected while waiting is not subtracted), so the common case skips the lookup. */
  #waiting = 0;

  constructor(limits: Partial<RespLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /**
   * Every whole command at the head of `r`, consumed; undefined (consuming at most empty commands)
   * while the first is incomplete. Throws RespProtocolError on malformed input, once the whole
   * commands before it have been returned.
   */
  decode(r: RespInput): RespCommands | undefined {
    const n = r.length;
    // Input known to be incomplete is not parsed again until at least this much has arrived: a
    // large value trickling in is parsed (and, across nodes, copied by peek) once per arrival of
    // the bytes it still needs. (Not a property on the reader: adding one changes the reader's
    // shape, and the transport's reads of it got slower.)
    if (n === 0 || (this.#waiting > 0 && n < (this.#need.get(r) ?? 0))) return undefined;
    // A view when the input lies in one node (the common case), else one copy (valid until release).
    const b = r.peek(n);
    const c = this.#cmds;
    if (c.off.length > KEEP_ARGS) this.#shrink();
    c.buf = b;
    c.count = 0;
    this.#nargs = 0;
    let at = 0;
    let end = 0;
    let mark = 0;
    try {
      while (at < n) {
        mark = this.#nargs;
        end = b[at] === STAR ? this.#multibulk(b, at, n) : this.#inline(b, at, n);
        if (end === INCOMPLETE) break;
        at = end;
      }
    } catch (err) {
      // The commands before the malformed one are delivered first; the next call throws.
      if (c.count === 0) throw err;
      this.#nargs = mark;
    }
    if (c.count === 0) {
      if (at > 0) r.skip(at); // empty commands only: Redis ignores them
      if (end === INCOMPLETE) {
        if (!this.#need.has(r)) this.#waiting++;
        this.#need.set(r, this.#needAt - at);
      }
      return undefined;
    }
    if (this.#waiting > 0 && this.#need.delete(r)) this.#waiting--;
    r.skip(at);
    c.start[c.count] = this.#nargs;
    return c;
  }

  #shrink(): void {
    const c = this.#cmds;
    c.start = new Int32Array(64);
    c.off = new Int32Array(256);
    c.len = new Int32Array(256);
  }

  /** Room for one more command and its first argument. */
  #addCommand(): void {
    const c = this.#cmds;
    if (c.count + 1 >= c.start.length) {
      const s = new Int32Array(c.start.length * 2);
      s.set(c.start);
      c.start = s;
    }
    c.start[c.count] = this.#nargs;
  }

  #addArg(off: number, len: number): void {
    const c = this.#cmds;
    const k = this.#nargs++;
    if (k >= c.off.length) {
      const o = new Int32Array(c.off.length * 2);
      o.set(c.off);
      c.off = o;
      const l = new Int32Array(c.len.length * 2);
      l.set(c.len);
      c.len = l;
    }
    c.off[k] = off;
    c.len[k] = len;
  }

  /** Parses the multibulk command at `at`: its end, or INCOMPLETE (#needAt set). */
  #multibulk(b: Buffer, at: number, n: number): number {
    const count = readInt(b, at + 1, n, this.limits.maxArgs, 'multibulk length');
    if (count === INCOMPLETE) return this.#incomplete(n + 1, n);
    // `*0` and `*-1`: Redis treats them as an empty command.
    if (count === EMPTY_COUNT || count === 0) return intEnd;
    let p = intEnd;
    const first = this.#nargs;
    this.#addCommand();
    for (let i = 0; i < count; i++) {
      if (p >= n) return this.#drop(first, n + 1, n);
      if (b[p] !== DOLLAR) throw new RespProtocolError(`expected '$', got '${String.fromCharCode(b[p]!)}'`);
      const len = readInt(b, p + 1, n, this.limits.maxBulk, 'bulk length');
      if (len < 0) return this.#drop(first, n + 1, n);
      p = intEnd;
      if (p + len + 2 > n) return this.#drop(first, p + len + 2 + (count - i - 1) * 4, n);
      if (b[p + len] !== CR || b[p + len + 1] !== LF) throw new RespProtocolError('bulk data not followed by CRLF');
      this.#addArg(p, len);
      p += len + 2;
    }
    this.#cmds.count++;
    return p;
  }

  /** Parses the inline command at `at`: its end, or INCOMPLETE (#needAt set). */
  #inline(b: Buffer, at: number, n: number): number {
    const lf = b.indexOf(LF, at);
    if (lf < 0) {
      if (n - at > this.limits.maxInline) throw new RespProtocolError('too big inline request');
      return this.#incomplete(n + 1, n);
    }
    const stop = lf > at && b[lf - 1] === CR ? lf - 1 : lf;
    const first = this.#nargs;
    let i = at;
    while (i < stop) {
      while (i < stop && (b[i] === 32 || b[i] === 9)) i++;
      if (i === stop) break;
      const s = i;
      while (i < stop && b[i] !== 32 && b[i] !== 9) i++;
      if (this.#nargs === first) this.#addCommand();
      this.#addArg(s, i - s);
    }
    // An empty line: Redis ignores it.
    if (this.#nargs > first) this.#cmds.count++;
    return lf + 1;
  }

  /** The command being parsed is incomplete: its arguments so far are dropped. */
  #drop(first: number, bytes: number, n: number): number {
    this.#nargs = first;
    return this.#incomplete(bytes, n);
  }

  #incomplete(bytes: number, n: number): number {
    this.#needAt = Math.max(bytes, n + 1);
    return INCOMPLETE;
  }
}

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
