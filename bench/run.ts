// `npm run bench`: runs every benchmark suite, each in its own process so one suite's heap and JIT
// state cannot skew the next. `npm run bench -- linkbuffer` runs the named suites only;
// `--quick` asks each suite for a short smoke run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

interface Suite {
  name: string;
  entry: string;
}

const suites: Suite[] = [
  { name: 'linkbuffer', entry: 'linkbuffer/main.js' },
  { name: 'echo', entry: 'echo/main.js' },
  { name: 'readpath', entry: 'readpath/main.js' },
];

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const names = args.filter((a) => !a.startsWith('--'));
const selected = names.length > 0 ? suites.filter((s) => names.includes(s.name)) : suites;
if (selected.length === 0) {
  console.error(`unknown suite(s) ${names.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

let failed = 0;
for (const suite of selected) {
  console.log(`\n=== ${suite.name} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, suite.entry), ...flags], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`suite ${suite.name} failed (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
