// Server instructions per request (user space) under valgrind's callgrind: steadier than CPU time on
// a shared machine. Each server runs under callgrind; the compiled generator opens a counted window
// after a warmup, zeroing the counters at its start and dumping them at its end.
//   node bench/dist/echo/instructions.js [--servers=raw,append,...] [--case=2] [--requests=50000] [--rounds=2]
// Not part of `npm run bench` (it takes minutes); needs valgrind.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Callgrind, countedWindow, requireValgrind } from '../lib/callgrind.js';
import { loadgenPath, type LoadgenResult } from '../lib/loadgen.js';
import { printTable } from '../lib/table.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const servers = opt('servers')?.split(',') ?? ['raw', 'batch-views', 'batch-copy', 'append', 'writeBinary', 'copy'];
const cases = [
  { name: '50 conns ping-pong 128 B', connections: 50, inflight: 1, size: 128 },
  { name: '50 conns x16 in flight 128 B', connections: 50, inflight: 16, size: 128 },
  { name: '10 conns ping-pong 16 KiB', connections: 10, inflight: 1, size: 16 * 1024 },
];
const c = cases[Number(opt('case') ?? 2) - 1]!;
const requests = Number(opt('requests') ?? (c.size > 1024 ? 3000 : 50000));
const rounds = Number(opt('rounds') ?? 2);

requireValgrind();
const gen = loadgenPath();
using callgrind = new Callgrind();

async function one(server: string): Promise<{ instr: number; reads: number }> {
  const { instructions, result } = await callgrind.run<LoadgenResult>(join(here, 'servers.js'), server, (port, pid) =>
    [gen, '--port', String(port), '--connections', String(c.connections), '--inflight', String(c.inflight), '--size', String(c.size), ...countedWindow(requests, pid)]);
  return { instr: instructions / result.requests, reads: result.serverReadsPerReq ?? NaN };
}

const got = new Map<string, { instr: number; reads: number }[]>(servers.map((s) => [s, []]));
for (let r = 0; r < rounds; r++) for (const s of servers) got.get(s)!.push(await one(s));
console.log(`${c.name}: server instructions per request (user space, callgrind), ${requests} requests after ${requests} of warmup, ${rounds} interleaved round(s)`);
// Noise (a GC or a deoptimization inside the window) only adds instructions: compare the least.
const least = (s: string) => Math.min(...got.get(s)!.map((x) => x.instr));
printTable(['server', 'instructions / request', 'least', 'x raw', 'reads / request'], servers.map((s) => {
  const xs = got.get(s)!;
  return [s, xs.map((x) => Math.round(x.instr)).join(', '), String(Math.round(least(s))), got.has('raw') ? `${(least(s) / least('raw')).toFixed(2)}x` : '', xs.map((x) => x.reads.toFixed(3)).join(', ')];
}));
