// Each workspace package resolves through its own name and exports map, as a user would import it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const packages = ['@nocopy/linkbuffer', '@nocopy/transport', '@nocopy/rpc-demo', '@nocopy/proxy', '@nocopy/otel'];

for (const name of packages) {
  test(`${name} resolves through its exports map, with types`, async () => {
    const manifestPath = require.resolve(`${name}/package.json`);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
    };
    const entry = manifest.exports['.']!;
    const dir = dirname(manifestPath);
    assert.ok(existsSync(join(dir, entry.types)), `missing ${entry.types}`);
    const mod = (await import(name)) as Record<string, unknown>;
    assert.ok(Object.keys(mod).length > 0);
    assert.ok(existsSync(join(dir, 'README.md')), `${name} has no README.md`);
  });
}

test('package-lock.json records the bins each workspace declares (npm ci links what the lockfile says)', () => {
  const root = join(dirname(require.resolve('@nocopy/rpc-demo/package.json')), '..', '..');
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { bin?: Record<string, string> }> };
  let bins = 0;
  for (const dir of ['packages/rpc-demo', 'packages/proxy']) {
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    const declared = Object.fromEntries(Object.entries(manifest.bin ?? {}).map(([k, v]) => [k, v.replace(/^\.\//, '')]));
    assert.deepEqual(lock.packages[dir]?.bin, declared, `${dir}: run npm install to update package-lock.json`);
    for (const file of Object.values(declared)) {
      assert.ok(existsSync(join(root, dir, file)), `${dir}: bin ${file} is not in the repository (npm would skip linking it before a build)`);
      bins++;
    }
  }
  assert.equal(bins, 2);
});
