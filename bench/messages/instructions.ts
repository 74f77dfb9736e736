// Server instructions per message (user space) under valgrind's callgrind, for the UDP pair of
// bench/messages: steadier than CPU time on a shared machine, where the rate and even CPU time move
// with the other processes. Each server runs under callgrind; the compiled generator (udpgen) opens
// a counted window after a warmup, zeroing the counters at its start and dumping them at its end.
// The kernel's side (one recvmsg and one sendmsg per datagram for both) is not counted.
//   node bench/dist/messages/instructions.js [--servers=udp-session,dgram] [--requests=20000] [--rounds=2]
// Not part of `npm run bench` (it takes minutes); needs valgrind.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Callgrind, countedWindow, requireValgrind } from '../lib/callgrind.js';
import { udpgenPath, type UdpgenResult } from '../lib/loadgen.js';
import { printTable } from '../lib/table.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const servers = opt('servers')?.split(',') ?? ['udp-session', 'dgram'];
const requests = Number(opt('requests') ?? 20000);
const rounds = Number(opt('rounds') ?? 2);
const c = { flows: 20, inflight: 8, size: 128 };

requireValgrind();
const gen = udpgenPath();
using callgrind = new Callgrind();

async function one(server: string): Promise<{ instr: number; answered: number }> {
  // Under valgrind the server is ~50x slower: a long timeout, so that nothing is resent.
  const { instructions, result } = await callgrind.run<UdpgenResult>(join(here, 'servers.js'), server, (port, pid) =>
    [gen, '--port', String(port), '--flows', String(c.flows), '--inflight', String(c.inflight), '--size', String(c.size), '--timeout-ms', '5000', ...countedWindow(requests, pid)]);
  const answered = result.requests + result.duplicates;
  return { instr: instructions / answered, answered };
}

const got = new Map<string, number[]>(servers.map((s) => [s, []]));
for (let r = 0; r < rounds; r++) for (const s of servers) got.get(s)!.push((await one(s)).instr);
console.log(`UDP echo ${c.flows} sockets x ${c.inflight} in flight ${c.size} B: server instructions per datagram (user space, callgrind), ${requests} after ${requests} of warmup, ${rounds} interleaved round(s)`);
// Noise (a GC or a deoptimization inside the window) only adds instructions: compare the least.
const least = (s: string) => Math.min(...got.get(s)!);
const base = servers[servers.length - 1]!;
printTable(['server', 'instructions / datagram', 'least', `x ${base}`], servers.map((s) => [s, got.get(s)!.map((x) => Math.round(x)).join(', '), String(Math.round(least(s))), `${(least(s) / least(base)).toFixed(2)}x`]));
