// A cluster worker for the tests: the echo EventLoop of echo.ts behind TLS terminated in the worker
// (serveWorker's tls option), with the transport's localhost test certificate.
import { readFileSync } from 'node:fs';
import { greetingEcho } from './echo-loop.js';
import { serveWorker } from '@nocopy/transport/cluster';

const fixtures = new URL('../../../../packages/transport/test/fixtures/', import.meta.url);
const slot = Number(process.env.NOCOPY_CLUSTER_SLOT);
const loop = greetingEcho(slot);
serveWorker(loop, { tls: { key: readFileSync(new URL('localhost-key.pem', fixtures)), cert: readFileSync(new URL('localhost-cert.pem', fixtures)) } });
