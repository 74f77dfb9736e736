// A cluster worker for the tests: an EventLoop that greets each connection with "<slot> <pid>\n"
// (so a test knows which worker took it) and then echoes every line.
// argv: --crash-slot=N  exit at once (code 3) in slot N, before serveWorker(), every time it starts;
// --crash-all: exit at once (code 4) in every slot.
import { existsSync } from 'node:fs';
import { EventLoop, delimiter } from '@nocopy/transport';
import { serveWorker, isClusterWorker } from '@nocopy/transport/cluster';

const slot = Number(process.env.NOCOPY_CLUSTER_SLOT);
const crash = process.argv.find((a) => a.startsWith('--crash-slot='));
if (crash !== undefined && Number(crash.slice('--crash-slot='.length)) === slot) process.exit(3);
if (process.argv.includes('--crash-all')) process.exit(4);
// --crash-if=PATH: exit at once while PATH exists (a deploy gone bad, for restart()).
const crashIf = process.argv.find((a) => a.startsWith('--crash-if='));
if (crashIf !== undefined && existsSync(crashIf.slice('--crash-if='.length))) process.exit(5);

const lines = delimiter({ delimiter: '\n', maxFrameLength: 1 << 16 });
const loop = new EventLoop(
  (_ctx, conn) => {
    let line: Buffer | undefined;
    while ((line = lines.decode(conn.reader)) !== undefined) lines.encode(line, conn.writer);
    return conn.writer.flush();
  },
  {
    onConnect: (_ctx, conn) => {
      conn.writer.writeString(`${slot} ${process.pid}\n`);
      return conn.writer.flush().then(() => undefined);
    },
  },
);
if (isClusterWorker()) serveWorker(loop);
