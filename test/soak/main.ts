// The soak test: mixed RPC and transport load with injected faults against
// in-process servers on 127.0.0.1, then checks that nothing leaked.
//
//   node --expose-gc test/dist/soak/main.js [--minutes N] [--seconds N] [--json] [--fuzz-runs N] [--seed S]
//
// Default 5 minutes. Prints progress every 10 s and a report at the end; with --json, the report as
// one JSON line after it ("SOAK_JSON {...}"). Then the differential MessagePack fuzzer runs
// --fuzz-runs hostile inputs (default 200000) with a random seed (printed; --seed repeats a run).
// Exit code 0 only if every check passed.
import { parseArgs } from 'node:util';
import { formatReport, runSoak } from './soak.js';
import { runDifferential } from '../faults/msgpack-differential.js';

interface Options {
  ms: number;
  json: boolean;
  fuzzRuns: number;
  seed: number;
}

function durationMs(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      json: { type: 'boolean', default: false },
      'fuzz-runs': { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
  });
  const fuzzRuns = values['fuzz-runs'] === undefined ? 200_000 : Number(values['fuzz-runs']);
  if (!Number.isSafeInteger(fuzzRuns) || fuzzRuns < 0) throw new RangeError('--fuzz-runs: a count of inputs, 0 or more');
  const seed = values.seed === undefined ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new RangeError('--seed: an integer');
  let ms = 5 * 60_000;
  if (values.minutes !== undefined) ms = Number(values.minutes) * 60_000;
  if (values.seconds !== undefined) ms = Number(values.seconds) * 1000;
  if (!Number.isFinite(ms) || ms < 1000 || ms > 24 * 3600_000) {
    throw new RangeError('--minutes / --seconds: a duration from 1 s to 24 h');
  }
  return { ms, json: values.json ?? false, fuzzRuns, seed };
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = durationMs();
  } catch (err) {
    console.error(`soak: ${(err as Error).message}\nusage: node test/dist/soak/main.js [--minutes N] [--seconds N] [--json] [--fuzz-runs N] [--seed S]`);
    return 2;
  }
  const report = await runSoak({ durationMs: opts.ms, log: (line) => console.log(line) });
  console.log(formatReport(report));
  if (opts.json) console.log(`SOAK_JSON ${JSON.stringify(report)}`);
  if (opts.fuzzRuns > 0) {
    console.log(`differential MessagePack fuzzing: ${opts.fuzzRuns} hostile inputs, seed ${opts.seed} (repeat with --seed ${opts.seed})`);
    const t0 = Date.now();
    try {
      const stats = runDifferential(opts.fuzzRuns, opts.seed);
      console.log(`  [ ok ] ${JSON.stringify(stats)} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      console.log(`  [FAIL] ${(err as Error).message}`);
      return 1;
    }
  }
  return report.pass ? 0 : 1;
}

const code = await main();
process.exitCode = code;
// Everything the soak started is closed by now, so the process exits by itself. If something still
// holds the event loop open, say what and exit anyway (the fd check will have failed already).
setTimeout(() => {
  console.error(`soak: the process did not exit on its own; active resources: ${process.getActiveResourcesInfo().join(', ')}`);
  process.exit(code === 0 ? 1 : code);
}, 10_000).unref();
