// Each workspace package resolves through its own name and exports map, as a user would import it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const packages = ['@nocopy/linkbuffer', '@nocopy/transport', '@nocopy/rpc-demo', '@nocopy/proxy'];

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
