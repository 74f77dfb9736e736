#!/usr/bin/env node
// nocopy-proxy: the zero-copy TCP proxy from the command line. Prints one line with the bound address
// once listening; SIGINT or SIGTERM closes the listener, lets connections drain (up to
// --shutdown-timeout) and exits with 0. A second signal exits at once.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { isClusterWorker, runCluster, serveWorker } from '@nocopy/transport/cluster';
import { createProxy, parseAddress, TcpProxy, type ProxyOptions } from './index.js';
import { serveClusterMetrics, serveMetrics, workerMetrics } from './metrics.js';
import { formatAddress } from '@nocopy/transport/util';

const USAGE = `Usage: nocopy-proxy --listen HOST:PORT --upstream HOST:PORT [options]

A zero-copy TCP proxy on @nocopy/transport: every client connection gets its own
upstream connection; bytes, half-closes (FIN) and backpressure pass both ways.

Options:
  -l, --listen ADDR            where to accept clients: HOST:PORT, :PORT (127.0.0.1),
                               or a Unix socket path (default 127.0.0.1:0, any free port)
  -u, --upstream ADDR          where to connect: HOST:PORT or a Unix socket path (required)
      --dial-timeout MS        bound on connecting to the upstream (default 5000)
      --idle-timeout MS        close a pair after MS without traffic (default 0 = never)
      --write-timeout MS       close a pair whose reader takes nothing for MS (default 0 = never)
      --max-connections N      refuse clients beyond N (default unlimited)
      --max-buffer BYTES       per connection: unread input at which reading pauses, and
                               queued output at which forwarding waits (default 262144)
      --shutdown-timeout MS    on SIGINT/SIGTERM, how long connections may drain (default 5000)
      --processes N            forward from N worker processes behind the one address
                               (a cluster; default: this process alone)
      --metrics PORT           serve Prometheus metrics at http://127.0.0.1:PORT/metrics
                               (needs @nocopy/otel; with --processes, the cluster's and
                               every worker's, labelled worker="SLOT")
  -q, --quiet                  do not log errors (upstream unreachable, ...) to stderr
  -h, --help                   print this help

Example:
  nocopy-proxy --listen 127.0.0.1:7000 --upstream 127.0.0.1:6379
`;

function fail(message: string): never {
  process.stderr.write(`nocopy-proxy: ${message}\nTry 'nocopy-proxy --help'.\n`);
  process.exit(2);
}

function int(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < min) fail(`--${name} must be an integer >= ${min}, got "${text}"`);
  return v;
}

/** HOST:PORT or a Unix socket path, named by its flag when it is neither. */
function address(name: string, text: string): ReturnType<typeof parseAddress> {
  try {
    return parseAddress(text);
  } catch {
    fail(`--${name} must be HOST:PORT, :PORT or a Unix socket path, got "${text}"`);
  }
}

// parseArgs refuses "--idle-timeout -5" as ambiguous: a value that looks like a negative number is
// marked (NUL cannot occur in an argument) so that it reaches the range check, which names the flag.
const MARK = '\0';
const unmark = (s: string | undefined): string | undefined => (s?.startsWith(MARK) ? s.slice(1) : s);

async function main(): Promise<void> {
  const args = process.argv.slice(2).map((a) => (/^-\.?\d/.test(a) ? MARK + a : a));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        listen: { type: 'string', short: 'l' },
        upstream: { type: 'string', short: 'u' },
        'dial-timeout': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'write-timeout': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-buffer': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        processes: { type: 'string' },
        metrics: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    // Some of parseArgs' messages span lines: one line here, as every other usage error.
    fail((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  const values = Object.fromEntries(Object.entries(parsed.values).map(([k, v]) => [k, typeof v === 'string' ? unmark(v) : v])) as typeof parsed.values;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.upstream === undefined) fail('--upstream is required');
  const listen = address('listen', values.listen ?? '127.0.0.1:0');
  const upstream = address('upstream', values.upstream);
  const maxBuffer = int('max-buffer', values['max-buffer'], 1);
  const shutdownTimeout = int('shutdown-timeout', values['shutdown-timeout'], 0) ?? 5000;
  const options: ProxyOptions = {
    listen,
    upstream,
    dialTimeout: int('dial-timeout', values['dial-timeout'], 0),
    idleTimeout: int('idle-timeout', values['idle-timeout'], 0),
    writeTimeout: int('write-timeout', values['write-timeout'], 0),
    maxConnections: int('max-connections', values['max-connections'], 1),
    maxInboundBytes: maxBuffer,
    maxOutboundBytes: maxBuffer,
  };
  if (values.quiet) options.onError = () => {};
  const processes = int('processes', values.processes, 1);
  const metricsPort = values.metrics === undefined ? undefined : int('metrics', values.metrics, 0);
  if (metricsPort !== undefined && metricsPort > 65535) fail(`--metrics must be a port from 0 to 65535, got "${values.metrics}"`);
  if (processes !== undefined) return cluster(options, processes, shutdownTimeout, metricsPort);

  let proxy;
  try {
    proxy = await createProxy(options);
  } catch (err) {
    process.stderr.write(`nocopy-proxy: cannot listen: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const addr = proxy.address();
  const bound = formatAddress(addr);
  const metrics = await startMetrics(metricsPort, (port) => serveMetrics(port, '127.0.0.1', [proxy]));

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`nocopy-proxy: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    Promise.all([proxy.shutdown({ timeout: shutdownTimeout }), metrics?.close()]).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`nocopy-proxy: shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announce only once the handlers are in place: whoever reads this line may signal us at once.
  process.stdout.write(`nocopy-proxy: listening on ${bound}, upstream ${proxy.upstream}${metrics === undefined ? '' : `, metrics on ${metrics.url}`}\n`);
}

/** --metrics PORT: the Prometheus endpoint `start` serves on 127.0.0.1, or undefined without the flag. */
async function startMetrics(port: number | undefined, start: (port: number) => Promise<{ url: string; close(): Promise<void> }>): Promise<{ url: string; close(): Promise<void> } | undefined> {
  if (port === undefined) return undefined;
  try {
    return await start(port);
  } catch (err) {
    process.stderr.write(`nocopy-proxy: cannot serve --metrics ${port}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

/**
 * --processes N: this process is the cluster's primary and hands clients to N workers, each of which
 * runs this same command and forwards them; SIGINT or SIGTERM drains the workers and exits with 0.
 */
async function cluster(options: ProxyOptions, processes: number, shutdownTimeout: number, metricsPort: number | undefined): Promise<void> {
  let proxy: TcpProxy;
  try {
    proxy = new TcpProxy(options);
  } catch (err) {
    fail((err as Error).message);
  }
  if (isClusterWorker()) {
    // --metrics in a worker: its figures go to the primary's endpoint, recorded from the start.
    if (metricsPort !== undefined) {
      try {
        await workerMetrics(proxy);
      } catch (err) {
        fail(`cannot record --metrics: ${(err as Error).message}`);
      }
    }
    serveWorker(proxy);
    return;
  }
  const l = options.listen ?? {};
  let c;
  try {
    c = await runCluster({ module: fileURLToPath(import.meta.url), args: process.argv.slice(2), workers: processes, listen: l, signals: true, drainTimeout: shutdownTimeout });
  } catch (err) {
    const what = (err as { code?: string }).code === 'ERR_CLUSTER_WORKER_START' ? 'start the workers' : 'listen';
    process.stderr.write(`nocopy-proxy: cannot ${what}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  c.on('worker-exit', (e) => {
    if (!e.expected) process.stderr.write(`nocopy-proxy: worker ${e.slot} (pid ${e.pid}) exited with ${e.signal ?? e.code}; restarting it\n`);
  });
  const a = c.address;
  const bound = formatAddress(a);
  const cl = c;
  const metrics = await startMetrics(metricsPort, (port) => serveClusterMetrics(port, '127.0.0.1', cl));
  if (metrics !== undefined) {
    // The cluster exits once its workers are gone and nothing else holds the event loop.
    const close = (): void => void metrics.close();
    process.once('SIGINT', close);
    process.once('SIGTERM', close);
  }
  process.stdout.write(`nocopy-proxy: listening on ${bound}, upstream ${proxy.upstream}, ${processes} processes${metrics === undefined ? '' : `, metrics on ${metrics.url}`}\n`);
}

await main();
