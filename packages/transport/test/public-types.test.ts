// The public .d.ts shows no internals: test/types/public.fixture is compiled with the repository's tsc
// against the built package (its stripped declarations, through the package's exports), and the lines
// it marks ERROR (new Connection(), subclassing it, EventLoop accept) must be exactly the lines with
// errors. (The fixture has no .ts extension, so the package build and the lint skip it.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const pkg = fileURLToPath(new URL('../..', import.meta.url)); // packages/transport (from dist/test)
const root = join(pkg, '..', '..');
const fixture = join(pkg, 'test', 'types', 'public.fixture');

test('public types: new Connection(), subclassing it and EventLoop accept() do not compile; the public API does', () => {
  const work = join(pkg, 'dist', 'type-tests');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const source = readFileSync(fixture, 'utf8');
  writeFileSync(join(work, 'public.ts'), source);
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({ extends: '../../../../tsconfig.base.json', compilerOptions: { noEmit: true, composite: false, declaration: false, declarationMap: false, rootDir: '.' }, include: ['public.ts'] }),
  );
  const r = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', work, '--pretty', 'false'], { encoding: 'utf8' });
  const out = r.stdout + r.stderr;
  const errorLines = new Set<number>();
  for (const m of out.matchAll(/public\.ts\((\d+),\d+\): error TS\d+/g)) errorLines.add(Number(m[1]));
  const expected = new Set<number>();
  source.split('\n').forEach((line, i) => {
    if (/\/\/ ERROR$/.test(line)) expected.add(i + 1);
  });
  assert.equal(expected.size, 4, 'the fixture marks its wrong lines');
  assert.notEqual(r.status, 0, 'tsc fails on the fixture');
  assert.deepEqual([...errorLines].sort((a, b) => a - b), [...expected].sort((a, b) => a - b), `tsc output:\n${out}`);
  // The declaration itself: a private constructor, and no accept method.
  const dts = readFileSync(join(pkg, 'dist', 'src', 'connection', 'connection.d.ts'), 'utf8');
  assert.match(dts, /private constructor\(/);
  assert.doesNotMatch(readFileSync(join(pkg, 'dist', 'src', 'eventloop.d.ts'), 'utf8'), /\baccept\(/);
});
