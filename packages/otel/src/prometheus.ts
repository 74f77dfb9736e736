// serveMetrics(): a Prometheus text endpoint (GET /metrics) on its own HTTP port, fed by an
// OpenTelemetry MeterProvider whose reader is OpenTelemetry's Prometheus exporter (it formats the
// exposition; nothing here does). It observes the given targets (observe()) and, unless told not to,
// the RPC duration histograms (instrumentRpc with traces off), and with `workers`, those of a
// cluster's worker processes (cluster.ts). Used by `nocopy-rpc serve --metrics` and
// `nocopy-proxy --metrics`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { type MetricsCluster, clusterProducer } from './cluster.js';
import { InvalidOptionError, checkOptions } from './errors.js';
import { type Observation, type Observed, observe } from './observe.js';
import { Durations } from './durations.js';
import { type RpcInstrumentation, type RpcInstrumentationOptions, instrumentRpc, kDurations } from './rpc.js';

export interface ServeMetricsOptions {
  /** TCP port; 0 = any free port (see `address`). Default 9464, Prometheus' registered exporter port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default '/metrics'. */
  path?: string;
  /** Objects whose stats() are served (an RpcServer, a TcpProxy, a ClusterPrimary, defaultPool, ...). */
  observe?: Observed[];
  /** Record rpc.server.duration and rpc.client.duration from the RPC channels. Default true. */
  rpc?: boolean;
  /**
   * A cluster primary (runCluster()) whose workers run workerMetrics(): each scrape also asks them
   * for their metrics, served with a `worker` label (the slot). Then leave out of `observe` and `rpc`
   * what the workers report themselves (the pool, the RPC histograms): one name, one source.
   */
  workers?: MetricsCluster;
  /** How long a scrape waits for the workers' answers, in ms. Default 2000. */
  workersTimeout?: number;
}

export interface MetricsEndpoint extends AsyncDisposable {
  /** The provider behind the endpoint: add instruments of your own to it. */
  readonly meterProvider: ApiMeterProvider;
  readonly address: AddressInfo;
  /** http://host:port/metrics */
  readonly url: string;
  /** Stops observing and serving. */
  close(): Promise<void>;
}

/** Starts serving; resolves once listening (rejects with the listen error, EADDRINUSE say). */
export async function serveMetrics(options: ServeMetricsOptions = {}): Promise<MetricsEndpoint> {
  checkOptions(options, ['port', 'host', 'path', 'observe', 'rpc', 'workers', 'workersTimeout']);
  const port = options.port ?? 9464;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionError('port', port, 'an integer from 0 to 65535');
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidOptionError('path', path, 'a path starting with /');
  const targets = options.observe ?? [];
  if (!Array.isArray(targets)) throw new InvalidOptionError('observe', targets, 'an array of objects with stats()');
  const cluster = options.workers;
  if (cluster !== undefined && (cluster === null || typeof cluster.sendToWorkers !== 'function')) throw new InvalidOptionError('workers', cluster, 'a cluster primary (runCluster())');
  const workersTimeout = options.workersTimeout ?? 2000;
  if (!Number.isInteger(workersTimeout) || workersTimeout <= 0) throw new InvalidOptionError('workersTimeout', workersTimeout, 'a positive integer (ms)');
  const producer = cluster === undefined ? null : clusterProducer(cluster, workersTimeout);
  // The RPC histograms are kept by durations.ts (cheaper per call than the SDK's Histogram) and collected with the rest.
  const durations = options.rpc === false ? null : new Durations();
  const producers = [...(durations === null ? [] : [durations.producer]), ...(producer === null ? [] : [producer])];
  // The exporter's own server cannot report a port chosen by the system: ours serves its handler.
  const exporter = new PrometheusExporter({ preventServerStart: true, ...(producers.length === 0 ? {} : { metricProducers: producers }) });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const observations: Observation[] = targets.map((t) => observe(t, { meterProvider }));
  const rpc: RpcInstrumentation | null = durations === null ? null : instrumentRpc({ traces: false, [kDurations]: durations } as RpcInstrumentationOptions);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: metrics are at ${path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    exporter.getMetricsRequestHandler(req, res);
  });
  const stop = async (): Promise<void> => {
    producer?.close();
    rpc?.disable();
    for (const o of observations) o.disable();
    await meterProvider.shutdown();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
    })();
    return closed;
  };
  return { meterProvider, address, url: `http://${h}:${address.port}${path}`, close, [Symbol.asyncDispose]: close };
}

export { workerMetrics, WORKER, type MetricsCluster, type WorkerMetrics, type WorkerMetricsOptions } from './cluster.js';
