// bench/resp/codec: the RESP example's own cost per command, in process, without sockets: a read of
// 16 pipelined commands (redis-benchmark's PING_MBULK, SET and GET with -d 128) is decoded, run against
// the store and its replies written into a LinkBuffer, as the server does per read. The cost of
// putting the read into the input and emptying the output (the transport's part) is measured alone
// and subtracted. Gives the example's share of the server's CPU per request (bench/resp/main).
//   node bench/dist/resp/codec.js [--ms=<per test>] [--pipeline=<n>]
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { intFlag } from '../lib/options.js';
import { printTable } from '../lib/table.js';

const here = dirname(fileURLToPath(import.meta.url));
// The example is not a dependency of the bench package: loaded from its build, as main.ts runs it.
const RESP = resolve(here, '../../../examples/dist/resp/index.js');

interface RespModule {
  RespDecoder: new () => { decode(r: LinkBuffer): unknown };
  Store: new () => unknown;
  Replies: new (store: unknown) => { commands: unknown; writeTo(w: LinkBuffer): void };
}

const argv = process.argv.slice(2);
const ms = intFlag(argv, 'ms', 1500);
const pipeline = intFlag(argv, 'pipeline', 16);

const mb = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const VALUE = 'x'.repeat(128);
const TESTS: [string, string][] = [
  ['PING_MBULK', mb('PING')],
  ['SET', mb('SET', 'key:__rand_int__', VALUE)],
  ['GET', mb('GET', 'key:__rand_int__')],
];

/** ns per command of `step` run over reads of `pipeline` commands, for about `ms`. */
function time(step: () => void): number {
  for (let i = 0; i < 20_000; i++) step(); // warm-up (JIT)
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < until) {
    for (let i = 0; i < 1000; i++) step();
    n += 1000;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / (n * pipeline);
}

async function main(): Promise<void> {
  const m = (await import(RESP)) as RespModule;
  const store = new m.Store();
  const rows: string[][] = [];
  for (const [name, one] of TESTS) {
    const read = Buffer.from(one.repeat(pipeline), 'latin1');
    const input = new LinkBuffer();
    const output = new LinkBuffer();
    const dec = new m.RespDecoder();
    const replies = new m.Replies(store);
    const refill = (): void => {
      input.writeBinary(read);
      input.flush();
    };
    const drain = (): void => {
      output.flush();
      output.skip(output.length);
      output.release();
      input.release();
    };
    // The transport's part alone: the read into the input, consumed, and the output emptied.
    const base = time(() => {
      refill();
      input.skip(input.length);
      drain();
    });
    const full = time(() => {
      refill();
      replies.commands = dec.decode(input);
      replies.writeTo(output);
      drain();
    });
    rows.push([name, `${pipeline}`, full.toFixed(1), base.toFixed(1), (full - base).toFixed(1)]);
    input.close();
    output.close();
  }
  console.log(`resp codec: decode + run + write replies, reads of ${pipeline} commands, ns per command (median-free: one timed run of ${ms} ms each)`);
  printTable(['test', 'per read', 'all ns', 'input/output ns', 'example ns'], rows, 1);
}

await main();
