// Spawning the CLIs as a user's shell would: through the bin shims npm links into node_modules/.bin.
import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { startCli, type RunningCli } from '@nocopy/test-kit';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const rpcBin = fileURLToPath(new URL('../../../packages/rpc-demo/bin/nocopy-rpc.js', import.meta.url));
export const proxyBin = fileURLToPath(new URL('../../../packages/proxy/bin/nocopy-proxy.js', import.meta.url));

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin args` to its end (killed after 20 s). */
export function run(bin: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export type Running = RunningCli;

/** Starts a long-running command and waits for its first stdout line. */
export const start = (bin: string, args: string[]): Promise<Running> => startCli(bin, args);

/** A port something listens on (the returned server, which the caller closes). */
export async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: (s.address() as AddressInfo).port, close: () => new Promise((resolve) => s.close(() => resolve())) };
}

// deadPort(): a port nothing listens on (bound once, then closed).
export { deadPort } from '@nocopy/test-kit';

/** No stack trace: no line of the form "    at fn (file:line:col)". */
export const stackLine = /^\s+at /m;

/**
 * The check of a usage error for the CLI `name`: exit code 2, nothing on stdout, and exactly the
 * message line and the hint on stderr.
 */
export function usageChecker(name: string): (r: Result, message: string | RegExp, hint?: string) => void {
  return (r, message, hint = `Try '${name} --help'.`) => {
    const prefix = `${name}: `;
    if (typeof message === 'string') assert.equal(r.stderr, `${prefix}${message}\n${hint}\n`);
    else {
      // Messages worded by parseArgs (they vary between Node versions): the start, on one line.
      const [line, second, rest] = r.stderr.split('\n');
      assert.match(line!.slice(prefix.length), message);
      assert.deepEqual([line!.slice(0, prefix.length), second, rest], [prefix, hint, '']);
    }
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
  };
}
