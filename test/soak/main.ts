// The soak test (issue 6, "Long runs"): mixed RPC and transport load with injected faults against
// in-process servers on 127.0.0.1, then checks that nothing leaked.
//
//   node --expose-gc test/dist/soak/main.js [--minutes N] [--seconds N] [--json]
//
// Default 5 minutes. Prints progress every 10 s and a report at the end; with --json, the report as
// one JSON line after it ("SOAK_JSON {...}"). Exit code 0 only if every check passed.
import { parseArgs } from 'node:util';
import { formatReport, runSoak } from './soak.js';

function durationMs(): { ms: number; json: boolean } {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  let ms = 5 * 60_000;
  if (values.minutes !== undefined) ms = Number(values.minutes) * 60_000;
  if (values.seconds !== undefined) ms = Number(values.seconds) * 1000;
  if (!Number.isFinite(ms) || ms < 1000 || ms > 24 * 3600_000) {
    throw new RangeError('--minutes / --seconds: a duration from 1 s to 24 h');
  }
  return { ms, json: values.json ?? false };
}

async function main(): Promise<number> {
  let opts: { ms: number; json: boolean };
  try {
    opts = durationMs();
  } catch (err) {
    console.error(`soak: ${(err as Error).message}\nusage: node test/dist/soak/main.js [--minutes N] [--seconds N] [--json]`);
    return 2;
  }
  const report = await runSoak({ durationMs: opts.ms, log: (line) => console.log(line) });
  console.log(formatReport(report));
  if (opts.json) console.log(`SOAK_JSON ${JSON.stringify(report)}`);
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
