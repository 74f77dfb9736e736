// Re-renders latest.md and latest.svg from a results JSON, without running any benchmark:
//   node bench/dist/lib/render.js [bench/results/latest.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart, chartMeta } from './chart.js';
import { renderMarkdown, type Results } from './summary.js';

const file = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'results', 'latest.json');
const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
const dir = dirname(file);
writeFileSync(join(dir, 'latest.md'), renderMarkdown(r));
writeFileSync(join(dir, 'latest.svg'), renderChart(r.figures, chartMeta(r)));
console.log(`rendered ${join(dir, 'latest.md')} and latest.svg from ${file}`);
