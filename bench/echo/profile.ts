// Where an echo server's CPU goes, by layer: the server runs under `node --cpu-prof` while the
// compiled generator loads it, and the profile's self time is summed per layer: Node's stream
// machinery (Writable/Readable), net.Socket, the native socket calls (writev, writeBuffer, reading),
// @nocopy/transport, @nocopy/linkbuffer, the handler, GC, the rest. Used to answer issue 29's item 3:
// is Node's Writable per batch the remaining cost above raw, and what would writing through the
// socket handle save? Not part of `npm run bench`.
//   node bench/dist/echo/profile.js [--servers=raw,append] [--connections=50] [--inflight=16] [--size=128] [--seconds=4]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoadgen } from '../lib/loadgen.js';
import { V8_FLAGS, hasTaskset, nextMessage, pinnedNode } from '../lib/processes.js';
import { printTable } from '../lib/table.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string, def: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const servers = opt('servers', 'raw,append').split(',');
const spec = { connections: Number(opt('connections', '50')), inflight: Number(opt('inflight', '16')), size: Number(opt('size', '128')) };
const seconds = Number(opt('seconds', '4'));

interface ProfileNode { id: number; callFrame: { functionName: string; url: string }; hitCount?: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** The layer a function's self time belongs to. */
function layer(fn: string, url: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle (epoll wait)';
  if (fn === '(program)') return 'native, unattributed (libuv, syscalls, V8)';
  if (url.startsWith('node:internal/streams/')) return 'Node streams (Writable/Readable)';
  if (url === 'node:net' || url.startsWith('node:internal/stream_base_commons')) return 'net.Socket + stream_base_commons';
  if (url === '' && /^(writev|writeBuffer|writeUtf8String|writeLatin1String|readStart|readStop|shutdown)$/.test(fn)) return `native ${fn}`;
  if (url.includes('/transport/')) return '@nocopy/transport';
  if (url.includes('/linkbuffer/')) return '@nocopy/linkbuffer';
  if (url.includes('/echo/servers')) return 'handler (servers.js)';
  if (url.startsWith('node:')) return `other node: (${url.replace('node:internal/', '')})`;
  return url === '' ? `native ${fn || '(anonymous)'}` : 'other';
}

async function one(server: string): Promise<{ cpuUsPerReq: number; busyUs: number; byLayer: Map<string, number>; top: [string, number][] }> {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-cpuprof-'));
  try {
    const srv = pinnedNode(0, [join(here, 'servers.js'), server], true, [...V8_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100']);
    const { port, pid } = await nextMessage<{ port: number; pid: number }>(srv);
    srv.send('start');
    const gen = await runLoadgen({ port, pid, ...spec, duration: seconds, warmup: 1, cpu: 1 }, hasTaskset);
    const exited = new Promise((resolve) => srv.on('exit', resolve));
    srv.send('stop');
    await exited;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no profile from ${server}`);
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    // Self time per node from the samples and their time deltas (µs).
    const self = new Map<number, number>();
    for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
    const byLayer = new Map<string, number>();
    const byFn = new Map<string, number>();
    for (const n of p.nodes) {
      const t = self.get(n.id) ?? 0;
      if (t === 0) continue;
      const l = layer(n.callFrame.functionName, n.callFrame.url);
      byLayer.set(l, (byLayer.get(l) ?? 0) + t);
      const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(packages|bench)\//, '')}`;
      byFn.set(key, (byFn.get(key) ?? 0) + t);
    }
    // The profile spans the process's whole life (startup and warmup too): its shares of busy time,
    // applied to the server CPU per request the generator read from /proc over the measured window.
    const busy = [...byLayer].filter(([l]) => !l.startsWith('idle')).reduce((a, [, t]) => a + t, 0);
    return { cpuUsPerReq: gen.serverCpuUsPerReq ?? NaN, busyUs: busy, byLayer, top: [...byFn].filter(([f]) => !f.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 15) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = new Map<string, Awaited<ReturnType<typeof one>>>();
for (const s of servers) results.set(s, await one(s));
const layers = [...new Set([...results.values()].flatMap((r) => [...r.byLayer.keys()]))].filter((l) => !l.startsWith('idle'));
const share = (s: string, t: number) => (t / results.get(s)!.busyUs) * results.get(s)!.cpuUsPerReq * 1000;
const per = (s: string, l: string) => share(s, results.get(s)!.byLayer.get(l) ?? 0);
layers.sort((a, b) => per(servers[servers.length - 1]!, b) - per(servers[servers.length - 1]!, a));
console.log(`${spec.connections} conns x${spec.inflight} in flight, ${spec.size} B: server CPU per request (from /proc, under the profiler) split by the profile's self time per layer, ns`);
printTable(['layer', ...servers], [...layers.filter((l) => servers.some((s) => per(s, l) >= 1)).map((l) => [l, ...servers.map((s) => per(s, l).toFixed(0))]),
  ['server CPU per request', ...servers.map((s) => (results.get(s)!.cpuUsPerReq * 1000).toFixed(0))]]);
for (const s of servers) {
  console.log(`\n${s}: top functions by self time, ns per request`);
  printTable(['function', 'ns/req'], results.get(s)!.top.map(([f, t]) => [f, share(s, t).toFixed(0)]));
}
