// The servers of bench/fleet: one nocopy-rpc server listening on `count` ports (each port one
// endpoint of the target), with `echo`. `node servers.js COUNT`: sends { ports } over IPC, then
// answers 'start'/'stop' with its CPU (bench/lib/processes.ts).
import type { AddressInfo } from 'node:net';
import { createServer } from '@nocopy/rpc-demo';
import { answerCpuOverIpc } from '../lib/processes.js';

const count = Number(process.argv[2] ?? 1);
const server = createServer({ transport: { maxConnections: 100_000 } });
server.register('echo', (x: unknown) => x);
const ports: number[] = [];
for (let i = 0; i < count; i++) ports.push(((await server.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo).port);
answerCpuOverIpc({ ports });
