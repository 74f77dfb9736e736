// The README's performance figures are generated from bench/results/latest.json by
// scripts/readme-figures.mjs: this checks that the README says exactly what the results file says
// (a hand-edited figure or a results file re-run without regenerating fails), and that every echo row
// carries the figures that make it honest: server CPU and syscalls per request, the rate, and the
// generator's share of its core. The second generator (the Node client) gets its own table, its
// ratios to raw beside the compiled generator's with an agreement mark, or a line saying it was not
// measured. No benchmark runs here; it reads and writes small files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'scripts', 'readme-figures.mjs');
const readmeFile = join(root, 'README.md');
const resultsFile = join(root, 'bench', 'results', 'latest.json');
const BEGIN = '<!-- readme-figures:begin';
const END = '<!-- readme-figures:end -->';

function check(readme: string, results: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [script, '--check', `--readme=${readme}`, `--results=${results}`], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** Rewrites `readme` from `results` with the generator, returning the new README text. */
function generate(dir: string, readme: string, results: unknown): string {
  writeFileSync(join(dir, 'README.md'), readme);
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(results));
  const r = spawnSync(process.execPath, [script, `--readme=${join(dir, 'README.md')}`, `--results=${join(dir, 'latest.json')}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(join(dir, 'README.md'), 'utf8');
}

/** The rows of the table whose header starts with `header`, up to the next blank line. */
function tableRows(text: string, header: string): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(header));
  if (at < 0) return [];
  const end = lines.findIndex((l, i) => i > at && !l.startsWith('|'));
  return lines.slice(at + 2, end < 0 ? undefined : end);
}

const MAIN = '| case | server | server CPU µs / request | req/s';
const SECOND = '| case | server | server CPU µs / request (x raw) | CPU ratio';
const NODE = ' (node client)';

function section(readme: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  assert.ok(a >= 0 && b > a, 'README.md has the readme-figures markers');
  return readme.slice(a, b);
}

interface Figure { suite: string; group: string; subject: string; metric: string; median: number; rounds: number; generator?: string }
interface Results { quick: boolean; date: string; machine: { model: string; release: string }; suites: { name: string; date?: string; node?: string }[]; figures: Figure[] }

test('the README performance section is exactly what latest.json generates', () => {
  const r = check(readmeFile, resultsFile);
  assert.equal(r.status, 0, r.stderr);
});

test('a hand-edited figure or a changed results file is caught', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-readme-figures-'));
  try {
    const readme = readFileSync(readmeFile, 'utf8');
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as Results;
    // One digit inside the generated section changed by hand.
    const a = readme.indexOf(BEGIN);
    const row = readme.indexOf('\n| ', a);
    const digit = readme.slice(row).search(/\d/) + row;
    const edited = readme.slice(0, digit) + String((Number(readme[digit]) + 1) % 10) + readme.slice(digit + 1);
    writeFileSync(join(dir, 'README.md'), edited);
    writeFileSync(join(dir, 'latest.json'), JSON.stringify(results));
    const hand = check(join(dir, 'README.md'), join(dir, 'latest.json'));
    assert.equal(hand.status, 1, 'a hand-edited figure passed the check');
    assert.match(hand.stderr, /does not match/);
    // The README untouched, the results re-measured: the README is stale.
    writeFileSync(join(dir, 'README.md'), readme);
    const f = results.figures.find((x) => x.suite === 'echo' && x.metric === 'server CPU µs/req')!;
    f.median *= 1.5;
    writeFileSync(join(dir, 'latest.json'), JSON.stringify(results));
    assert.equal(check(join(dir, 'README.md'), join(dir, 'latest.json')).status, 1, 'a stale README passed the check');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every echo row shows server CPU, the rate, syscalls and the generator share, from the compiled generator', () => {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as Results;
  assert.equal(results.quick, false, 'latest.json comes from a --quick run');
  const echo = results.figures.filter((f) => f.suite === 'echo' && f.metric === 'req/s');
  assert.ok(echo.length > 0, 'no echo figures in latest.json');
  for (const f of echo) assert.match(f.generator ?? '', /^loadgen/, `${f.group} / ${f.subject}: not measured by the compiled generator`);
  const text = section(readFileSync(readmeFile, 'utf8'));
  const run = results.suites.find((s) => s.name === 'echo')!;
  assert.ok(text.includes(`measured ${(run.date ?? results.date).slice(0, 10)}`), 'the section names the date of the echo run');
  assert.ok(text.includes(results.machine.model) && text.includes(results.machine.release), 'the section names the machine and kernel');
  assert.ok(text.includes('loadgen'), 'the section names the generator');
  const rows = tableRows(text, MAIN);
  assert.equal(rows.length, echo.length, 'one row per echo server and case');
  for (const row of rows) {
    const cells = row.split(' | ');
    assert.equal(cells.length, 6, row);
    for (const c of cells.slice(2)) assert.match(c, /\d/, `a missing figure in: ${row}`);
    const gen = Number(/(\d+)%/.exec(cells[5]!)![1]);
    assert.equal(gen > 80, cells[5]!.includes('measures the generator'), `generator share marked wrongly: ${row}`);
  }
});

test('the Node client has its own table when latest.json has its figures, else a line saying it was not measured', () => {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as Results;
  const text = section(readFileSync(readmeFile, 'utf8'));
  const node = results.figures.filter((f) => f.suite === 'echo' && f.metric === `req/s${NODE}`);
  if (node.length === 0) {
    assert.match(text, /Second generator \(the Node client.*not measured in this run/);
    assert.deepEqual(tableRows(text, SECOND), []);
  } else {
    assert.equal(tableRows(text, SECOND).length, node.length, 'one row per server and case the Node client measured');
    for (const f of node) assert.equal(f.generator, 'node client');
  }
});

test('the agreement marks follow the ratios of both generators', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-readme-figures-'));
  try {
    const readme = readFileSync(readmeFile, 'utf8');
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as Results;
    // Only the made-up Node client figures below: the committed run's own ones (if any) are dropped.
    results.figures = results.figures.filter((f) => !f.metric.endsWith(NODE));
    const group = '50 conns x16 in flight 128 B';
    // And loadgen below 80% of its core in that case, whatever the committed run saw: the rate
    // ratios are then compared wherever the made-up client did not saturate.
    for (const f of results.figures) if (f.suite === 'echo' && f.group === group && f.metric === 'generator CPU %') f.median = 50;
    const lg = (subject: string, metric: string) => results.figures.find((f) => f.suite === 'echo' && f.group === group && f.subject === subject && f.metric === metric)!;
    // The Node client's figures made up: raw and three servers, every ratio to raw chosen.
    const made: Figure[] = [];
    const add = (subject: string, cpuRatio: number, rateRatio: number, genCpu: number) => {
      const base = { suite: 'echo', group, subject, rounds: 3, generator: 'node client' };
      // Twice raw's CPU and half its rate under the Node client: a ratio is what is compared, not the level.
      made.push(
        { ...base, metric: `server CPU µs/req${NODE}`, median: 2 * lg('raw', 'server CPU µs/req').median * cpuRatio },
        { ...base, metric: `req/s${NODE}`, median: 0.5 * lg('raw', 'req/s').median * rateRatio },
        { ...base, metric: `syscalls/req${NODE}`, median: 0.126 },
        { ...base, metric: `generator CPU %${NODE}`, median: genCpu },
      );
    };
    const ratio = (s: string, m: string) => lg(s, m).median / lg('raw', m).median;
    add('raw', 1, 1, 60);
    add('nocopy append', ratio('nocopy append', 'server CPU µs/req') * 1.05, ratio('nocopy append', 'req/s') * 0.97, 60); // within 10%
    add('nocopy copy', ratio('nocopy copy', 'server CPU µs/req') * 1.3, ratio('nocopy copy', 'req/s') * 0.5, 60); // both apart
    add('batch-copy', ratio('batch-copy', 'server CPU µs/req'), ratio('batch-copy', 'req/s'), 95); // the client saturated
    results.figures.push(...made);
    const rows = tableRows(section(generate(dir, readme, results)), SECOND);
    assert.equal(rows.length, 4, rows.join('\n'));
    const row = (name: string) => rows.find((r) => r.includes(name))!.split(' | ');
    assert.equal(row('raw `net`')[3], '', 'raw has no ratio to compare');
    assert.match(row('w.append(r.slice(n))')[3]!, /^PASS \(loadgen [\d.]+x, \+5\.0%\)$/);
    assert.match(row('w.append(r.slice(n))')[5]!, /^PASS \(loadgen [\d.]+x, -3\.0%\)$/);
    assert.match(row('r.next(n).copy(w.malloc(n))')[3]!, /^DIFF \(loadgen [\d.]+x, \+30\.0%\)$/);
    assert.match(row('r.next(n).copy(w.malloc(n))')[5]!, /^DIFF /);
    const saturated = row('replies copied, one write');
    assert.match(saturated[3]!, /^PASS /, 'the CPU ratio is compared even with the client saturated');
    assert.match(saturated[5]!, /^not compared \(a generator at 95%\)$/);
    assert.match(saturated[6]!, /95% † measures the generator/);
    // The main table is the compiled generator's alone: no Node client figure in it.
    assert.equal(tableRows(section(generate(dir, readme, results)), MAIN).length, results.figures.filter((f) => f.suite === 'echo' && f.metric === 'req/s').length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
