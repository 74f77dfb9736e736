// A cluster worker for the tests: the echo EventLoop of echo.ts behind TLS terminated in the worker
// (serveWorker's tls option), with the transport's localhost test certificate.
import { readFileSync } from 'node:fs';
import { EventLoop, delimiter } from '@nocopy/transport';
import { serveWorker } from '@nocopy/transport/cluster';

const fixtures = new URL('../../../../packages/transport/test/fixtures/', import.meta.url);
const slot = Number(process.env.NOCOPY_CLUSTER_SLOT);
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
serveWorker(loop, { tls: { key: readFileSync(new URL('localhost-key.pem', fixtures)), cert: readFileSync(new URL('localhost-cert.pem', fixtures)) } });
