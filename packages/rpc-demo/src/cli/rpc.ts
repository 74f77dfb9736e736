#!/usr/bin/env node
// nocopy-rpc: serve the demo methods, call one, or drive a server with load.
//   nocopy-rpc serve [--port 7777] [--host 127.0.0.1] [--framing framed|stream] [--workers N] [limits]
//   nocopy-rpc call METHOD [ARGS...] [--address 127.0.0.1:7777] [--framing ...] [--timeout ms]
//   nocopy-rpc bench [--address ...] [--concurrency 32] [--duration 5] [--connections 2] [--size 128]
import { parseArgs } from 'node:util';
import { createClient } from '../rpc/client.js';
import { createServer } from '../rpc/server.js';
import { checkFraming } from '../rpc/protocol.js';
import { handlersFile, registerDemoMethods } from '../demo/methods.js';
import { formatSummary, runLoad } from '../demo/load.js';

const USAGE = `usage:
  nocopy-rpc serve [--port 7777] [--host 127.0.0.1] [--framing framed|stream] [--workers N]
                   [--max-connections 10000] [--max-message-size 4MiB] [--max-inbound-total BYTES]
                   [--read-timeout 30000]
  nocopy-rpc call METHOD [ARGS...] [--address HOST:PORT] [--framing framed|stream] [--timeout MS]
  nocopy-rpc bench [--address HOST:PORT] [--concurrency 32] [--duration 5] [--connections 2]
                   [--size 128] [--method echo] [--framing framed|stream]

Demo methods: echo(x), add(a, b), sleep(ms, value?), fib(n) (runs in the worker pool).
ARGS are parsed as JSON when they parse (42, "s", [1,2], {"a":1}), else taken as strings.
Sizes are bytes, or a number with KiB, MiB or GiB. --max-inbound-total is the input all
connections may buffer together (default: 1/64 of memory, 32 MiB to 256 MiB); --read-timeout
is how long a message may take to arrive once its first byte has, in ms. See SECURITY.md.`;

function fail(message: string): never {
  process.stderr.write(`nocopy-rpc: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${v}`);
  return n;
}

/** A size: bytes, or a number with a KiB/MiB/GiB (or k/m/g) suffix. */
function bytes(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\s*(k|kib|m|mib|g|gib)?$/i.exec(v.trim());
  const unit = m?.[2]?.[0]?.toLowerCase();
  const n = m === null ? NaN : Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a size in bytes (e.g. 4194304 or 4MiB), got ${v}`);
  return n;
}

function parseArg(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

async function serve(values: Record<string, string | boolean | undefined>): Promise<void> {
  const port = values.port === undefined ? 7777 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0-65535, got ${String(values.port)}`);
  const maxConnections = values['max-connections'] === undefined ? undefined : positiveInt('max-connections', values['max-connections'] as string, 1);
  const server = createServer({
    framing: checkFraming(values.framing),
    maxMessageSize: bytes('max-message-size', values['max-message-size'] as string | undefined),
    workers: { filename: handlersFile, maxThreads: positiveInt('workers', values.workers as string | undefined, 2) },
    transport: {
      maxConnections,
      readTimeout: values['read-timeout'] === undefined ? undefined : positiveInt('read-timeout', values['read-timeout'] as string, 1),
      maxInboundBytesTotal: bytes('max-inbound-total', values['max-inbound-total'] as string | undefined),
    },
  });
  registerDemoMethods(server);
  const addr = await server.listen({ port, host: (values.host as string | undefined) ?? '127.0.0.1' });
  const where = typeof addr === 'string' ? addr : `${addr.address}:${addr.port}`;
  const stop = (signal: string) => {
    process.stdout.write(`\n${signal}: shutting down (in-flight calls are answered)\n`);
    server.shutdown({ timeout: 5000 }).then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Announce only once the handlers are in place: whoever reads this line may signal us at once.
  process.stdout.write(`nocopy-rpc serving echo, add, sleep, fib on ${where} (${server.framing} framing); Ctrl-C stops\n`);
}

async function call(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<void> {
  const [method, ...args] = positionals;
  if (method === undefined) fail('call needs a METHOD');
  const client = createClient({
    address: (values.address as string | undefined) ?? '127.0.0.1:7777',
    framing: checkFraming(values.framing),
    connections: 1,
    backoff: { initial: 0 },
  });
  try {
    const timeout = values.timeout === undefined ? 10_000 : Number(values.timeout);
    const result = await client.request(method, args.map(parseArg), { timeout });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    const e = err as { code?: string; message: string };
    process.stderr.write(`error${e.code ? ` ${e.code}` : ''}: ${e.message}\n`);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

async function bench(values: Record<string, string | boolean | undefined>): Promise<void> {
  const concurrency = positiveInt('concurrency', values.concurrency as string | undefined, 32);
  const duration = positiveInt('duration', values.duration as string | undefined, 5);
  const size = positiveInt('size', values.size as string | undefined, 128);
  const method = (values.method as string | undefined) ?? 'echo';
  const address = (values.address as string | undefined) ?? '127.0.0.1:7777';
  const client = createClient({
    address,
    framing: checkFraming(values.framing),
    connections: positiveInt('connections', values.connections as string | undefined, 2),
  });
  const params = method === 'echo' ? ['x'.repeat(size)] : method === 'add' ? [1, 2] : method === 'fib' ? [20] : [];
  const tty = process.stdout.isTTY;
  process.stdout.write(`bench: ${method} on ${address}, ${concurrency} in flight for ${duration} s\n`);
  const summary = await runLoad(client, {
    concurrency,
    duration,
    method,
    params,
    onProgress: (p) => {
      const line = `  ${p.second}s: ${p.rps.toLocaleString('en-US')} calls/s, ${p.calls.toLocaleString('en-US')} total, ${p.errors} error(s)`;
      process.stdout.write(tty ? `\r${line}   ` : `${line}\n`);
    },
  });
  if (tty) process.stdout.write('\n');
  process.stdout.write(`${formatSummary(summary)}\n`);
  await client.close();
  if (summary.calls === 0) process.exitCode = 1;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      port: { type: 'string' },
      host: { type: 'string' },
      address: { type: 'string', short: 'a' },
      framing: { type: 'string' },
      workers: { type: 'string' },
      timeout: { type: 'string' },
      concurrency: { type: 'string', short: 'c' },
      duration: { type: 'string', short: 'd' },
      connections: { type: 'string' },
      size: { type: 'string' },
      method: { type: 'string' },
      'max-connections': { type: 'string' },
      'max-message-size': { type: 'string' },
      'max-inbound-total': { type: 'string' },
      'read-timeout': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  try {
    if (values.framing !== undefined) checkFraming(values.framing);
  } catch (err) {
    fail((err as Error).message);
  }
  if (command === 'serve') await serve(values);
  else if (command === 'call') await call(values, rest);
  else if (command === 'bench') await bench(values);
  else fail(`unknown command ${command}`);
}

main().catch((err) => {
  process.stderr.write(`nocopy-rpc: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
