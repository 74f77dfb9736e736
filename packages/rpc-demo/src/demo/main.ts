// `npm start`: the whole demo with no arguments. Starts an RPC server, makes a few calls of each
// kind, runs a 5-second load with a live progress line, prints the summary, shuts down, exits 0.
import { defaultPool } from '@nocopy/linkbuffer';
import { createClient } from '../rpc/client.js';
import { createServer } from '../rpc/server.js';
import { handlersFile, registerDemoMethods } from './methods.js';
import { formatSummary, runLoad } from './load.js';

const seconds = Number(process.env.NOCOPY_DEMO_SECONDS ?? 5);

const server = createServer({ workers: { filename: handlersFile, maxThreads: 2 } });
registerDemoMethods(server);
const addr = await server.listen({ port: 0, host: '127.0.0.1' });
const address = typeof addr === 'string' ? addr : `127.0.0.1:${addr.port}`;
console.log(`nocopy demo: MessagePack-RPC server on ${address}, methods echo, add, sleep, fib (offloaded to worker threads)\n`);

const client = createClient({ address, connections: 2 });
const show = async (label: string, p: Promise<unknown>) => {
  try {
    console.log(`  ${label.padEnd(34)} -> ${JSON.stringify(await p)}`);
  } catch (err) {
    const e = err as { code?: string; message: string };
    console.log(`  ${label.padEnd(34)} -> error ${e.code}: ${e.message}`);
  }
};

console.log('A few calls:');
await show("echo('hello, nocopy')", client.call('echo', 'hello, nocopy'));
await show('echo({ nested: [1, 2, { ok: true }] })', client.call('echo', { nested: [1, 2, { ok: true }] }));
await show('add(40, 2)', client.call('add', 40, 2));
await show("add('a', 1) (a handler error)", client.call('add', 'a', 1));
await show('fib(27) in a worker thread', client.call('fib', 27));
await show('nope() (no such method)', client.call('nope'));
await show('sleep(200) with a 50 ms timeout', client.request('sleep', [200], { timeout: 50 }));

console.log('\nMultiplexing: three calls in flight on the same connections, answered as they finish:');
const order: string[] = [];
await Promise.all([
  client.call('sleep', 120, 'slow').then((v) => order.push(String(v))),
  client.call('sleep', 60, 'medium').then((v) => order.push(String(v))),
  client.call('echo', 'fast').then((v) => order.push(String(v))),
]);
console.log(`  sent slow, medium, fast; answered ${order.join(', ')}`);

console.log(`\nLoad: echo of 128 bytes, 64 calls in flight over 2 connections, ${seconds} s:`);
const summary = await runLoad(client, {
  concurrency: 64,
  duration: seconds,
  method: 'echo',
  params: ['x'.repeat(128)],
  onProgress: (p) => console.log(`  ${p.second}s: ${p.rps.toLocaleString('en-US')} calls/s (${p.calls.toLocaleString('en-US')} total, ${p.errors} errors)`),
});
console.log(`\nSummary: ${formatSummary(summary)}`);

await client.close();
await server.shutdown({ timeout: 5000 });
const pool = defaultPool.stats();
console.log(`\nShut down cleanly: ${server.stats().calls.toLocaleString('en-US')} calls served; pooled blocks outstanding: ${pool.blocksOutstanding} (${pool.idleBlocks} idle for reuse).`);
process.exitCode = summary.errors === 0 && summary.calls > 0 ? 0 : 1;
