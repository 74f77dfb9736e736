// `npm run bench -- --quick` inside npm test: every benchmark suite still runs, and every byte its
// load clients echo is verified (a mismatch fails the suite). No assertion on any timing.
// A suite whose tools are missing (redis-server, redis-benchmark, haproxy) exits as `skipped`,
// never `ok`: under CI=true, where .ci/run installs them all, that is a failure naming the tool;
// elsewhere it is reported as a skipped subtest with the suite's own reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CI = process.env.CI === 'true';

// The bounds are liveness bounds: --quick takes a few minutes on a quiet machine, and took more than
// 230 s beside a full suite and a busy loop on 2 cores.
test('every benchmark suite runs in --quick mode and records figures', { timeout: 620_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'nocopy-bench-smoke-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bench', 'dist', 'run.js'), '--quick', `--out=${out}`], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    assert.equal(r.status, 0, `bench --quick failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
      suites: { name: string; status: string }[];
      figures: { suite: string; median: number }[];
    };
    assert.ok(results.suites.length >= 10, `only ${results.suites.length} suites ran`);
    // The suite's own line says which tool is missing, e.g. "proxy: SKIPPED, not found on PATH: haproxy ...".
    const why = (name: string): string => r.stdout.match(new RegExp(`^${name}: SKIPPED, (.*)$`, 'm'))?.[1] ?? 'no reason printed';
    const skipped = results.suites.filter((s) => s.status === 'skipped');
    if (CI) {
      assert.deepEqual(skipped.map((s) => `${s.name}: ${why(s.name)}`), [], 'CI=true: every tool a suite needs is installed by .ci/run, so no suite may skip');
    }
    for (const s of results.suites) {
      if (s.status === 'skipped') {
        await t.test(`suite ${s.name}`, { skip: `did not run: ${why(s.name)}` }, () => {});
        continue;
      }
      assert.equal(s.status, 'ok', `suite ${s.name}`);
      // A suite that ran recorded figures: one that returned early without measuring is caught here.
      assert.ok(results.figures.some((f) => f.suite === s.name), `no figures from ${s.name}`);
    }
    assert.ok(results.figures.every((f) => Number.isFinite(f.median)), 'a figure is not a number');
    assert.match(readFileSync(join(out, 'latest.svg'), 'utf8'), /^<svg /);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
