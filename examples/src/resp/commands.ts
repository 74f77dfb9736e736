// The commands of the example server and their replies, over one in-memory key space. Commands
// are read from a RespCommands (offsets into the read's bytes): names are matched on the bytes,
// keys looked up from the bytes (KeyTable), and values stored once as copies in the form GET sends
// them (their bulk string, an Encoded reply), so GET, SET and PING make no object per command.
import type { RespCommands } from './decode.js';
import type { FrameWriter } from '@nocopy/transport';
import { COPIED_BY_WRITER, Encoded, ErrorReply, OK, PONG, encodeBulk, type RespReply, writeReply } from './encode.js';
import { KeyTable } from './keytable.js';

const EMPTY: RespReply[] = [];

const GET = 1;
const SET = 2;
const DEL = 3;
const PING = 4;
const ECHO = 5;
const INCR = 6;
const MGET = 7;
const EXISTS = 8;
const CONFIG = 9;
const COMMAND = 10;

// ASCII letters upper-cased (& 0xdf): only 'x' and 'X' map to 'X', so a match is a case-insensitive one.
const up = (b: Buffer, i: number): number => b[i]! & 0xdf;

/** The command named by b[o, o + len), case-insensitively; 0 if unknown. */
function commandOf(b: Buffer, o: number, len: number): number {
  switch (len) {
    case 3: {
      const c0 = up(b, o);
      if (c0 === 71 && up(b, o + 1) === 69 && up(b, o + 2) === 84) return GET;
      if (c0 === 83 && up(b, o + 1) === 69 && up(b, o + 2) === 84) return SET;
      if (c0 === 68 && up(b, o + 1) === 69 && up(b, o + 2) === 76) return DEL;
      return 0;
    }
    case 4:
      if (is(b, o, 'PING')) return PING;
      if (is(b, o, 'ECHO')) return ECHO;
      if (is(b, o, 'INCR')) return INCR;
      if (is(b, o, 'MGET')) return MGET;
      return 0;
    case 6:
      if (is(b, o, 'EXISTS')) return EXISTS;
      if (is(b, o, 'CONFIG')) return CONFIG;
      return 0;
    case 7:
      return is(b, o, 'COMMAND') ? COMMAND : 0;
    default:
      return 0;
  }
}

function is(b: Buffer, o: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (up(b, o + i) !== name.charCodeAt(i)) return false;
  return true;
}

export class Store {
  readonly #data = new KeyTable<Encoded>();

  get size(): number {
    return this.#data.size;
  }

  /** Runs command i of `c` and returns its reply (valid until the next command). */
  execute(c: RespCommands, i: number): RespReply {
    const k = c.start[i]!;
    const argc = c.start[i + 1]! - k;
    const b = c.buf;
    const off = c.off;
    const len = c.len;
    const data = this.#data;
    switch (commandOf(b, off[k]!, len[k]!)) {
      case GET: {
        if (argc !== 2) return arity('get');
        const e = data.find(b, off[k + 1]!, len[k + 1]!);
        return e < 0 ? null : data.value(e);
      }
      case SET: {
        // SET key value; the options (EX, PX, NX, XX, ...) are not supported and said so.
        if (argc < 3) return arity('set');
        if (argc > 3) return new ErrorReply('ERR syntax error');
        const e = data.find(b, off[k + 1]!, len[k + 1]!);
        const vo = off[k + 2]!;
        const vl = len[k + 2]!;
        if (e < 0) {
          data.insert(b, off[k + 1]!, len[k + 1]!, new Encoded(encodeBulk(b, vo, vl)));
          return OK;
        }
        const old = data.value(e).bytes;
        // The same length has the same header: the value is overwritten in place when the writer
        // copied it wherever it was sent (else the old buffer may still be queued by reference).
        if (old.length <= COPIED_BY_WRITER && bulkLength(old) === vl) old.set(b.subarray(vo, vo + vl), old.length - vl - 2);
        else data.setValue(e, new Encoded(encodeBulk(b, vo, vl)));
        return OK;
      }
      case PING:
        if (argc === 1) return PONG;
        if (argc === 2) return c.arg(i, 1);
        return arity('ping');
      case ECHO:
        if (argc !== 2) return arity('echo');
        return c.arg(i, 1);
      case DEL: {
        if (argc < 2) return arity('del');
        let n = 0;
        for (let j = k + 1; j < k + argc; j++) {
          const e = data.find(b, off[j]!, len[j]!);
          if (e >= 0) {
            data.delete(e);
            n++;
          }
        }
        return n;
      }
      case EXISTS: {
        if (argc < 2) return arity('exists');
        let n = 0;
        for (let j = k + 1; j < k + argc; j++) if (data.find(b, off[j]!, len[j]!) >= 0) n++;
        return n;
      }
      case INCR: {
        if (argc !== 2) return arity('incr');
        const e = data.find(b, off[k + 1]!, len[k + 1]!);
        const s = e < 0 ? '0' : valueString(data.value(e).bytes);
        // Redis' rule: a base-10 64-bit signed integer with no sign-less leading zeros or spaces.
        if (!/^-?(0|[1-9][0-9]{0,18})$/.test(s)) return new ErrorReply('ERR value is not an integer or out of range');
        const next = BigInt(s) + 1n;
        if (next > 9223372036854775807n) return new ErrorReply('ERR increment or decrement would overflow');
        const digits = Buffer.from(next.toString(), 'latin1');
        const v = new Encoded(encodeBulk(digits, 0, digits.length));
        if (e < 0) data.insert(b, off[k + 1]!, len[k + 1]!, v);
        else data.setValue(e, v);
        return next;
      }
      case MGET: {
        if (argc < 2) return arity('mget');
        const out: RespReply[] = new Array(argc - 1);
        for (let j = 1; j < argc; j++) {
          const e = data.find(b, off[k + j]!, len[k + j]!);
          out[j - 1] = e < 0 ? null : data.value(e);
        }
        return out;
      }
      case CONFIG:
        // redis-benchmark asks for `save` and `appendonly` before it starts: nothing is configured here.
        if (argc >= 2 && c.string(i, 1).toUpperCase() === 'GET') return EMPTY;
        return new ErrorReply('ERR only CONFIG GET is supported');
      case COMMAND:
        // redis-cli asks for the command table (COMMAND DOCS) to offer hints; an empty one is valid.
        return EMPTY;
      default:
        return unknown(c, i);
    }
  }
}

/**
 * The replies of one read's commands, made as they are written: the server sends one Replies per
 * read (one send() and one encode), and no reply is held as an object. Reused for every read.
 */
export class Replies {
  commands: RespCommands | null = null;
  constructor(readonly store: Store) {}

  /** Runs the commands, in order, writing each reply. */
  writeTo(w: Pick<FrameWriter, 'writeBinary' | 'writeString'>): void {
    const c = this.commands!;
    this.commands = null;
    for (let i = 0; i < c.count; i++) writeReply(w, this.store.execute(c, i));
  }
}

/** The length of the value in a stored bulk string `$<n>\r\n<n bytes>\r\n`. */
function bulkLength(bytes: Buffer): number {
  let n = 0;
  for (let i = 1; bytes[i] !== 13; i++) n = n * 10 + bytes[i]! - 48;
  return n;
}

/** A stored bulk string's value as a latin1 string. */
function valueString(bytes: Buffer): string {
  const n = bulkLength(bytes);
  return bytes.toString('latin1', bytes.length - n - 2, bytes.length - 2);
}

/** Redis 7's words: the name as sent (128 bytes at most), then the first arguments, quoted, up to 128 bytes. */
function unknown(c: RespCommands, i: number): ErrorReply {
  let list = '';
  for (let j = 1; j < c.argc(i) && list.length < 128; j++) list += `'${c.string(i, j).slice(0, 128 - list.length)}' `;
  return new ErrorReply(`ERR unknown command '${c.string(i, 0).slice(0, 128)}', with args beginning with: ${list}`);
}

function arity(cmd: string): ErrorReply {
  return new ErrorReply(`ERR wrong number of arguments for '${cmd}' command`);
}
