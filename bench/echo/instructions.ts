// Server instructions per request (user space) under valgrind's callgrind: steadier than CPU time on
// a shared machine. Each server runs under callgrind; the compiled generator opens a counted window
// after a warmup, zeroing the counters at its start and dumping them at its end.
//   node bench/dist/echo/instructions.js [--servers=raw,append,...] [--case=2] [--requests=50000] [--rounds=2]
// Not part of `npm run bench` (it takes minutes); needs valgrind.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadgenPath, type LoadgenResult } from '../lib/loadgen.js';
import { V8_FLAGS, hasTaskset, nextMessage } from '../lib/processes.js';
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

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('instructions: valgrind not found');
  process.exit(1);
}
const gen = loadgenPath();
const dir = mkdtempSync(join(tmpdir(), 'nocopy-callgrind-'));
const pin = (cpu: number, cmd: string[]) => (hasTaskset ? ['taskset', '-c', String(cpu), ...cmd] : cmd);

async function one(server: string): Promise<{ instr: number; reads: number }> {
  const cmd = pin(0, ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${dir}/${server}.%p`, process.execPath, ...V8_FLAGS, join(here, 'servers.js'), server]);
  const srv = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'inherit', 'ignore', 'ipc'] });
  const { port, pid } = await nextMessage<{ port: number; pid: number }>(srv);
  srv.send('start');
  const g = pin(1, [gen, '--port', String(port), '--connections', String(c.connections), '--inflight', String(c.inflight), '--size', String(c.size),
    '--warmup-requests', String(requests), '--requests', String(requests), '--pid', String(pid),
    '--on-start', `callgrind_control -z ${pid} >/dev/null`, '--on-end', `callgrind_control -d ${pid} >/dev/null`]);
  const r = spawnSync(g[0]!, g.slice(1), { encoding: 'utf8' });
  const stopped = nextMessage<unknown>(srv);
  srv.send('stop');
  await stopped.catch(() => {});
  if (r.status !== 0) throw new Error(`loadgen failed against ${server}: ${r.stdout}${r.stderr}`);
  const res = JSON.parse(r.stdout.trim()) as LoadgenResult;
  const dump = readdirSync(dir).filter((f) => f.startsWith(`${server}.${pid}.`)).sort().pop();
  const total = dump ? /(?:summary|totals): (\d+)/.exec(readFileSync(join(dir, dump), 'utf8')) : null;
  if (total === null) throw new Error(`no callgrind dump for ${server}`);
  return { instr: Number(total[1]) / res.requests, reads: res.serverReadsPerReq ?? NaN };
}

try {
  const got = new Map<string, { instr: number; reads: number }[]>(servers.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) for (const s of servers) got.get(s)!.push(await one(s));
  console.log(`${c.name}: server instructions per request (user space, callgrind), ${requests} requests after ${requests} of warmup, ${rounds} interleaved round(s)`);
  // Noise (a GC or a deoptimization inside the window) only adds instructions: compare the least.
  const least = (s: string) => Math.min(...got.get(s)!.map((x) => x.instr));
  printTable(['server', 'instructions / request', 'least', 'x raw', 'reads / request'], servers.map((s) => {
    const xs = got.get(s)!;
    return [s, xs.map((x) => Math.round(x.instr)).join(', '), String(Math.round(least(s))), got.has('raw') ? `${(least(s) / least('raw')).toFixed(2)}x` : '', xs.map((x) => x.reads.toFixed(3)).join(', ')];
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
