// Typed services compile, and wrong calls do not: test/types/service.fixture is compiled with the
// repository's tsc against the built package, and the lines it marks ERROR must be exactly the lines
// with errors. (The fixture has no .ts extension, so the package build and the lint skip it.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const pkg = fileURLToPath(new URL('../..', import.meta.url)); // packages/rpc-demo (from dist/test)
const root = join(pkg, '..', '..');
const fixture = join(pkg, 'test', 'types', 'service.fixture');

test('typed services: the calls a type test marks ERROR fail to compile, and nothing else does', () => {
  const work = join(pkg, 'dist', 'type-tests');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const source = readFileSync(fixture, 'utf8');
  writeFileSync(join(work, 'service.ts'), source);
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({ extends: '../../../../tsconfig.base.json', compilerOptions: { noEmit: true, composite: false, declaration: false, declarationMap: false, rootDir: '.' }, include: ['service.ts'] }),
  );
  const r = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', work, '--pretty', 'false'], { encoding: 'utf8' });
  const out = r.stdout + r.stderr;
  const errorLines = new Set<number>();
  for (const m of out.matchAll(/service\.ts\((\d+),\d+\): error TS\d+/g)) errorLines.add(Number(m[1]));
  const expected = new Set<number>();
  source.split('\n').forEach((line, i) => {
    if (/\/\/ ERROR/.test(line)) expected.add(i + 1);
  });
  assert.ok(expected.size >= 8, 'the fixture marks its wrong lines');
  assert.notEqual(r.status, 0, 'tsc fails on the fixture');
  assert.deepEqual([...errorLines].sort((a, b) => a - b), [...expected].sort((a, b) => a - b), `tsc output:\n${out}`);
});
