// The test runner (scripts/test.mjs) under CI=true: a skipped test fails the run unless
// test/skip-allow.json allows it; outside CI the skip is only listed. `--quick` leaves out the
// slow files. Run on a small tree of fixture tests in a temp dir, with copies of the runner's
// scripts. Also: every allow-list entry names a test that exists, with a reason.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Entry { file: string; test: string; when?: string; reason: string }

test('every entry of test/skip-allow.json names an existing test, says why, and its `when` compiles', () => {
  const allow = JSON.parse(readFileSync(join(root, 'test', 'skip-allow.json'), 'utf8')) as Entry[];
  assert.ok(Array.isArray(allow));
  for (const e of allow) {
    assert.ok(existsSync(join(root, e.file)), `${e.file} does not exist`);
    const source = readFileSync(join(root, e.file), 'utf8');
    // The innermost name is written in the file as a string literal.
    const last = e.test.split(' > ').at(-1)!;
    assert.ok(source.includes(`'${last}'`) || source.includes(`"${last}"`) || source.includes(`\`${last}\``), `${e.file} has no test named ${last}`);
    assert.ok(e.reason.trim().length > 10, `${e.test}: no reason`);
    if (e.when !== undefined) new RegExp(e.when);
  }
});

/** A throwaway repository layout: scripts/, test/dist/fixture.test.js, an empty packages/; removed after the test. */
function tree(t: TestContext, allow: Entry[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'scripts'));
  for (const f of ['test.mjs', 'skips.mjs', 'skip-reporter.mjs']) copyFileSync(join(root, 'scripts', f), join(dir, 'scripts', f));
  mkdirSync(join(dir, 'test', 'dist'), { recursive: true });
  mkdirSync(join(dir, 'packages'));
  writeFileSync(join(dir, 'test', 'skip-allow.json'), JSON.stringify(allow));
  writeFileSync(join(dir, 'test', 'dist', 'fixture.test.js'), [
    "import { test, describe, it } from 'node:test';",
    "test('runs', () => {});",
    "test('needs a tool', { skip: 'frobnicate not found' }, () => {});",
    "describe('group', () => { it('skips itself', (t) => { t.skip('no IPv6 here: EAFNOSUPPORT'); }); });",
  ].join('\n'));
  return dir;
}

function run(dir: string, ci: boolean, args: string[] = []): { status: number | null; out: string } {
  const env = { ...process.env };
  delete env.CI;
  if (ci) env.CI = 'true';
  // The fixture tree must not inherit this run's test-runner context.
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'test.mjs'), ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('CI=true: a skip not on the allow-list fails the run and is named; outside CI it is only listed', { timeout: 120_000 }, (t) => {
  const dir = tree(t, []);
  const ci = run(dir, true);
  assert.equal(ci.status, 1, ci.out);
  assert.match(ci.out, /1 passed, 0 failed, 2 skipped/);
  assert.match(ci.out, /NOT ALLOWED under CI=true\): test\/fixture\.test\.ts > needs a tool: frobnicate not found/);
  assert.match(ci.out, /NOT ALLOWED under CI=true\): test\/fixture\.test\.ts > group > skips itself: no IPv6 here/);
  assert.match(ci.out, /CI=true: 2 skipped test\(s\) not in test\/skip-allow\.json/);
  assert.match(ci.out, /1 test files in \d+m\d\ds/);
  const local = run(dir, false);
  assert.equal(local.status, 0, local.out);
  assert.match(local.out, /skipped: test\/fixture\.test\.ts > needs a tool: frobnicate not found/);
});

test('CI=true: skips the allow-list covers pass, but only for the cause its `when` names', { timeout: 120_000 }, (t) => {
  const allowed = tree(t, [
    { file: 'test/fixture.test.ts', test: 'needs a tool', reason: 'for this test: the tool is optional' },
    { file: 'test/fixture.test.ts', test: 'group > skips itself', when: 'EAFNOSUPPORT', reason: 'for this test: no IPv6 kernel' },
  ]);
  const ok = run(allowed, true);
  assert.equal(ok.status, 0, ok.out);
  assert.match(ok.out, /skipped \(allowed: for this test: no IPv6 kernel\): test\/fixture\.test\.ts > group > skips itself/);

  const otherCause = tree(t, [
    { file: 'test/fixture.test.ts', test: 'needs a tool', reason: 'for this test: the tool is optional' },
    { file: 'test/fixture.test.ts', test: 'group > skips itself', when: 'EADDRNOTAVAIL', reason: 'for this test: no IPv6 kernel' },
  ]);
  const refused = run(otherCause, true);
  assert.equal(refused.status, 1, refused.out);
  assert.match(refused.out, /NOT ALLOWED under CI=true\): test\/fixture\.test\.ts > group > skips itself/);
});

test('an allow-list entry without a reason is refused', { timeout: 60_000 }, (t) => {
  const dir = tree(t, [{ file: 'test/fixture.test.ts', test: 'needs a tool', reason: ' ' }]);
  const r = run(dir, true);
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /every entry needs file, test and a reason/);
});

test('--quick leaves out the soak, the benchmark smoke run and the 10,000-session test, and says so', { timeout: 120_000 }, (t) => {
  const dir = tree(t, [{ file: 'test/fixture.test.ts', test: 'needs a tool', reason: 'for this test' }, { file: 'test/fixture.test.ts', test: 'group > skips itself', reason: 'for this test' }]);
  const slow = ['test/dist/soak.test.js', 'test/dist/bench-smoke.test.js', 'packages/transport/dist/test/session-scale.test.js'];
  for (const f of slow) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), `import { test } from 'node:test';\ntest('slow file ${f}', () => {});\n`);
  }
  const full = run(dir, true);
  assert.equal(full.status, 0, full.out);
  assert.match(full.out, /4 test files in/);
  for (const f of slow) assert.ok(full.out.includes(`slow file ${f}`), `${f} did not run in the full run`);
  const quick = run(dir, true, ['--quick']);
  assert.equal(quick.status, 0, quick.out);
  assert.match(quick.out, /1 test files \(--quick: without the soak, the benchmark smoke run and the 10,000-session test\) in/);
  for (const f of slow) assert.ok(!quick.out.includes('slow file'), `${f} ran under --quick`);
  assert.match(quick.out, /1 passed, 0 failed, 2 skipped/);
});
