#!/usr/bin/env node
// Runs every compiled test file with Node's built-in runner: packages/*/dist/test and test/dist.
// Arguments ending in .test.ts or .test.js run only the files whose source path ends so
// (`node scripts/test.mjs examples/resp.test.ts`); the other arguments go to `node --test`
// (e.g. --test-name-pattern=...). Beside the spec reporter, a
// reporter of ours (skip-reporter.mjs) collects the skipped tests; at the end the runner prints
// the total time and each skip with its reason. Under CI=true any skip that test/skip-allow.json
// does not allow is a failure: node:test exits 0 on skips, so a CI machine missing a tool would
// otherwise go green without running the tests that need it.
//   --quick   leaves out the soak, the benchmark smoke run and the 10,000-session test (npm run test:quick)
import { readdirSync, existsSync, statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkSkips, sourceOf } from './skips.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dirs = [join(root, 'test', 'dist')];
for (const pkg of readdirSync(join(root, 'packages'))) dirs.push(join(root, 'packages', pkg, 'dist', 'test'));

// What `--quick` leaves out, by source path: the slowest files (minutes of the full run); CI runs them.
const SLOW = ['test/soak.test.ts', 'test/bench-smoke.test.ts', 'packages/transport/test/session-scale.test.ts'];

function collect(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const isFile = (a) => !a.startsWith('-') && /\.test\.[jt]s$/.test(a);
const only = argv.filter(isFile).map((a) => a.replace(/\.js$/, '.ts'));
const extra = argv.filter((a) => !isFile(a) && a !== '--quick');
let files = dirs.flatMap((d) => collect(d, [])).sort();
if (files.length === 0) {
  console.error('no compiled test files found: run `npm run build` first');
  process.exit(1);
}
if (only.length > 0) {
  files = files.filter((f) => only.some((o) => sourceOf(root, f).endsWith(o)));
  if (files.length === 0) {
    console.error(`no compiled test file matches ${only.join(', ')}`);
    process.exit(1);
  }
}
if (quick) {
  // A renamed slow file would silently come back into the quick run: say so.
  for (const slow of SLOW) if (!files.some((f) => sourceOf(root, f) === slow)) console.error(`test --quick: ${slow} is not among the test files (renamed?)`);
  files = files.filter((f) => !SLOW.includes(sourceOf(root, f)));
}

const scratch = mkdtempSync(join(tmpdir(), 'nocopy-test-'));
const summaryFile = join(scratch, 'skips.json');
const reporters = extra.some((a) => a.startsWith('--test-reporter')) ? [] : ['--test-reporter=spec', '--test-reporter-destination=stdout'];
// Under CI one test file at a time: on this 2-core machine two files at once made load-sensitive
// tests fail now and then (a proxy stream digest, a 200 MiB flood's RSS bound, 2026-12-04); the
// inner loop keeps two at once. NOCOPY_TEST_CONCURRENCY overrides both.
const concurrency = process.env.NOCOPY_TEST_CONCURRENCY ?? (process.env.CI === 'true' ? '1' : '2');
const args = [
  '--test',
  `--test-concurrency=${concurrency}`,
  ...reporters,
  `--test-reporter=${join(root, 'scripts', 'skip-reporter.mjs')}`,
  `--test-reporter-destination=${summaryFile}`,
  ...extra,
  ...files,
];
const t0 = Date.now();
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
const seconds = (Date.now() - t0) / 1000;

let status = r.status ?? 1;
const ci = process.env.CI === 'true';
let summary = null;
try {
  summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
} catch (err) {
  console.error(`\ntest: no skip summary from the reporter (${err.message})`);
  if (ci) status = status || 1;
}
rmSync(scratch, { recursive: true, force: true });

console.log(`\n${files.length} test files${quick ? ' (--quick: without the soak, the benchmark smoke run and the 10,000-session test)' : ''} in ${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`);
if (summary !== null) {
  const allow = JSON.parse(readFileSync(join(root, 'test', 'skip-allow.json'), 'utf8'));
  const { allowed, refused } = checkSkips(root, summary.skipped, allow);
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped.length} skipped${summary.todo > 0 ? `, ${summary.todo} todo` : ''}${summary.filtered > 0 ? `, ${summary.filtered} left out by the name pattern` : ''}`);
  for (const s of allowed) console.log(`  skipped (allowed: ${s.allowedBecause}): ${s.where} > ${s.test}${s.reason ? `: ${s.reason}` : ''}`);
  for (const s of refused) console.log(`  skipped${ci ? ' (NOT ALLOWED under CI=true)' : ''}: ${s.where} > ${s.test}${s.reason ? `: ${s.reason}` : ''}`);
  if (ci && refused.length > 0) {
    console.error(`\nCI=true: ${refused.length} skipped test(s) not in test/skip-allow.json; a CI run must run every test (install the missing tool, or allow the skip there with its reason)`);
    status = status || 1;
  }
}
process.exit(status);
