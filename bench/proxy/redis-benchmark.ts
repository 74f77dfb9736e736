// Runs redis-benchmark against a port and parses its --csv output. redis-benchmark 7 prints
//   "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
// older versions print only "test","rps": p99 is then NaN.
import { spawn } from 'node:child_process';
import { cpuMs, hasTaskset } from './procs.js';

export interface BenchRow {
  /** PING_INLINE, PING_MBULK, SET, GET. */
  test: string;
  rps: number;
  p50ms: number;
  p99ms: number;
}

export interface BenchOptions {
  port: number;
  tests: string;
  clients: number;
  requests: number;
  pipeline: number;
  /** Kill it after this long, in ms. */
  timeout: number;
  /** Value size for SET/GET (-d); redis-benchmark's default is 3 bytes. */
  dataSize?: number;
  /** Pin redis-benchmark to this CPU (taskset), where taskset exists. */
  cpu?: number;
}

export interface BenchRun {
  rows: BenchRow[];
  /** redis-benchmark's own CPU time (user + system) over the run, in ms, sampled from /proc (NaN elsewhere). */
  clientCpuMs: number;
  /** Wall time of the run, in ms. */
  wallMs: number;
}

/** Splits one CSV line of quoted fields ("a","b",...); redis-benchmark never quotes quotes. */
function fields(line: string): string[] {
  return line.split(',').map((f) => f.trim().replace(/^"|"$/g, ''));
}

export function parseCsv(out: string): BenchRow[] {
  const lines = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('"'));
  const header = lines.find((l) => l.startsWith('"test"'));
  if (header === undefined) throw new Error(`no CSV header in redis-benchmark output:\n${out}`);
  const cols = fields(header);
  const at = (name: string): number => cols.indexOf(name);
  const rows: BenchRow[] = [];
  for (const line of lines) {
    if (line === header) continue;
    const f = fields(line);
    const num = (name: string): number => (at(name) >= 0 ? Number(f[at(name)]) : NaN);
    rows.push({ test: f[at('test')]!, rps: num('rps'), p50ms: num('p50_latency_ms'), p99ms: num('p99_latency_ms') });
  }
  return rows;
}

export async function runRedisBenchmark(bin: string, o: BenchOptions): Promise<BenchRow[]> {
  return (await runRedisBenchmarkMeasured(bin, o)).rows;
}

export function runRedisBenchmarkMeasured(bin: string, o: BenchOptions): Promise<BenchRun> {
  const args = [
    '-h', '127.0.0.1', '-p', String(o.port),
    '-t', o.tests, '-c', String(o.clients), '-n', String(o.requests), '-P', String(o.pipeline),
    ...(o.dataSize !== undefined ? ['-d', String(o.dataSize)] : []),
    '--csv',
  ];
  const pinned = o.cpu !== undefined && hasTaskset;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = pinned ? spawn('taskset', ['-c', String(o.cpu), bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // The process's CPU, read while it runs (it cannot be read after it exits): at most the last
    // sampling interval is missed.
    let clientCpu = NaN;
    const sampler = setInterval(() => {
      const v = cpuMs(child.pid);
      if (!Number.isNaN(v)) clientCpu = v;
    }, 50);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeout);
    child.once('error', (e) => {
      clearTimeout(timer);
      clearInterval(sampler);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(sampler);
      if (code !== 0) {
        reject(new Error(`redis-benchmark ${args.join(' ')} failed (${code ?? signal}):\n${err}${out}`));
        return;
      }
      try {
        const rows = parseCsv(out);
        // redis-benchmark prints errors (e.g. a connection reset mid-run) on stderr but may still exit 0.
        if (rows.length === 0 || /error/i.test(err)) throw new Error(`redis-benchmark ${args.join(' ')}: ${err}${out}`);
        resolve({ rows, clientCpuMs: clientCpu, wallMs: performance.now() - started });
      } catch (e) {
        reject(e);
      }
    });
  });
}
