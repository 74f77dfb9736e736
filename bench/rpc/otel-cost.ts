// The server-side cost of @nocopy/otel in instructions per call, counted by valgrind's callgrind:
// unlike CPU time, an instruction count does not move with what else the machine runs. Each variant
// of bench/rpc/servers.ts (nocopy, otel-off, otel-off-sdk, otel-all, otel-metrics) runs under
// callgrind with instrumentation off; a client here warms it up, then instrumentation goes on for a
// fixed number of calls and the count is dumped. The client works in lockstep: 32 requests (echo of a
// 128 B Buffer) in one write, the next write once the 32 replies are in, so that every variant reads
// the same batches however much valgrind slows it (with a free-running client, batch sizes followed
// the server's speed and the counts moved by 5% between two runs of one variant).
//
// One more variant runs here, not in servers.ts: otel-endpoint, the server as `nocopy-rpc serve
// --metrics` runs it (serveMetrics of @nocopy/otel/prometheus: the server's stats and the RPC
// duration histograms kept by the endpoint itself), what the --metrics flag adds per call.
//
// Usage: node bench/dist/rpc/otel-cost.js [--calls=20000] [--warmup=20000] [--modes=nocopy,otel-off]
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { Packr } from 'msgpackr';
import { printTable } from '../lib/table.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const calls = Number(flag('calls', '20000'));
const warmup = Number(flag('warmup', '20000'));
const modes = flag('modes', 'nocopy,otel-ctx,channel-end,otel-off,otel-off-sdk,otel-all,otel-metrics,otel-endpoint').split(',');
const labels: Record<string, string> = {
  nocopy: 'no instrumentation (not installed)',
  'otel-off': 'sampling off (traceRoots: false)',
  'otel-off-sdk': 'sampler off, non-recording spans',
  'otel-all': 'every call sampled',
  'otel-metrics': 'duration histograms only, through the metrics API',
  'otel-endpoint': 'serveMetrics (what --metrics adds)',
  'otel-ctx': 'OpenTelemetry set up, not instrumentRpc',
  'channel-end': 'one no-op end subscriber on the server channel',
};

const BATCH = 32;

/** One write of BATCH framed requests [0, id, "echo", [payload]], ids 0..BATCH-1 (each answered before it is reused). */
function batch(): Buffer {
  const packr = new Packr({ useRecords: false });
  const payload = Buffer.alloc(128, 7);
  return Buffer.concat(Array.from({ length: BATCH }, (_, id) => {
    const body = packr.pack([0, id, 'echo', [payload]]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    return Buffer.concat([head, body]);
  }));
}

/** `n` calls (rounded up to whole batches) in lockstep batches over one connection. */
async function load(port: number, n: number): Promise<void> {
  const requests = batch();
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  // The replies of a batch have a fixed size (same ids, same payload): learnt from the first.
  let replyBytes = 0;
  let got = 0;
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    got += d.length;
    wake?.();
  });
  const expectReplies = async (): Promise<void> => {
    if (replyBytes === 0) {
      // 4-byte length + [1, id, nil, bin8 128] = 4 + 1 + 1 + 1 + 1 + 2 + 128 for ids under 128.
      replyBytes = BATCH * (4 + 4 + 2 + 128);
    }
    while (got < replyBytes) await new Promise<void>((r) => (wake = r));
    if (got !== replyBytes) throw new Error(`got ${got} reply bytes for a batch, expected ${replyBytes}`);
    got = 0;
  };
  for (let done = 0; done < n; done += BATCH) {
    socket.write(requests);
    await expectReplies();
  }
  socket.destroy();
}

function callgrind(args: string[]): void {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

async function measure(mode: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-otel-cost-'));
  try {
    const script = mode === 'otel-endpoint' ? [fileURLToPath(import.meta.url), '--serve'] : [join(here, 'servers.js'), mode];
    const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'cg.%p')}`, process.execPath, '--single-threaded', '--min-semi-space-size=16', '--max-semi-space-size=16', ...script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const [m] = (await once(child, 'message')) as [{ port: number }];
    await load(m.port, warmup);
    callgrind(['-i', 'on', String(child.pid)]);
    await load(m.port, calls);
    callgrind(['--dump', String(child.pid)]);
    child.send('exit');
    await once(child, 'exit');
    // The dump(s) made while instrumented: the "totals:" line of each (the final one at exit counts nothing new).
    let ir = 0;
    for (const f of readdirSync(dir)) {
      const t = /^(?:totals|summary): (\d+)/m.exec(readFileSync(join(dir, f), 'utf8'));
      if (t !== null) ir = Math.max(ir, Number(t[1]));
    }
    return ir / calls;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`server instructions per call (callgrind), ${calls} calls of echo(128 B) at 32 in flight after ${warmup} warm-up calls`);
  const rows: Array<[string, number]> = [];
  for (const mode of modes) rows.push([mode, await measure(mode)]);
  const base = rows.find(([m]) => m === 'nocopy')?.[1];
  printTable(
    ['server', 'instructions/call', 'vs none'],
    rows.map(([m, ir]) => [labels[m] ?? m, ir.toFixed(0), base === undefined || m === 'nocopy' ? '' : `${ir >= base ? '+' : ''}${(((ir - base) / base) * 100).toFixed(1)}%`]),
  );
  const off = rows.find(([m]) => m === 'otel-off')?.[1];
  if (base !== undefined && off !== undefined) {
    const pct = ((off - base) / base) * 100;
    console.log(`sampling off: ${pct >= 0 ? '+' : ''}${pct.toFixed(1)}% server instructions per call  ${pct <= 5 ? 'PASS' : 'MISS'} (target <= +5%)`);
  }
}

/** The otel-endpoint server (run as `otel-cost.js --serve`, under callgrind): servers.ts's protocol, { port } then 'exit'. */
async function serve(): Promise<void> {
  const [{ createServer }, { serveMetrics }] = await Promise.all([import('@nocopy/rpc-demo'), import('@nocopy/otel/prometheus')]);
  const server = createServer({ framing: 'framed' });
  server.register('echo', (payload: Buffer) => payload);
  const addr = (await server.listen({ port: 0, host: '127.0.0.1' })) as net.AddressInfo;
  await serveMetrics({ port: 0, observe: [server] });
  process.on('message', (m) => {
    if (m === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ port: addr.port });
}

(argv.includes('--serve') ? serve() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
