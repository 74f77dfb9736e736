// The compiled load generator (bench/loadgen/loadgen.c): built on first use into bench/dist/loadgen/
// with the system C compiler (gcc or cc; on Debian, installed with apt-get when absent and root),
// rebuilt when the source is newer. Tests never need it; the end-to-end suites use it as their
// primary generator, since a Node client saturates its own core before a fast server does.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// bench/dist/lib -> bench/loadgen/loadgen.c; the binary next to the compiled suites.
const source = join(here, '..', '..', 'loadgen', 'loadgen.c');
const binary = join(here, '..', 'loadgen', 'loadgen');
const udpSource = join(here, '..', '..', 'loadgen', 'udpgen.c');
const udpBinary = join(here, '..', 'loadgen', 'udpgen');
// Included by both sources: a change to it rebuilds both.
const header = join(here, '..', '..', 'loadgen', 'common.h');

function compiler(): string | null {
  for (const cc of ['gcc', 'cc', 'clang']) if (spawnSync(cc, ['--version']).status === 0) return cc;
  return null;
}

/**
 * The path of the built generator; builds it when needed and, with `install`, installs gcc on
 * Debian as root first. Throws when there is no compiler.
 */
export function loadgenPath(install = true): string {
  return build(source, binary, install);
}

/** The path of the built UDP generator (bench/loadgen/udpgen.c), built like loadgen. */
export function udpgenPath(install = true): string {
  return build(udpSource, udpBinary, install);
}

function build(source: string, binary: string, install: boolean): string {
  if (existsSync(binary) && statSync(binary).mtimeMs >= Math.max(statSync(source).mtimeMs, statSync(header).mtimeMs)) return binary;
  let cc = compiler();
  if (cc === null && install && process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0) {
    console.log('loadgen: no C compiler; installing gcc with apt-get');
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'gcc', 'libc6-dev'], { stdio: 'inherit' });
    cc = compiler();
  }
  if (cc === null) throw new Error(`loadgen: no C compiler (gcc, cc or clang) to build ${source}`);
  mkdirSync(dirname(binary), { recursive: true });
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', binary, source], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`loadgen: ${cc} failed to build ${source}`);
  return binary;
}

/** What one closed-loop run reports (one JSON line of the generator). */
export interface LoadgenResult {
  generator: string;
  requests: number;
  seconds: number;
  rps: number;
  p50us: number;
  p99us: number;
  p999us: number;
  /** The generator's own CPU, % of one core. */
  cpuPercent: number;
  errors: number;
  /** The server's CPU over the measured window (from /proc/PID/stat), µs per request. */
  serverCpuUsPerReq?: number;
  serverCpuPercent?: number;
  /** The server's read and write syscalls (from /proc/PID/io) per request. */
  serverReadsPerReq?: number;
  serverWritesPerReq?: number;
}

export interface LoadSpec {
  port: number;
  connections: number;
  inflight: number;
  size: number;
  duration: number;
  warmup: number;
  /** The server process, for its CPU and syscalls over the measured window. */
  pid?: number;
  /** Pin to this CPU with taskset. */
  cpu?: number;
  /** What the connections speak (default 'echo'): see the generator's usage in bench/loadgen/loadgen.c. */
  proto?: 'echo' | 'rpc-framed' | 'rpc-stream' | 'ws';
  /** The RPC method called with the payload (rpc-*; default 'echo', at most 31 bytes). */
  method?: string;
  /** The WebSocket upgrade path (ws; default '/'). */
  path?: string;
}

/** Runs `bin args` (on CPU `cpu` with taskset when given) and resolves with its one JSON line; rejects on a non-zero exit. */
function runOnce<R>(name: string, bin: string, args: string[], cpu: number | undefined): Promise<R> {
  const child = cpu !== undefined ? spawn('taskset', ['-c', String(cpu), bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${name} failed (exit ${code}): ${out.trim()}`));
      try {
        resolve(JSON.parse(out.trim()) as R);
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** Runs the generator once; rejects on a verification error or a failed connection. */
export function runLoadgen(spec: LoadSpec, pin: boolean): Promise<LoadgenResult> {
  const args = [
    '--port', String(spec.port), '--connections', String(spec.connections), '--inflight', String(spec.inflight),
    '--size', String(spec.size), '--duration', String(spec.duration), '--warmup', String(spec.warmup),
    ...(spec.pid !== undefined ? ['--pid', String(spec.pid)] : []),
    ...(spec.proto !== undefined ? ['--proto', spec.proto] : []),
    ...(spec.method !== undefined ? ['--method', spec.method] : []),
    ...(spec.path !== undefined ? ['--path', spec.path] : []),
  ];
  return runOnce<LoadgenResult>('loadgen', loadgenPath(), args, pin ? spec.cpu ?? 1 : undefined);
}

/**
 * Opens `connections` connections, one echo of `size` bytes each, and holds them; `ready` resolves
 * once all have answered. `end()` closes them (the generator exits).
 */
export function holdIdle(port: number, connections: number, size: number, pin: boolean): { ready: Promise<void>; end: () => Promise<void> } {
  const args = ['--idle', '--port', String(port), '--connections', String(connections), '--size', String(size)];
  const bin = loadgenPath();
  const child = pin ? spawn('taskset', ['-c', '1', bin, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"ready"')) resolve();
    });
    void exited.then((code) => reject(new Error(`loadgen --idle exited (${code}) before all connections answered`)));
  });
  return {
    ready,
    end: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** What one run of the UDP generator reports: a LoadgenResult plus loss. */
export interface UdpgenResult extends LoadgenResult {
  /** Datagrams unanswered within the timeout (each sent again) in the measured window. */
  lost: number;
  /** Late replies to datagrams already answered (after a resend). */
  duplicates: number;
}

export interface UdpLoadSpec {
  port: number;
  /** Connected UDP sockets, each with its own window. */
  flows: number;
  inflight: number;
  size: number;
  duration: number;
  warmup: number;
  /** A datagram unanswered this long is counted lost and sent again. Default 200 ms (a server descheduled on a shared machine is late, not lossy). */
  timeoutMs?: number;
  pid?: number;
  cpu?: number;
}

/** Runs the UDP generator once; rejects on a verification error or a socket failure. */
export function runUdpgen(spec: UdpLoadSpec, pin: boolean): Promise<UdpgenResult> {
  const args = [
    '--port', String(spec.port), '--flows', String(spec.flows), '--inflight', String(spec.inflight),
    '--size', String(spec.size), '--duration', String(spec.duration), '--warmup', String(spec.warmup),
    '--timeout-ms', String(spec.timeoutMs ?? 200),
    ...(spec.pid !== undefined ? ['--pid', String(spec.pid)] : []),
  ];
  return runOnce<UdpgenResult>('udpgen', udpgenPath(), args, pin ? spec.cpu ?? 1 : undefined);
}
