// Test helpers for Prometheus text: promtool's verdict, a sample's value, scraping an endpoint, and
// starting the CLIs. (Not a test file.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { until } from '@nocopy/test-kit';

export const rpcBin = fileURLToPath(new URL('../../../rpc-demo/bin/nocopy-rpc.js', import.meta.url));
export const proxyBin = fileURLToPath(new URL('../../../proxy/bin/nocopy-proxy.js', import.meta.url));

const havePromtool = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;
const why = 'promtool not found (Debian package prometheus; .ci/run installs it)';
/** node:test's skip option: the reason, except under CI where a missing tool fails (see promtoolCheck). */
export const skipWithoutPromtool: string | false = havePromtool || process.env.CI === 'true' ? false : why;
if (skipWithoutPromtool) console.log(`# ${skipWithoutPromtool}`);

/** `promtool check metrics` on `text`: its exit code and what it said. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  if (!havePromtool) throw new Error(why);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** The samples `name` whose labels include `labels`, by the value of their label `by`. */
export function samplesBy(text: string, name: string, by: string, labels: Record<string, string> = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (have[by] !== undefined && Object.entries(labels).every(([k, v]) => have[k] === v)) out.set(have[by]!, Number(m[3]));
  }
  return out;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

export interface Cli {
  child: ChildProcess;
  line: string;
  stop(): Promise<void>;
}

/** Starts `bin args` and waits for its startup line. */
export async function startCli(bin: string, args: string[]): Promise<Cli> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await until(() => out.includes('\n') || child.exitCode !== null, () => `the startup line of ${bin} (stderr: ${err})`, 15_000);
  if (!out.includes('\n')) throw new Error(`exited before its startup line: ${err}`);
  return {
    child,
    line: out.slice(0, out.indexOf('\n')),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
