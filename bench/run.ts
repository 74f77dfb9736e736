// `npm run bench`: runs every benchmark suite, each in its own process so one suite's heap and JIT
// state cannot skew the next, then writes bench/results/latest.json (machine, Node, date, every
// figure with its median and spread), latest.md (the tables, each figure also as a ratio to its
// baseline from the same run) and latest.svg (the chart).
//   npm run bench -- echo rpc      only the named suites
//   npm run bench -- --quick       a brief smoke run of each suite; results go to bench/results/scratch/
//   npm run bench -- --out=DIR     write the results elsewhere
//   npm run bench -- --fresh       do not keep the other suites' figures (see below)
// A run of some suites replaces those suites' figures in latest.json and keeps the others' from
// earlier runs; every suite entry carries its own date, command and Node version, so each figure
// stays dated by the run that measured it (scripts/readme-figures.mjs prints those dates).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus, totalmem, platform, release, arch } from 'node:os';
import type { Figure } from './lib/results.js';
import { renderChart, chartMeta } from './lib/chart.js';
import { renderMarkdown, withRatios, type Results, type SuiteRun } from './lib/summary.js';
import { SKIPPED_EXIT_CODE } from './proxy/procs.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

interface Suite {
  name: string;
  entry: string;
  what: string;
}

const suites: Suite[] = [
  { name: 'linkbuffer', entry: 'linkbuffer/main.js', what: 'LinkBuffer vs bl and Buffer.concat (micro)' },
  { name: 'echo', entry: 'echo/main.js', what: 'echo servers: nocopy vs raw net, batching net servers, naive, bl (compiled generator)' },
  { name: 'curves', entry: 'curves/main.js', what: 'how cost grows: connections 1 to 10,000, payload 16 B to 1 MiB, in flight 1 to 256; memory per connection' },
  { name: 'readpath', entry: 'readpath/main.js', what: 'dialed read path: onread vs linked chunks' },
  { name: 'rpc', entry: 'rpc/main.js', what: 'RPC: nocopy-rpc vs grpc-js vs hand-written net+msgpackr (per reply and batching)' },
  { name: 'proxy', entry: 'proxy/main.js', what: 'TCP proxy in front of Redis: nocopy vs HAProxy vs pipe' },
  { name: 'session', entry: 'session/main.js', what: 'session API vs a hand-written onRequest; the timing wheel vs setInterval' },
  { name: 'messages', entry: 'messages/main.js', what: 'WebSocket and UDP echo: the session API vs plain ws and dgram' },
  { name: 'resp', entry: 'resp/main.js', what: 'Redis-protocol example server vs redis-server, driven by redis-benchmark' },
  { name: 'fleet', entry: 'fleet/main.js', what: 'the RPC client across many servers: pick cost 2 to 1,000 endpoints, 1,000 endpoints end to end, re-resolution under load' },
  { name: 'cluster', entry: 'cluster/main.js', what: 'RPC and echo behind runCluster(): 1 and 2 worker processes vs one process, server CPU per request' },
];

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--') && !a.startsWith('--out=') && a !== '--fresh');
const fresh = args.includes('--fresh');
const quick = flags.includes('--quick');
const outArg = args.find((a) => a.startsWith('--out='));
const names = args.filter((a) => !a.startsWith('--'));
const selected = names.length > 0 ? suites.filter((s) => names.includes(s.name)) : suites;
if (selected.length === 0 || selected.length !== names.length && names.length > 0) {
  console.error(`unknown suite(s) in ${names.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const outDir = outArg ? outArg.slice('--out='.length) : join(root, 'bench', 'results', quick ? 'scratch' : '');

const fmtTime = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

const scratch = mkdtempSync(join(tmpdir(), 'nocopy-bench-'));
const t0 = Date.now();
// 'skipped': the suite found a tool it needs missing and did not run (it exits with SKIPPED_EXIT_CODE);
// never counted as 'ok', so a smoke run can tell a suite that ran from one that did not.
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const status: SuiteRun[] = [];
try {
  for (const [i, suite] of selected.entries()) {
    const file = join(scratch, `${suite.name}.jsonl`);
    const started = Date.now();
    console.log(`\n[${i + 1}/${selected.length}] ${suite.name}: ${suite.what}  (total ${fmtTime(started - t0)})`);
    // A progress line while a long suite runs, on stderr so tables stay clean.
    const ticker = setInterval(() => {
      process.stderr.write(`  ... ${suite.name} running for ${fmtTime(Date.now() - started)} (total ${fmtTime(Date.now() - t0)})\n`);
    }, 30_000);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--expose-gc', join(here, suite.entry), ...flags], {
        stdio: 'inherit',
        env: { ...process.env, NOCOPY_BENCH_RESULTS: file },
      });
      child.on('exit', (c) => resolve(c));
    });
    clearInterval(ticker);
    const seconds = (Date.now() - started) / 1000;
    status.push({ name: suite.name, status: code === 0 ? 'ok' : code === SKIPPED_EXIT_CODE ? 'skipped' : 'failed', seconds, date: new Date(started).toISOString(), command, node: process.version });
    if (code === SKIPPED_EXIT_CODE) console.log(`[${i + 1}/${selected.length}] ${suite.name} SKIPPED: a tool it needs is missing (see above)`);
    else if (code !== 0) console.error(`suite ${suite.name} failed (exit ${code})`);
    else console.log(`[${i + 1}/${selected.length}] ${suite.name} done in ${fmtTime(seconds * 1000)}`);
  }

  // The figures of suites this run did not touch, from the results already there (unless --fresh).
  const previous = join(outDir, 'latest.json');
  const kept: Results | null = !fresh && existsSync(previous) ? JSON.parse(readFileSync(previous, 'utf8')) as Results : null;
  const keptSuites = (kept?.suites ?? []).filter((s) => !selected.some((x) => x.name === s.name) && suites.some((x) => x.name === s.name))
    .map((s) => ({ ...s, date: s.date ?? kept!.date, command: s.command ?? kept!.command, node: s.node ?? kept!.node, machine: s.machine ?? kept!.machine }));
  const figures: Figure[] = (kept?.figures ?? []).filter((f) => keptSuites.some((s) => s.name === f.suite)).map(({ ratio: _r, ...f }) => f);
  for (const s of selected) {
    const file = join(scratch, `${s.name}.jsonl`);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim() !== '') figures.push(JSON.parse(line) as Figure);
  }
  const cpu = cpus();
  const machine = {
    cpus: cpu.length,
    model: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: platform(),
    release: release(),
    arch: arch(),
  };
  const date = new Date().toISOString();
  for (const s of status) s.machine = machine;
  const allSuites = suites.map((s) => status.find((x) => x.name === s.name) ?? keptSuites.find((x) => x.name === s.name)).filter((s) => s !== undefined);
  const generators = [...new Set(figures.map((f) => f.generator).filter((g) => g !== undefined))];
  const result: Results = { date, command, quick, node: process.version, machine, generators, suites: allSuites, figures: withRatios(figures) };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(outDir, 'latest.md'), renderMarkdown(result));
  writeFileSync(join(outDir, 'latest.svg'), renderChart(figures, chartMeta(result)));
  console.log(`\nall suites done in ${fmtTime(Date.now() - t0)}; results: ${join(outDir, 'latest.{json,md,svg}')}${keptSuites.length > 0 ? ` (kept from earlier runs: ${keptSuites.map((s) => `${s.name} of ${s.date.slice(0, 10)}`).join(', ')})` : ''}`);
  if (!quick && outArg === undefined) console.log('the README\'s performance section: node scripts/readme-figures.mjs');
  process.exitCode = status.some((s) => s.status === 'failed') ? 1 : 0;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
