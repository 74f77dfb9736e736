// Test helpers for Prometheus text: promtool's verdict, a sample's value, scraping an endpoint, and
// starting the CLIs. (Not a test file.)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

/** Each sample line of `text`: its name, its labels and its value (comments skipped). */
function* samples(text: string): Generator<{ name: string; labels: Record<string, string>; value: number }> {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    yield { name: m[1]!, labels, value: Number(m[3]) };
  }
}

const hasAll = (have: Record<string, string>, want: Record<string, string>): boolean => Object.entries(want).every(([k, v]) => have[k] === v);

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const s of samples(text)) if (s.name === name && hasAll(s.labels, labels)) return s.value;
  return undefined;
}

/** The samples `name` whose labels include `labels`, by the value of their label `by`. */
export function samplesBy(text: string, name: string, by: string, labels: Record<string, string> = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples(text)) if (s.name === name && s.labels[by] !== undefined && hasAll(s.labels, labels)) out.set(s.labels[by]!, s.value);
  return out;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

// startCli(bin, args): the CLI started, its startup line awaited, stop() to end it.
export { startCli, type RunningCli as Cli } from '@nocopy/test-kit';
