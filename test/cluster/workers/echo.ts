// A cluster worker for the tests: the greeting echo of echo-loop.ts, served by serveWorker().
// argv: --crash-slot=N  exit at once (code 3) in slot N, before serveWorker(), every time it starts;
// --crash-all: exit at once (code 4) in every slot.
import { existsSync } from 'node:fs';
import { greetingEcho } from './echo-loop.js';
import { serveWorker, isClusterWorker } from '@nocopy/transport/cluster';

const slot = Number(process.env.NOCOPY_CLUSTER_SLOT);
const crash = process.argv.find((a) => a.startsWith('--crash-slot='));
if (crash !== undefined && Number(crash.slice('--crash-slot='.length)) === slot) process.exit(3);
if (process.argv.includes('--crash-all')) process.exit(4);
// --crash-if=PATH: exit at once while PATH exists (a deploy gone bad, for restart()).
const crashIf = process.argv.find((a) => a.startsWith('--crash-if='));
if (crashIf !== undefined && existsSync(crashIf.slice('--crash-if='.length))) process.exit(5);

const loop = greetingEcho(slot);
if (isClusterWorker()) serveWorker(loop);
