// Child processes of the proxy suite: started, watched and always stopped (also on errors, Ctrl-C
// and SIGTERM), plus free ports, readiness checks and per-process CPU time from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything it printed, for error messages. */
  output(): string;
  /** Resolves when it has exited. */
  readonly exited: Promise<void>;
}

const running = new Set<Proc>();

/** Whether `taskset` works here (util-linux): CPU pinning is skipped, and said so, where it does not. */
export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/**
 * Starts `cmd`, pinned to CPU `cpu` when given (taskset execs the command: the pid is the command's);
 * its output is kept (not shown) for error messages.
 */
export function start(name: string, cmd: string, args: readonly string[], cpu?: number): Proc {
  const pinned = cpu !== undefined && hasTaskset;
  const child = pinned
    ? spawn('taskset', ['-c', String(cpu), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    if (out.length < 64 * 1024) out += d.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      out += `\n${String(err)}`;
      resolve();
    });
  });
  const proc: Proc = { name, child, output: () => out, exited };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** SIGTERM to every child still running, SIGKILL to those left after 2 s. */
export async function stopAll(): Promise<void> {
  const procs = [...running];
  for (const p of procs) p.child.kill('SIGTERM');
  const all = Promise.all(procs.map((p) => p.exited));
  const late = await Promise.race([all.then(() => false), sleep(2000).then(() => true)]);
  if (late) for (const p of running) p.child.kill('SIGKILL');
  await Promise.race([all, sleep(1000)]);
}

/** On Ctrl-C, SIGTERM or an exit in the middle, children are not left behind. */
export function installCleanup(extra: () => void): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\nproxy bench: ${signal}, stopping child processes`);
    void stopAll().finally(() => {
      extra();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const p of running) p.child.kill('SIGKILL');
    extra();
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot report port 0). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Resolves once something accepts connections on 127.0.0.1:port; rejects if `proc` exits first. */
export async function waitForPort(port: number, proc: Proc, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before listening:\n${proc.output()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} not listening on port ${port} after ${ms} ms:\n${proc.output()}`);
    await sleep(50);
  }
}

/** Waits for a "listening on HOST:PORT" line on the process's output and returns the port. */
export async function waitForListenLine(proc: Proc, ms = 10_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = /listening on [^\s,]*:(\d+)/.exec(proc.output());
    if (m !== null) return Number(m[1]);
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited before listening:\n${proc.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`${proc.name} printed no listening line after ${ms} ms:\n${proc.output()}`);
    await sleep(20);
  }
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
})();

/** User + system CPU time of a process so far, in ms (Linux /proc); NaN where unavailable. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces, hence the last ')').
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1000;
  } catch {
    return NaN;
  }
}

/** The number of threads of a running process (Linux /proc), NaN where unavailable. */
export function threads(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? NaN : Number(m[1]);
  } catch {
    return NaN;
  }
}

/** The CPUs a process may run on, as the kernel reports them ('0', '0-1'), or '?' where unavailable. */
export function cpusAllowed(pid: number | undefined): string {
  if (pid === undefined) return '?';
  try {
    return /^Cpus_allowed_list:\s+(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

/** The first line a command prints for `args` (a version banner), or '' if it fails. */
export function firstLine(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim();
}

/**
 * The exit code of a suite that did not run because a tool it compares against is missing:
 * bench/run.ts records it as `skipped`, never `ok` (77 is the automake convention for a skip).
 */
export const SKIPPED_EXIT_CODE = 77;

/** The full path of `cmd` on PATH (like `which`), or null. */
export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}
