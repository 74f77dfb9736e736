// Server instructions under valgrind's callgrind, for the instructions scripts of bench/echo and
// bench/messages: a suite's servers.js runs under callgrind on CPU 0, a compiled generator on CPU 1
// opens a counted window after a warmup, zeroing the counters at its start (callgrind_control -z)
// and dumping them at its end (-d). Steadier than CPU time on a shared machine.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { V8_FLAGS, hasTaskset, nextMessage } from './processes.js';

const pin = (cpu: number, cmd: string[]) => (hasTaskset ? ['taskset', '-c', String(cpu), ...cmd] : cmd);

/** Exits with a message when valgrind is missing (the scripts need it). */
export function requireValgrind(): void {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('instructions: valgrind not found');
    process.exit(1);
  }
}

/** The counted window's options of both generators: `requests` after as many of warmup, edges to callgrind. */
export function countedWindow(requests: number, pid: number): string[] {
  return ['--warmup-requests', String(requests), '--requests', String(requests), '--pid', String(pid),
    '--on-start', `callgrind_control -z ${pid} >/dev/null`, '--on-end', `callgrind_control -d ${pid} >/dev/null`];
}

/** A directory of callgrind dumps, removed by `[Symbol.dispose]`. */
export class Callgrind {
  readonly dir = mkdtempSync(join(tmpdir(), 'nocopy-callgrind-'));

  /**
   * Runs `servers.js server` (the suite's server protocol over IPC: { port, pid }, 'start', 'stop')
   * under callgrind and `generator(port, pid)` against it. Returns the instructions counted in the
   * window and the generator's JSON result.
   */
  async run<R>(serversJs: string, server: string, generator: (port: number, pid: number) => string[]): Promise<{ instructions: number; result: R }> {
    const cmd = pin(0, ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${this.dir}/${server}.%p`, process.execPath, ...V8_FLAGS, serversJs, server]);
    const srv = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'inherit', 'ignore', 'ipc'] });
    const { port, pid } = await nextMessage<{ port: number; pid: number }>(srv);
    srv.send('start');
    const g = pin(1, generator(port, pid));
    const r = spawnSync(g[0]!, g.slice(1), { encoding: 'utf8' });
    const stopped = nextMessage<unknown>(srv);
    srv.send('stop');
    await stopped.catch(() => {});
    if (r.status !== 0) throw new Error(`${g[0]} failed against ${server}: ${r.stdout}${r.stderr}`);
    const result = JSON.parse(r.stdout.trim()) as R;
    const dump = readdirSync(this.dir).filter((f) => f.startsWith(`${server}.${pid}.`)).sort().pop();
    const total = dump ? /(?:summary|totals): (\d+)/.exec(readFileSync(join(this.dir, dump), 'utf8')) : null;
    if (total === null) throw new Error(`no callgrind dump for ${server}`);
    return { instructions: Number(total[1]), result };
  }

  [Symbol.dispose](): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

