// The servers of the proxy suite, each its own process on 127.0.0.1: redis-server (the real
// upstream), and in front of it the nocopy proxy (the built nocopy-proxy CLI), the naive pipe proxy,
// the raw proxy (the cheapest on Node's public API: the floor) and HAProxy in TCP mode.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Proc, freePort, start, threads, waitForListenLine, waitForPort } from './procs.js';

export interface Target {
  /** 'direct' is redis itself; the others are proxies in front of it. */
  readonly name: 'direct' | 'haproxy' | 'pipe' | 'raw' | 'nocopy';
  readonly port: number;
  /** The process whose CPU time is the proxy's cost (for direct: redis-server). */
  readonly proc: Proc;
}

export async function startRedis(bin: string, dir: string): Promise<Target> {
  const port = await freePort();
  const proc = start('redis-server', bin, [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--dir', dir,
    '--logfile', '',
  ]);
  await waitForPort(port, proc);
  return { name: 'direct', port, proc };
}

/** The nocopy proxy: the CLI from packages/proxy, default options; pinned to `cpu` when given. */
export async function startNocopy(cli: string, upstreamPort: number, cpu?: number): Promise<Target> {
  const proc = start('nocopy-proxy', process.execPath, [cli, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`], cpu);
  const port = await waitForListenLine(proc);
  return { name: 'nocopy', port, proc };
}

/** The raw proxy (raw-proxy.ts): what Node's public API costs with nothing on top. */
export async function startRaw(script: string, upstreamPort: number, cpu?: number): Promise<Target> {
  const proc = start('raw-proxy', process.execPath, [script, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`], cpu);
  const port = await waitForListenLine(proc);
  return { name: 'raw', port, proc };
}

export async function startPipe(script: string, upstreamPort: number, cpu?: number): Promise<Target> {
  const proc = start('pipe-proxy', process.execPath, [script, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`], cpu);
  const port = await waitForListenLine(proc);
  return { name: 'pipe', port, proc };
}

/**
 * HAProxy in TCP mode with a minimal generated config: one frontend, one backend, the usual
 * timeouts. One thread (`nbthread 1`), like the single event loop of the Node proxies; HAProxy would
 * default to one thread per CPU. Runs in the foreground (-db), pinned to `cpu` when given. Once it
 * listens, its thread count is read from /proc: anything but 1 is an error, not a silent unfair row.
 */
export async function startHaproxy(bin: string, dir: string, upstreamPort: number, cpu?: number): Promise<Target> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '    maxconn 4096',
      '    nbthread 1',
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout client 60s',
      '    timeout server 60s',
      'frontend bench',
      `    bind 127.0.0.1:${port}`,
      '    default_backend redis',
      'backend redis',
      `    server redis1 127.0.0.1:${upstreamPort}`,
      '',
    ].join('\n'),
  );
  const proc = start('haproxy', bin, ['-f', cfg, '-db'], cpu);
  await waitForPort(port, proc);
  const n = threads(proc.child.pid);
  if (!Number.isNaN(n) && n !== 1) throw new Error(`haproxy runs ${n} threads, expected 1 (nbthread 1):\n${proc.output()}`);
  return { name: 'haproxy', port, proc };
}
