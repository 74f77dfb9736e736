// The README's performance figures are generated from bench/results/latest.json by
// scripts/readme-figures.mjs: this checks that the README says exactly what the results file says
// (a hand-edited figure or a results file re-run without regenerating fails), and that every echo row
// carries the figures that make it honest: server CPU and syscalls per request, the rate, and the
// generator's share of its core. No benchmark runs here; it reads two files.
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

function section(readme: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  assert.ok(a >= 0 && b > a, 'README.md has the readme-figures markers');
  return readme.slice(a, b);
}

interface Figure { suite: string; group: string; subject: string; metric: string; median: number; generator?: string }
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
  const rows = text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| case'));
  assert.equal(rows.length, echo.length, 'one row per echo server and case');
  for (const row of rows) {
    const cells = row.split(' | ');
    assert.equal(cells.length, 6, row);
    for (const c of cells.slice(2)) assert.match(c, /\d/, `a missing figure in: ${row}`);
    const gen = Number(/(\d+)%/.exec(cells[5]!)![1]);
    assert.equal(gen > 80, cells[5]!.includes('measures the generator'), `generator share marked wrongly: ${row}`);
  }
});
