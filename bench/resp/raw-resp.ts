// The Node floor of bench/resp: a Redis-protocol server as a competent Node developer writes it on
// `net` alone, for the three commands redis-benchmark sends here (PING, SET, GET, and the CONFIG GET it
// asks first). It parses every command of a chunk in place (a partial one waits, concatenated with
// the next chunk), answers them all with one write per chunk, and keeps SET values in a Map. No
// transport, no pooling, no validation beyond what these commands need: what any Node server pays
// for one read and one write per request. Not for hostile input.
//   node bench/dist/resp/raw-resp.js --port 0     prints "listening on 127.0.0.1:PORT"
import net from 'node:net';

const CR = 13;
const PONG = Buffer.from('+PONG\r\n');
const OK = Buffer.from('+OK\r\n');
const NIL = Buffer.from('$-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const UNKNOWN = Buffer.from('-ERR unknown command\r\n');
const store = new Map<string, Buffer>();

/** The integer after a type byte at `pos`, up to its CRLF: [value, offset after the CRLF], or null. */
function intAt(b: Buffer, pos: number): [number, number] | null {
  let n = 0;
  let i = pos + 1;
  for (; i < b.length && b[i] !== CR; i++) n = n * 10 + (b[i]! - 48);
  return i + 1 < b.length ? [n, i + 2] : null;
}

/** One command's arguments from `pos` (a multibulk array of bulk strings): [args, end], or null when partial. */
function command(b: Buffer, pos: number): [Buffer[], number] | null {
  const head = intAt(b, pos);
  if (head === null) return null;
  const args: Buffer[] = [];
  let at = head[1];
  for (let k = 0; k < head[0]; k++) {
    if (at >= b.length) return null;
    const len = intAt(b, at);
    if (len === null || len[1] + len[0] + 2 > b.length) return null;
    args.push(b.subarray(len[1], len[1] + len[0]));
    at = len[1] + len[0] + 2;
  }
  return [args, at];
}

function reply(args: Buffer[]): Buffer {
  const name = args[0]!;
  const c = name[0]! | 0x20;
  if (c === 0x70) return PONG; // PING
  if (c === 0x73 && args.length === 3) {
    store.set(args[1]!.toString('latin1'), Buffer.from(args[2]!)); // SET: the value outlives the chunk
    return OK;
  }
  if (c === 0x67 && args.length === 2) {
    const v = store.get(args[1]!.toString('latin1'));
    return v === undefined ? NIL : Buffer.concat([Buffer.from(`$${v.length}\r\n`), v, Buffer.from('\r\n')]);
  }
  if (c === 0x63) return EMPTY_ARRAY; // CONFIG GET: nothing configured
  return UNKNOWN;
}

const server = net.createServer({ noDelay: true }, (sock) => {
  let rest: Buffer | null = null;
  sock.on('error', () => {});
  sock.on('data', (chunk: Buffer) => {
    const b = rest === null ? chunk : Buffer.concat([rest, chunk]);
    const out: Buffer[] = [];
    let pos = 0;
    for (;;) {
      if (pos >= b.length) break;
      const cmd = command(b, pos);
      if (cmd === null) break;
      out.push(reply(cmd[0]));
      pos = cmd[1];
    }
    rest = pos < b.length ? b.subarray(pos) : null;
    if (out.length === 1) sock.write(out[0]!);
    else if (out.length > 1) sock.write(Buffer.concat(out));
  });
});

const i = process.argv.indexOf('--port');
server.listen(i > 0 ? Number(process.argv[i + 1]) : 0, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}`);
});
