// A CLI under test, spawned with the running Node: its output collected, its startup line awaited.
// Shared by the proxy's CLI test, the otel endpoint tests and the cross-package CLI tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { until } from './index.js';

export interface RunningCli {
  child: ChildProcess;
  /** The first stdout line (the startup line). */
  line: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM unless it has exited; resolves at its exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `node script ...args` and waits (at most `ms`) for its first stdout line. Kills the child
 * and rejects, with its stderr, when it exits or times out before that line.
 */
export async function startCli(script: string, args: string[], ms = 15_000): Promise<RunningCli> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    await until(() => out.includes('\n') || child.exitCode !== null, () => `the startup line of ${script} (stderr: ${err})`, ms);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  if (!out.includes('\n')) throw new Error(`exited before its startup line: stderr ${JSON.stringify(err)}`);
  return {
    child,
    line: out.slice(0, out.indexOf('\n')),
    stdout: () => out,
    stderr: () => err,
    exit,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exit;
    },
  };
}
