// The commands of the example server and their replies, over one in-memory key space. Keys are the
// argument bytes as latin1 strings (one char per byte, so binary keys are kept exactly); values are
// copies the store owns, never views of the input.
import { ErrorReply, OK, PONG, type RespReply } from './encode.js';

const EMPTY: RespReply[] = [];

// Command names matched on their bytes, case-insensitively (ASCII letters: & 0xdf upper-cases), to
// one constant string each: no string is made per command.
const NAMES = ['GET', 'SET', 'DEL', 'PING', 'ECHO', 'INCR', 'MGET', 'EXISTS', 'CONFIG', 'COMMAND'];
const BY_LENGTH: (readonly [Buffer, string])[][] = [];
for (const n of NAMES) (BY_LENGTH[n.length] ??= []).push([Buffer.from(n, 'latin1'), n]);

function commandOf(b: Buffer): string {
  const candidates = BY_LENGTH[b.length];
  if (candidates === undefined) return '';
  next: for (const [bytes, name] of candidates) {
    for (let i = 0; i < bytes.length; i++) if ((b[i]! & 0xdf) !== bytes[i]) continue next;
    return name;
  }
  return '';
}

export class Store {
  readonly #data = new Map<string, Buffer>();

  get size(): number {
    return this.#data.size;
  }

  /** Runs one command and returns its reply. `args[0]` is the command name. */
  execute(args: Buffer[]): RespReply {
    const name = args[0]!;
    const cmd = commandOf(name);
    const argc = args.length;
    switch (cmd) {
      case 'GET':
        if (argc !== 2) return arity(cmd);
        return this.#data.get(args[1]!.toString('latin1')) ?? null;
      case 'SET':
        // SET key value; the options (EX, PX, NX, XX, ...) are not supported and said so.
        if (argc < 3) return arity(cmd);
        if (argc > 3) return new ErrorReply('ERR syntax error'); // options (EX, PX, NX, ...) are not supported
        this.#data.set(args[1]!.toString('latin1'), Buffer.from(args[2]!));
        return OK;
      case 'PING':
        if (argc === 1) return PONG;
        if (argc === 2) return args[1]!;
        return arity(cmd);
      case 'ECHO':
        if (argc !== 2) return arity(cmd);
        return args[1]!;
      case 'DEL': {
        if (argc < 2) return arity(cmd);
        let n = 0;
        for (let i = 1; i < argc; i++) if (this.#data.delete(args[i]!.toString('latin1'))) n++;
        return n;
      }
      case 'EXISTS': {
        if (argc < 2) return arity(cmd);
        let n = 0;
        for (let i = 1; i < argc; i++) if (this.#data.has(args[i]!.toString('latin1'))) n++;
        return n;
      }
      case 'INCR': {
        if (argc !== 2) return arity(cmd);
        const key = args[1]!.toString('latin1');
        const cur = this.#data.get(key);
        const s = cur === undefined ? '0' : cur.toString('latin1');
        // Redis' rule: a base-10 64-bit signed integer with no sign-less leading zeros or spaces.
        if (!/^-?(0|[1-9][0-9]{0,18})$/.test(s)) return new ErrorReply('ERR value is not an integer or out of range');
        const next = BigInt(s) + 1n;
        if (next > 9223372036854775807n) return new ErrorReply('ERR increment or decrement would overflow');
        this.#data.set(key, Buffer.from(next.toString(), 'latin1'));
        return next;
      }
      case 'MGET': {
        if (argc < 2) return arity(cmd);
        const out: RespReply[] = new Array(argc - 1);
        for (let i = 1; i < argc; i++) out[i - 1] = this.#data.get(args[i]!.toString('latin1')) ?? null;
        return out;
      }
      case 'CONFIG':
        // redis-benchmark asks for `save` and `appendonly` before it starts: nothing is configured here.
        if (argc >= 2 && args[1]!.toString('latin1').toUpperCase() === 'GET') return EMPTY;
        return new ErrorReply('ERR only CONFIG GET is supported');
      case 'COMMAND':
        // redis-cli asks for the command table (COMMAND DOCS) to offer hints; an empty one is valid.
        return EMPTY;
      default:
        return unknown(args);
    }
  }
}

/** Redis 7's words: the name as sent (128 bytes at most), then the first arguments, quoted, up to 128 bytes. */
function unknown(args: Buffer[]): ErrorReply {
  let list = '';
  for (let i = 1; i < args.length && list.length < 128; i++) list += `'${args[i]!.toString('latin1').slice(0, 128 - list.length)}' `;
  return new ErrorReply(`ERR unknown command '${args[0]!.toString('latin1').slice(0, 128)}', with args beginning with: ${list}`);
}

function arity(cmd: string): ErrorReply {
  return new ErrorReply(`ERR wrong number of arguments for '${cmd.toLowerCase()}' command`);
}
