// Type tests: a fixture file (no .ts extension, so builds and lint skip it) compiled with the
// repository's tsc against the built packages, as a consumer would; the lines it marks `// ERROR` must
// be exactly the lines tsc reports errors on.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface TypeFixtureResult {
  /** Lines (1-based) marked `// ERROR` in the fixture. */
  expected: number[];
  /** Lines tsc reported an error on. */
  actual: number[];
  /** tsc's exit status and output. */
  status: number | null;
  output: string;
}

/**
 * Compiles `fixture` as `<name>.ts` in `work` (emptied first), with a tsconfig that extends the
 * repository's tsconfig.base.json under `root`, and compares its ERROR lines with tsc's errors.
 */
export function checkTypeFixture(fixture: string, work: string, root: string): TypeFixtureResult {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const source = readFileSync(fixture, 'utf8');
  const name = 'fixture.ts';
  writeFileSync(join(work, name), source);
  const base = relative(work, join(root, 'tsconfig.base.json'));
  const compilerOptions = { noEmit: true, composite: false, declaration: false, declarationMap: false, rootDir: '.' };
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ extends: base, compilerOptions, include: [name] }));
  const r = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', work, '--pretty', 'false'], { encoding: 'utf8' });
  const output = r.stdout + r.stderr;
  const actual = new Set<number>();
  for (const m of output.matchAll(/fixture\.ts\((\d+),\d+\): error TS\d+/g)) actual.add(Number(m[1]));
  const expected: number[] = [];
  source.split('\n').forEach((line, i) => {
    if (/\/\/ ERROR\b/.test(line)) expected.push(i + 1);
  });
  return { expected, actual: [...actual].sort((a, b) => a - b), status: r.status, output };
}
