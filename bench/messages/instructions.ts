// Server instructions per message (user space) under valgrind's callgrind, for the UDP pair of
// bench/messages: steadier than CPU time on a shared machine, where the rate and even CPU time move
// with the other processes. Each server runs under callgrind; the compiled generator (udpgen) opens
// a counted window after a warmup, zeroing the counters at its start and dumping them at its end.
// The kernel's side (one recvmsg and one sendmsg per datagram for both) is not counted.
//   node bench/dist/messages/instructions.js [--servers=udp-session,dgram] [--requests=20000] [--rounds=2]
// Not part of `npm run bench` (it takes minutes); needs valgrind.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { udpgenPath, type UdpgenResult } from '../lib/loadgen.js';
import { V8_FLAGS, hasTaskset, nextMessage } from '../lib/processes.js';
import { printTable } from '../lib/table.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const servers = opt('servers')?.split(',') ?? ['udp-session', 'dgram'];
const requests = Number(opt('requests') ?? 20000);
const rounds = Number(opt('rounds') ?? 2);
const c = { flows: 20, inflight: 8, size: 128 };

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('instructions: valgrind not found');
  process.exit(1);
}
const gen = udpgenPath();
const dir = mkdtempSync(join(tmpdir(), 'nocopy-callgrind-'));
const pin = (cpu: number, cmd: string[]) => (hasTaskset ? ['taskset', '-c', String(cpu), ...cmd] : cmd);

async function one(server: string): Promise<{ instr: number; answered: number }> {
  const cmd = pin(0, ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${dir}/${server}.%p`, process.execPath, ...V8_FLAGS, join(here, 'servers.js'), server]);
  const srv = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'inherit', 'ignore', 'ipc'] });
  const { port, pid } = await nextMessage<{ port: number; pid: number }>(srv);
  srv.send('start');
  // Under valgrind the server is ~50x slower: a long timeout, so that nothing is resent.
  const g = pin(1, [gen, '--port', String(port), '--flows', String(c.flows), '--inflight', String(c.inflight), '--size', String(c.size), '--timeout-ms', '5000',
    '--warmup-requests', String(requests), '--requests', String(requests), '--pid', String(pid),
    '--on-start', `callgrind_control -z ${pid} >/dev/null`, '--on-end', `callgrind_control -d ${pid} >/dev/null`]);
  const r = spawnSync(g[0]!, g.slice(1), { encoding: 'utf8' });
  const stopped = nextMessage<unknown>(srv);
  srv.send('stop');
  await stopped.catch(() => {});
  if (r.status !== 0) throw new Error(`udpgen failed against ${server}: ${r.stdout}${r.stderr}`);
  const res = JSON.parse(r.stdout.trim()) as UdpgenResult;
  const dump = readdirSync(dir).filter((f) => f.startsWith(`${server}.${pid}.`)).sort().pop();
  const total = dump ? /(?:summary|totals): (\d+)/.exec(readFileSync(join(dir, dump), 'utf8')) : null;
  if (total === null) throw new Error(`no callgrind dump for ${server}`);
  const answered = res.requests + res.duplicates;
  return { instr: Number(total[1]) / answered, answered };
}

try {
  const got = new Map<string, number[]>(servers.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) for (const s of servers) got.get(s)!.push((await one(s)).instr);
  console.log(`UDP echo ${c.flows} sockets x ${c.inflight} in flight ${c.size} B: server instructions per datagram (user space, callgrind), ${requests} after ${requests} of warmup, ${rounds} interleaved round(s)`);
  // Noise (a GC or a deoptimization inside the window) only adds instructions: compare the least.
  const least = (s: string) => Math.min(...got.get(s)!);
  const base = servers[servers.length - 1]!;
  printTable(['server', 'instructions / datagram', 'least', `x ${base}`], servers.map((s) => [s, got.get(s)!.map((x) => Math.round(x)).join(', '), String(Math.round(least(s))), `${(least(s) / least(base)).toFixed(2)}x`]));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
