#!/usr/bin/env node
// nocopy-rpc: serve the demo methods, call one, or drive a server with load.
// Bad arguments print one line and a hint, and exit with 2; a failure at run time (a busy port, a
// failed call) prints one line and exits with 1. No stack traces: these are a user's mistakes or
// their network's, not bugs.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidOptionError, parseEtcdTarget, resolveTarget } from '@nocopy/transport';
import { isClusterWorker, runCluster, serveWorker } from '@nocopy/transport/cluster';
import { fileURLToPath } from 'node:url';
import { createClient, type RpcClient } from '../rpc/client.js';
import { createServer, type RpcServer } from '../rpc/server.js';
import type { RegistryOptions } from '../rpc/registry.js';
import type { Registration } from '@nocopy/transport/etcd';
import { checkFraming, type Framing } from '../rpc/protocol.js';
import { RemoteError } from '../errors.js';
import { handlersFile, registerDemoMethods } from '../demo/methods.js';
import { formatSummary, runLoad } from '../demo/load.js';
import type { WebSocketEndpoint } from '../websocket/endpoint.js';
import { serveClusterMetrics, serveMetrics, workerMetrics } from './metrics.js';
import { formatAddress } from '@nocopy/transport/util';

const USAGE = `Usage: nocopy-rpc <command> [options]

MessagePack-RPC from the command line, with the demo methods echo(x), add(a, b),
sleep(ms, value?) and fib(n).

Commands:
  serve    serve the demo methods (default 127.0.0.1:7777)
  call     call one method and print its result as JSON
  bench    keep calls in flight for a few seconds, then print calls/s and latencies

Run 'nocopy-rpc <command> --help' for the options of each.

Example:
  nocopy-rpc serve --port 7777
  nocopy-rpc call add 40 2
`;

const SERVE_USAGE = `Usage: nocopy-rpc serve [options]

Serves echo(x), add(a, b), sleep(ms, value?) and fib(n) (fib in a worker pool). Prints one
line with the bound address once listening; SIGINT or SIGTERM answers the calls in flight
and exits with 0.

Options:
      --port N                 TCP port (default 7777; 0 = any free port, see the startup line)
      --host HOST              address to listen on (default 127.0.0.1)
      --framing framed|stream  framed: a 4-byte length before each message (default);
                               stream: plain concatenated MessagePack
      --workers N              worker threads for fib (default 2)
      --processes N            serve from N worker processes behind the one address
                               (a cluster; default: this process alone)
      --max-connections N      refuse clients beyond N (default 10000)
      --max-message-size SIZE  a larger message closes its connection (default 4MiB)
      --max-inbound-total SIZE input all connections may buffer together (default: 1/64
                               of memory, 32 MiB to 256 MiB)
      --read-timeout MS        how long a message may take to arrive once its first byte
                               has (default 30000)
      --websocket PORT         also serve the methods over WebSocket at ws://HOST:PORT/, and
                               a page at http://HOST:PORT/ that calls them from a browser
      --register TARGET        register in etcd once listening (etcd://HOST:PORT/PREFIX),
                               under a lease kept alive; deregistered when shutting down
      --register-ttl S         the lease's time to live in seconds (default 10): a server
                               that dies without deregistering is dropped this long after
      --metrics PORT           serve Prometheus metrics at http://HOST:PORT/metrics (needs
                               @nocopy/otel; with --processes, the cluster's and every
                               worker's, labelled worker="SLOT")
  -h, --help                   print this help

SIZE is bytes, or a number with KiB, MiB or GiB (4MiB). The limits: SECURITY.md.
`;

const CALL_USAGE = `Usage: nocopy-rpc call METHOD [ARGS...] [options]

Calls METHOD once and prints the result as JSON. Each ARG is JSON when it parses
(42, -1, "s", [1,2], {"a":1}), else a string; ARGS that start with a dash and are not
numbers go after --.

Options:
  -a, --address TARGET         the server (default 127.0.0.1:7777), or several:
                               HOST:PORT,HOST:PORT; dns:///NAME:PORT (A/AAAA),
                               dns:///_SERVICE._tcp.NAME (SRV), etcd://HOST:PORT/PREFIX
      --framing framed|stream  as the server's (default framed)
      --timeout MS             give up after MS (default 10000; 0 = wait forever)
  -h, --help                   print this help

Example:
  nocopy-rpc call add -1 2
  nocopy-rpc call echo -- --not-a-flag
`;

const BENCH_USAGE = `Usage: nocopy-rpc bench [options]

Keeps calls in flight against a server for a while, prints a progress line every second
and a summary: calls/s, p50, p99, errors.

Options:
  -a, --address TARGET         the server (default 127.0.0.1:7777), or several, as for call
  -c, --concurrency N          calls in flight (default 32)
  -d, --duration S             seconds (default 5)
      --connections N          connections per server (default 2)
      --balancer NAME          round-robin (default) or least-pending
      --method NAME            echo (default), add, fib or sleep
      --size BYTES             the string echo sends (default 128)
      --framing framed|stream  as the server's (default framed)
  -h, --help                   print this help
`;

type Command = 'serve' | 'call' | 'bench';
type Options = NonNullable<ParseArgsConfig['options']>;

const framing = { type: 'string' } as const;
const help = { type: 'boolean', short: 'h' } as const;
const commands: Record<Command, { usage: string; options: Options; positionals: boolean }> = {
  serve: {
    usage: SERVE_USAGE,
    positionals: false,
    options: {
      help, framing,
      port: { type: 'string' },
      host: { type: 'string' },
      workers: { type: 'string' },
      processes: { type: 'string' },
      'max-connections': { type: 'string' },
      'max-message-size': { type: 'string' },
      'max-inbound-total': { type: 'string' },
      'read-timeout': { type: 'string' },
      websocket: { type: 'string' },
      register: { type: 'string' },
      'register-ttl': { type: 'string' },
      metrics: { type: 'string' },
    },
  },
  call: {
    usage: CALL_USAGE,
    positionals: true,
    options: { help, framing, address: { type: 'string', short: 'a' }, timeout: { type: 'string' } },
  },
  bench: {
    usage: BENCH_USAGE,
    positionals: false,
    options: {
      help, framing,
      address: { type: 'string', short: 'a' },
      concurrency: { type: 'string', short: 'c' },
      duration: { type: 'string', short: 'd' },
      connections: { type: 'string' },
      size: { type: 'string' },
      method: { type: 'string' },
      balancer: { type: 'string' },
    },
  },
};

type Values = Record<string, string | undefined>;

/** A usage error: the message, a hint, exit code 2. */
function usage(message: string, command?: Command): never {
  process.stderr.write(`nocopy-rpc: ${message}\nTry 'nocopy-rpc${command === undefined ? '' : ` ${command}`} --help'.\n`);
  process.exit(2);
}

/** A failure at run time: one line, exit code 1. */
function failed(message: string): never {
  process.stderr.write(`nocopy-rpc: ${message}\n`);
  process.exit(1);
}

/** An error as one line: `Name [CODE]: message`, and for an error the server sent, that it did. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const coded = `${typeof code === 'string' ? ` [${code}]` : ''}: ${err.message.split('\n')[0]}`;
  return err instanceof RemoteError ? `the server answered ${err.remoteName}${coded}` : `${err.name}${coded}`;
}

function int(command: Command, name: string, text: string | undefined, min: number, max: number, dflt: number): number {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(v) || v < min || v > max) {
    usage(`--${name} must be an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}, got "${text}"`, command);
  }
  return v;
}

/** A size: bytes, or a number with a KiB/MiB/GiB (or k/m/g) suffix. */
function size(command: Command, name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)\s*(k|kib|m|mib|g|gib)?$/i.exec(text.trim());
  const unit = m?.[2]?.[0]?.toLowerCase();
  const n = m === null ? NaN : Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  if (!Number.isSafeInteger(n) || n < 1) usage(`--${name} must be a size in bytes (4194304, or 4MiB), got "${text}"`, command);
  return n;
}

function framingOf(command: Command, text: string | undefined): Framing {
  if (text !== undefined && text !== 'framed' && text !== 'stream') usage(`--framing must be framed or stream, got "${text}"`, command);
  return checkFraming(text);
}

/** --address: HOST:PORT, a comma-separated list of them, or a target URL (dns:///, etcd://). */
function targetOf(command: Command, text: string | undefined): string {
  const a = text ?? '127.0.0.1:7777';
  try {
    resolveTarget(a).close().catch(() => {});
  } catch {
    usage(`--address must be HOST:PORT, HOST:PORT,HOST:PORT or a target (dns:///NAME:PORT, dns:///_SERVICE._tcp.NAME, etcd://HOST:PORT/PREFIX), got "${a}"`, command);
  }
  return a;
}

/** Constructors throw InvalidOptionError for a value the flags above let through: still a usage error. */
function construct<T>(command: Command, make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (err instanceof InvalidOptionError) usage(err.message, command);
    throw err;
  }
}

function parseArg(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

// parseArgs takes "-1" for a short option. A negative number is never one of our flags, so it is
// marked (NUL cannot occur in an argument) to pass as a positional or a flag's value, then unmarked.
const MARK = '\0';
const negative = /^-\.?\d/;
const unmark = (s: string): string => (s.startsWith(MARK) ? s.slice(1) : s);

function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  const spec = commands[command];
  const marked = args.map((a) => (negative.test(a) ? MARK + a : a));
  // First a lenient pass: --help wins over any other mistake, and an unknown flag gets a short message.
  const { tokens } = parseArgs({ args: marked, options: spec.options, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option-terminator') break;
    if (t.kind === 'option' && t.name === 'help') {
      process.stdout.write(spec.usage);
      process.exit(0);
    }
  }
  for (const t of tokens) {
    if (t.kind === 'option-terminator') break;
    if (t.kind === 'option' && !Object.hasOwn(spec.options, t.name)) usage(`unknown option ${t.rawName} for ${command}`, command);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: marked, options: spec.options, strict: true, allowPositionals: spec.positionals });
  } catch (err) {
    // Some of parseArgs' messages span lines: one line here, as every other usage error.
    usage(unmark((err as Error).message).replace(/\s*\n\s*/g, ' '), command);
  }
  const values: Values = {};
  for (const [k, v] of Object.entries(parsed.values)) values[k] = typeof v === 'string' ? unmark(v) : undefined;
  return { values, positionals: parsed.positionals.map(unmark) };
}

async function serve(values: Values): Promise<void> {
  const port = int('serve', 'port', values.port, 0, 65535, 7777);
  const host = values.host ?? '127.0.0.1';
  // --processes N: this process is the cluster's primary; each worker runs this same command.
  if (values.processes !== undefined && values.websocket !== undefined) usage('--processes and --websocket do not combine', 'serve');
  const registry = registryOf(values);
  if (values.processes !== undefined && !isClusterWorker()) return servePrimary(port, host, int('serve', 'processes', values.processes, 1, 1024, 1), framingOf('serve', values.framing), values, registry);
  const server: RpcServer = construct('serve', () => createServer({
    framing: framingOf('serve', values.framing),
    // A cluster's primary registers the one address; its workers do not.
    registry: isClusterWorker() ? undefined : registry,
    maxMessageSize: size('serve', 'max-message-size', values['max-message-size']),
    workers: { filename: handlersFile, maxThreads: int('serve', 'workers', values.workers, 1, 1024, 2) },
    transport: {
      maxConnections: values['max-connections'] === undefined ? undefined : int('serve', 'max-connections', values['max-connections'], 1, Number.MAX_SAFE_INTEGER, 1),
      readTimeout: values['read-timeout'] === undefined ? undefined : int('serve', 'read-timeout', values['read-timeout'], 1, 2 ** 31 - 1, 1),
      maxInboundBytesTotal: size('serve', 'max-inbound-total', values['max-inbound-total']),
    },
  }));
  registerDemoMethods(server);
  if (isClusterWorker()) {
    // --metrics in a worker: its metrics go to the primary's endpoint, recorded from before the first call.
    if (values.metrics !== undefined) {
      try {
        await workerMetrics(server);
      } catch (err) {
        failed(`cannot record --metrics: ${(err as Error).message}`);
      }
    }
    serveWorker(server);
    return;
  }
  let addr;
  try {
    addr = await server.listen({ port, host });
  } catch (err) {
    failed(registry !== undefined && (err as { code?: string }).code === 'ERR_ETCD' ? `cannot register in ${registry.target}: ${(err as Error).message}` : `cannot listen: ${(err as Error).message}`);
  }
  const where = formatAddress(addr);
  // --websocket PORT: the same methods over WebSocket, and a page that calls them from a browser.
  let endpoint: WebSocketEndpoint | undefined;
  let wsWhere = '';
  if (values.websocket !== undefined) {
    const wsPort = int('serve', 'websocket', values.websocket, 0, 65535, 0);
    const { createWebSocketEndpoint } = await import('../websocket/endpoint.js');
    endpoint = createWebSocketEndpoint({ server });
    try {
      const w = await endpoint.listen({ port: wsPort, host });
      const h = w.family === 'IPv6' ? `[${w.address}]` : w.address;
      wsWhere = `; WebSocket on ws://${h}:${w.port}/ (a page at http://${h}:${w.port}/)`;
    } catch (err) {
      failed(`cannot listen on --websocket ${wsPort}: ${(err as Error).message}`);
    }
  }
  const metrics = await startMetrics(values, (port) => serveMetrics(port, host, [server]));
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) failed(`${signal} again, exiting now`);
    stopping = true;
    process.stdout.write(`\n${signal}: shutting down (in-flight calls are answered)\n`);
    Promise.all([server.shutdown({ timeout: 5000 }), metrics?.close()]).then(
      () => process.exit(0),
      (err: unknown) => failed(`shutdown failed: ${describe(err)}`),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announce only once the handlers are in place: whoever reads this line may signal us at once.
  process.stdout.write(`nocopy-rpc serving echo, add, sleep, fib on ${where} (${server.framing} framing)${wsWhere}${metrics === undefined ? '' : `; metrics on ${metrics.url}`}; Ctrl-C stops\n`);
}

/** --register and --register-ttl as the server's registry option. */
function registryOf(values: Values): RegistryOptions | undefined {
  if (values.register === undefined) {
    if (values['register-ttl'] !== undefined) usage('--register-ttl needs --register', 'serve');
    return undefined;
  }
  if (!/^etcd:\/\//i.test(values.register)) usage(`--register must be etcd://HOST:PORT/PREFIX, got "${values.register}"`, 'serve');
  try {
    parseEtcdTarget(values.register);
  } catch (err) {
    usage(`--register: ${(err as Error).message}`, 'serve');
  }
  return { target: values.register, ttl: int('serve', 'register-ttl', values['register-ttl'], 1, 86_400, 10) };
}

/** The primary of `serve --processes N`: hands connections to N workers; SIGINT or SIGTERM drains them and exits with 0. */
async function servePrimary(port: number, host: string, processes: number, framing: Framing, values: Values, registry: RegistryOptions | undefined): Promise<void> {
  let cluster;
  try {
    cluster = await runCluster({ module: fileURLToPath(import.meta.url), args: process.argv.slice(2), workers: processes, listen: { port, host }, signals: true, drainTimeout: 5000 });
  } catch (err) {
    failed(`cannot ${(err as { code?: string }).code === 'ERR_CLUSTER_WORKER_START' ? 'start the workers' : 'listen'}: ${(err as Error).message}`);
  }
  cluster.on('worker-exit', (e) => {
    if (!e.expected) process.stderr.write(`nocopy-rpc: worker ${e.slot} (pid ${e.pid}) exited with ${e.signal ?? e.code}; restarting it\n`);
  });
  const a = cluster.address;
  const where = formatAddress(a);
  const metrics = await startMetrics(values, (port) => serveClusterMetrics(port, host, cluster));
  // The cluster's one address in the registry, taken out when a signal stops the cluster.
  let registration: Registration | null = null;
  if (registry !== undefined) {
    try {
      const { register } = await import('@nocopy/transport/etcd');
      const { hosts, prefix } = parseEtcdTarget(registry.target);
      registration = await register({ hosts, prefix, address: where, ttl: registry.ttl, onError: (err) => process.stderr.write(`nocopy-rpc: registry: ${describe(err)}\n`) });
    } catch (err) {
      await cluster.stop({ timeout: 1000 });
      failed(`cannot register in ${registry.target}: ${(err as Error).message}`);
    }
  }
  let announced = false;
  const announce = (signal: NodeJS.Signals): void => {
    if (!announced) process.stdout.write(`\n${signal}: shutting down (in-flight calls are answered)\n`);
    announced = true;
    // The cluster exits once its workers are gone and nothing else holds the event loop.
    void metrics?.close();
    void registration?.close();
  };
  process.on('SIGINT', announce);
  process.on('SIGTERM', announce);
  process.stdout.write(`nocopy-rpc serving echo, add, sleep, fib on ${where} (${framing} framing, ${processes} processes)${metrics === undefined ? '' : `; metrics on ${metrics.url}`}; Ctrl-C stops\n`);
}

/** --metrics PORT: the Prometheus endpoint `start` serves, or undefined without the flag. */
async function startMetrics(values: Values, start: (port: number) => Promise<{ url: string; close(): Promise<void> }>): Promise<{ url: string; close(): Promise<void> } | undefined> {
  if (values.metrics === undefined) return undefined;
  const port = int('serve', 'metrics', values.metrics, 0, 65535, 0);
  try {
    return await start(port);
  } catch (err) {
    failed(`cannot serve --metrics ${port}: ${(err as Error).message}`);
  }
}

async function call(values: Values, positionals: string[]): Promise<void> {
  const [method, ...args] = positionals;
  if (method === undefined) usage('call needs a METHOD, as in: nocopy-rpc call add 40 2', 'call');
  const timeout = int('call', 'timeout', values.timeout, 0, 2 ** 31 - 1, 10_000);
  const client: RpcClient = construct('call', () => createClient({
    target: targetOf('call', values.address),
    framing: framingOf('call', values.framing),
    connections: 1,
    backoff: { initial: 0 },
  }));
  try {
    const result = await client.request(method, args.map(parseArg), { timeout });
    // JSON has no bigint (MessagePack integers beyond 2^53 decode as one): print its digits.
    const json = JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null';
    process.stdout.write(`${json}\n`);
  } catch (err) {
    process.stderr.write(`nocopy-rpc: call ${method} failed: ${describe(err)}\n`);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

async function bench(values: Values): Promise<void> {
  const concurrency = int('bench', 'concurrency', values.concurrency, 1, 1_000_000, 32);
  const duration = int('bench', 'duration', values.duration, 1, 86_400, 5);
  const bytes = int('bench', 'size', values.size, 1, 64 * 1024 * 1024, 128);
  const connections = int('bench', 'connections', values.connections, 1, 1024, 2);
  const method = values.method ?? 'echo';
  const address = targetOf('bench', values.address);
  const balancer = values.balancer ?? 'round-robin';
  if (balancer !== 'round-robin' && balancer !== 'least-pending') usage(`--balancer must be round-robin or least-pending, got "${balancer}"`, 'bench');
  const client: RpcClient = construct('bench', () => createClient({ target: address, framing: framingOf('bench', values.framing), connections, balancer }));
  const params = method === 'echo' ? ['x'.repeat(bytes)] : method === 'add' ? [1, 2] : method === 'fib' ? [20] : method === 'sleep' ? [1] : [];
  // One call first: a server that is down or lacks the method is one line, not N seconds of errors.
  try {
    await client.request(method, params);
  } catch (err) {
    await client.close();
    failed(`bench: the first call of ${method} on ${address} failed: ${describe(err)}`);
  }
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

/**
 * Process warnings (a server's errors nobody else takes, such as a client's oversized message) as
 * one line each, like every other message of the CLI: Node's own printer adds the stack.
 */
function oneLineWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: unknown }) => {
    process.stderr.write(`nocopy-rpc: ${w.name}${typeof w.code === 'string' ? ` [${w.code}]` : ''}: ${w.message.split('\n')[0]}\n`);
  });
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === '-h' || first === '--help') {
    process.stdout.write(USAGE);
    return;
  }
  if (first === 'help') {
    const topic = rest[0];
    process.stdout.write(topic !== undefined && Object.hasOwn(commands, topic) ? commands[topic as Command].usage : USAGE);
    return;
  }
  if (first === undefined) usage('missing command: serve, call or bench');
  if (!Object.hasOwn(commands, first)) {
    usage(first.startsWith('-') ? `unknown option ${first}: the command (serve, call or bench) comes first` : `unknown command ${first}: expected serve, call or bench`);
  }
  const command = first as Command;
  const { values, positionals } = parse(command, rest);
  if (command === 'serve') await serve(values);
  else if (command === 'call') await call(values, positionals);
  else await bench(values);
}

oneLineWarnings();
main(process.argv.slice(2)).catch((err: unknown) => failed(describe(err)));
