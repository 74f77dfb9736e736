// Server and load processes of the end-to-end suites: node pinned to a CPU where taskset exists
// (server on 0, load on 1), the IPC a server process answers, and the CPU reading it reports.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** A fixed young generation: left to V8's sizing, runs of the same code differed by 40% (bench/rpc README). */
export const V8_FLAGS = ['--max-semi-space-size=16', '--min-semi-space-size=16'];

/** `node ...args` pinned to `cpu`; with `ipc` an IPC channel (stdout inherited), else stdout piped. */
export function pinnedNode(cpu: number, args: string[], ipc: boolean, v8Flags: readonly string[] = V8_FLAGS): ChildProcess {
  const stdio: ('ignore' | 'pipe' | 'inherit' | 'ipc')[] = ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'];
  const full = [...v8Flags, ...args];
  return hasTaskset ? spawn('taskset', ['-c', String(cpu), process.execPath, ...full], { stdio }) : spawn(process.execPath, full, { stdio });
}

/** The next IPC message of `child`; rejects if it exits first. */
export function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
}

export interface ServerCpu {
  cpuUserMs: number;
  cpuSystemMs: number;
  maxRssKiB: number;
}

/**
 * In a server process: 'start' takes a CPU reading, 'stop' replies with the CPU used since and the
 * peak RSS, then exits. Call once the server listens, with what to send the parent first ({ port }).
 */
export function answerCpuOverIpc(hello: unknown): void {
  let cpu0 = process.cpuUsage();
  process.on('message', (msg: string) => {
    if (msg === 'start') cpu0 = process.cpuUsage();
    if (msg === 'stop') {
      const cpu = process.cpuUsage(cpu0);
      const report: ServerCpu = { cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, maxRssKiB: process.resourceUsage().maxRSS };
      process.send!(report, () => process.exit(0));
    }
  });
  process.send!(hello);
}

/**
 * One measured run: the server process (`serverArgs`, pinned to CPU 0, answering over IPC) and a
 * load process (`loadArgs(port)`, pinned to CPU 1) whose stdout is collected; the server's CPU covers
 * the load's whole run. Throws if the load exits with a failure.
 */
export async function serveAndLoad(serverArgs: string[], loadArgs: (port: number) => string[], what: string, v8Flags: readonly string[] = V8_FLAGS): Promise<{ out: string; server: ServerCpu }> {
  const srv = pinnedNode(0, serverArgs, true, v8Flags);
  const { port } = await nextMessage<{ port: number }>(srv);
  srv.send('start');
  const load = pinnedNode(1, loadArgs(port), false, v8Flags);
  let out = '';
  load.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => load.on('exit', resolve));
  const stats = nextMessage<ServerCpu>(srv);
  srv.send('stop');
  const server = await stats;
  if (code !== 0) throw new Error(`the load failed against ${what} (exit ${code})`);
  return { out, server };
}
