// `npm run bench -- --quick` inside npm test: every benchmark suite still runs, and every byte its
// load clients echo is verified (a mismatch fails the suite). No assertion on any timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('every benchmark suite runs in --quick mode and records figures', { timeout: 240_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'nocopy-bench-smoke-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bench', 'dist', 'run.js'), '--quick', `--out=${out}`], {
      encoding: 'utf8',
      timeout: 230_000,
    });
    assert.equal(r.status, 0, `bench --quick failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
      suites: { name: string; status: string }[];
      figures: { suite: string; median: number }[];
    };
    for (const s of results.suites) assert.equal(s.status, 'ok', `suite ${s.name}`);
    // Every suite that can run here recorded figures (the proxy suite skips itself without Redis).
    for (const name of ['linkbuffer', 'echo', 'readpath', 'rpc']) {
      assert.ok(results.figures.some((f) => f.suite === name), `no figures from ${name}`);
    }
    assert.ok(results.figures.every((f) => Number.isFinite(f.median)), 'a figure is not a number');
    assert.match(readFileSync(join(out, 'latest.svg'), 'utf8'), /^<svg /);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
