// The public .d.ts shows no internals: test/types/public.fixture is compiled with the repository's tsc
// against the built package (its stripped declarations, through the package's exports), and the lines
// it marks ERROR (new Connection(), subclassing it, EventLoop accept) must be exactly the lines with
// errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { checkTypeFixture } from '@nocopy/test-kit';

const pkg = fileURLToPath(new URL('../..', import.meta.url)); // packages/transport (from dist/test)

test('public types: new Connection(), subclassing it and EventLoop accept() do not compile; the public API does', () => {
  const r = checkTypeFixture(join(pkg, 'test', 'types', 'public.fixture'), join(pkg, 'dist', 'type-tests'), join(pkg, '..', '..'));
  assert.equal(r.expected.length, 4, 'the fixture marks its wrong lines');
  assert.notEqual(r.status, 0, 'tsc fails on the fixture');
  assert.deepEqual(r.actual, r.expected, `tsc output:\n${r.output}`);
  // The declarations themselves: a private constructor, and no accept method.
  assert.match(readFileSync(join(pkg, 'dist', 'src', 'connection', 'connection.d.ts'), 'utf8'), /private constructor\(/);
  assert.doesNotMatch(readFileSync(join(pkg, 'dist', 'src', 'eventloop.d.ts'), 'utf8'), /\baccept\(/);
});
