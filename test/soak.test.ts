// The soak test, 30 seconds of it and 50,000 differential fuzz inputs, inside `npm test` (the full
// run is `npm run soak`, 5 minutes, and then 200,000 inputs; npm test also runs the fuzzer with a
// fixed seed on its own).
// It runs in a child process with --expose-gc, so that its file-descriptor, heap and RSS checks see
// only the soak, and asserts that every check passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./soak/main.js', import.meta.url));
const SECONDS = 30;
const FUZZ_RUNS = 50_000;

interface Report {
  pass: boolean;
  calls: { completed: number; verified: number };
  failures: { unexpected: number; unexpectedSamples: string[] };
  faults: { total: number };
  checks: { name: string; ok: boolean; detail: string }[];
}

test(`soak: ${SECONDS} s of mixed RPC and transport load with faults, verified, nothing leaked`, { timeout: (SECONDS + 270) * 1000 }, async (t) => {
  // 50,000 fuzz inputs after the load (`npm run soak` runs 200,000): 200,000 took 173 s on this 2-core
  // machine on 2026-12-04, more than the test's time; the fixed-seed fuzz tests run 20,000 besides.
  // The time limit is a liveness bound (5 min): 150 s was overrun once on a machine busy with other work.
  const child = spawn(process.execPath, ['--expose-gc', MAIN, '--seconds', String(SECONDS), '--json', '--fuzz-runs', String(FUZZ_RUNS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  const text = out.split('\n').filter((l) => !l.startsWith('SOAK_JSON ')).join('\n');
  for (const line of text.split('\n')) if (line.trim() !== '') t.diagnostic(line);
  const json = out.split('\n').find((l) => l.startsWith('SOAK_JSON '));
  assert.ok(json !== undefined, `no report from the soak (exit ${code}):\n${text}\n${err}`);
  const report = JSON.parse(json.slice('SOAK_JSON '.length)) as Report;
  const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  assert.deepEqual(failed, [], `soak checks failed:\n${text}\n${err}`);
  assert.ok(report.calls.completed > 0 && report.calls.verified === report.calls.completed);
  assert.ok(report.faults.total > 0);
  assert.equal(report.pass, true);
  assert.equal(code, 0, `soak exited with ${code}:\n${err}`);
});
