#!/usr/bin/env node
// Runs a test command N times in a row while burner processes keep every core busy, and reports
// each run's result and time: the check that the suite holds on a loaded machine (issue 28: "the
// suite passes 5 times in a row while another process keeps both cores busy").
//   node scripts/stress-test.mjs [--runs 5] [--burners <cores>] [--keep-going] -- <command> [args...]
//   e.g. node scripts/stress-test.mjs --runs 5 -- node scripts/test.mjs inbound-budget.test.ts
// Without a command it runs `node scripts/test.mjs` (the whole suite; build first). The burners are
// plain busy loops at normal priority, started before the first run and killed (by pid) at the end.
// Stops at the first failed run unless --keep-going. Exit code: 0 when every run passed.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const opts = dash < 0 ? argv : argv.slice(0, dash);
let command = dash < 0 ? [] : argv.slice(dash + 1);
if (command.length === 0) command = [process.execPath, 'scripts/test.mjs'];

function option(name, fallback) {
  const i = opts.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(opts[i + 1]);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`stress-test: ${name} needs a whole number, got ${opts[i + 1]}`);
    process.exit(2);
  }
  return v;
}
const runs = option('--runs', 5);
const burnerCount = option('--burners', availableParallelism());
const keepGoing = opts.includes('--keep-going');

// A burner: a busy loop in its own process; it exits by itself if this script dies without killing it.
const BURN = `const parent = ${process.pid}; let n = 0; for (;;) { n++; if ((n & 0xffffff) === 0) { try { process.kill(parent, 0); } catch { process.exit(0); } } }`;
const burners = Array.from({ length: burnerCount }, () => spawn(process.execPath, ['-e', BURN], { stdio: 'ignore' }));
const stopBurners = () => {
  for (const b of burners) if (b.exitCode === null && b.signalCode === null) b.kill('SIGKILL');
};
// The run in progress: on SIGINT/SIGTERM it is stopped too (the runs are awaited, not spawnSync'd,
// so that the signal is handled at once), then the burners.
let current = null;
process.on('exit', () => {
  // The run is the leader of its own process group: the test runner's own children go with it.
  if (current !== null && current.exitCode === null) {
    try {
      process.kill(-current.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  stopBurners();
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function runOnce() {
  return new Promise((resolve) => {
    current = spawn(command[0], command.slice(1), { cwd: root, stdio: 'inherit', env: process.env, detached: true });
    current.once('error', (err) => resolve({ status: null, signal: String(err) }));
    current.once('exit', (status, signal) => resolve({ status, signal }));
  });
}

console.log(`stress-test: ${runs} run(s) of \`${command.join(' ')}\` beside ${burnerCount} burner process(es) (pids ${burners.map((b) => b.pid).join(', ')})`);
const results = [];
const t0 = Date.now();
for (let i = 1; i <= runs; i++) {
  const start = Date.now();
  const r = await runOnce();
  const seconds = (Date.now() - start) / 1000;
  const ok = r.status === 0;
  results.push({ run: i, ok, seconds, status: r.status, signal: r.signal });
  console.log(`stress-test: run ${i}/${runs} ${ok ? 'PASSED' : `FAILED (exit ${r.status ?? r.signal})`} in ${seconds.toFixed(1)} s`);
  if (!ok && !keepGoing) break;
}
stopBurners();
const passed = results.filter((r) => r.ok).length;
console.log(`stress-test: ${passed} of ${results.length} run(s) passed (${runs} planned), total ${((Date.now() - t0) / 1000).toFixed(1)} s, ${burnerCount} burner(s)`);
for (const r of results) console.log(`  run ${r.run}: ${r.ok ? 'pass' : 'FAIL'} ${r.seconds.toFixed(1)} s`);
process.exitCode = passed === runs ? 0 : 1;
