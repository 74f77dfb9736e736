// The linkbuffer benchmark suite: LinkBuffer against bl and naive Buffer.concat on frame parsing,
// reads across a chunk seam, and the small-write path. See bench/README.md.
// Run: `npm run bench -- linkbuffer [--quick] [--rounds=n] [--time=ms]`.
import { suiteOptions } from '../lib/options.js';
import { find, printComparisons, printResults, type Comparison } from '../lib/report.js';
import { Suite } from '../lib/suite.js';
import { recordFigures } from '../lib/results.js';
import { FRAME_PAYLOADS, frameCases, frameGroup } from './frames.js';
import { CRLF_GROUP, U32_GROUP, seamCases } from './seam.js';
import { WRITE_GROUP, writeCases } from './write.js';

const options = suiteOptions();
if (globalThis.gc === undefined) console.warn('note: run node with --expose-gc to collect garbage between tasks');

const suite = new Suite(options);
for (const c of [...frameCases(), ...seamCases(), ...writeCases()]) suite.add(c);
console.log(
  `\nNode ${process.version}, ${options.rounds} round(s) × ${options.bench.time} ms per case` +
    `${options.quick ? ' (--quick: smoke run, numbers not meaningful)' : ''}\n`,
);
const results = await suite.run();

console.log('\nMedians (p50). p50/unit = p50 of one call / units per call; mad = median abs. deviation / p50;');
console.log('rounds = spread of the per-round p50s (max-min)/median.\n');
printResults(results);
recordFigures(
  results.map((r) => ({
    suite: 'linkbuffer',
    group: r.case.group,
    subject: r.case.name,
    metric: `ns/${r.case.unit}`,
    median: r.nsPerUnit,
    spread: r.roundSpread,
    rounds: options.rounds,
    better: 'lower' as const,
    ...(r.case.name === 'LinkBuffer' ? { baseline: r.case.group.startsWith('write') ? 'Buffer.concat' : 'bl' } : {}),
  })),
);

const lb = (group: string) => find(results, group, 'LinkBuffer');
const comparisons: Comparison[] = [];
for (const payload of FRAME_PAYLOADS) {
  const g = frameGroup(payload);
  const small = payload === 16;
  comparisons.push(
    { subject: lb(g), baseline: find(results, g, 'bl'), ...(small ? { target: 2 } : {}) },
    { subject: lb(g), baseline: find(results, g, 'Buffer.concat'), ...(small ? { target: 3 } : {}) },
  );
}
comparisons.push(
  { subject: lb(U32_GROUP), baseline: find(results, U32_GROUP, 'bl'), target: 1 },
  { subject: lb(CRLF_GROUP), baseline: find(results, CRLF_GROUP, 'bl'), target: 1 },
  { subject: lb(WRITE_GROUP), baseline: find(results, WRITE_GROUP, 'Buffer.concat') },
);
console.log('\nRatios: how many times faster LinkBuffer is (per unit of work, p50).\n');
const missed = printComparisons(comparisons);
console.log(
  missed === 0 ? '\nAll targets met.' : `\n${missed} target(s) MISSED.${options.quick ? ' (--quick: not meaningful)' : ''}`,
);
