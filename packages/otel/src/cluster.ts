// The metrics of a cluster's workers on the primary's Prometheus endpoint. Each worker records its
// own (its RPC server's stats, its buffer pool, the RPC duration histograms) into a MeterProvider that
// nothing exports; at each scrape the primary asks every ready worker for a collection over the
// cluster's IPC channel and serves the answers beside its own metrics, every point labelled with the
// worker's slot (`worker="0"`). Pulled, not pushed: a scrape sees the counts of that moment, and
// nothing is kept between scrapes (memory bounded by one collection per worker while a scrape runs).
// A worker that does not answer within the timeout is left out of that scrape (with an error the
// SDK logs); draining workers (a rolling restart) are not asked, their replacements are.
import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import {
  type CollectionResult,
  type MetricData,
  type MetricProducer,
  MeterProvider,
  MetricReader,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { checkOptions } from './errors.js';
import { type Observation, type Observed, observe } from './observe.js';
import { Durations } from './durations.js';
import { type RpcInstrumentation, type RpcInstrumentationOptions, instrumentRpc, kDurations } from './rpc.js';
import { NAME, VERSION } from './version.js';

/** The key of this module's IPC messages (the cluster's own carry `nocopyCluster`). */
const TAG = 'nocopyMetrics';
/** The attribute naming a worker's slot on its points. */
export const WORKER = 'worker';

/** What the primary side needs of a cluster (a ClusterPrimary of @nocopy/transport/cluster). */
export interface MetricsCluster {
  sendToWorkers(message: object): number[];
  on(event: 'worker-message', listener: (e: { slot: number; pid: number; message: unknown }) => void): unknown;
  off(event: 'worker-message', listener: (e: { slot: number; pid: number; message: unknown }) => void): unknown;
}

export interface WorkerMetricsOptions {
  /** Objects whose stats() are reported (the worker's RpcServer, defaultPool, ...). */
  observe?: Observed[];
  /** Record rpc.server.duration and rpc.client.duration. Default true. */
  rpc?: boolean;
}

export interface WorkerMetrics {
  /** The worker's provider: instruments of your own added to it reach the primary too. */
  readonly meterProvider: ApiMeterProvider;
  /** Stops answering and recording. */
  close(): Promise<void>;
}

/** A reader that only collects when asked (the primary's request). */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/**
 * In a cluster worker (a process forked by runCluster): records the given targets and the RPC
 * histograms, and answers the primary's collection requests (serveMetrics({ workers: cluster })).
 */
export function workerMetrics(options: WorkerMetricsOptions = {}): WorkerMetrics {
  checkOptions(options, ['observe', 'rpc']);
  const durations = options.rpc === false ? null : new Durations();
  const reader = new PullReader(durations === null ? {} : { metricProducers: [durations.producer] });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const observations: Observation[] = (options.observe ?? []).map((t) => observe(t, { meterProvider }));
  const rpc: RpcInstrumentation | null = durations === null ? null : instrumentRpc({ traces: false, [kDurations]: durations } as RpcInstrumentationOptions);
  const onMessage = (msg: unknown): void => {
    const m = msg as { [TAG]?: unknown; id?: unknown } | null;
    if (m === null || typeof m !== 'object' || m[TAG] !== 'collect' || typeof m.id !== 'number') return;
    const id = m.id;
    void reader.collect().then(
      (r) => reply({ [TAG]: 'metrics', id, scopeMetrics: r.resourceMetrics.scopeMetrics, errors: r.errors.map(String) }),
      (err: unknown) => reply({ [TAG]: 'metrics', id, scopeMetrics: [], errors: [String(err)] }),
    );
  };
  const reply = (m: object): void => {
    if (process.connected) process.send!(m, undefined, {}, () => {});
  };
  process.on('message', onMessage);
  let closed: Promise<void> | null = null;
  return {
    meterProvider,
    close: () => {
      closed ??= (async () => {
        process.off('message', onMessage);
        rpc?.disable();
        for (const o of observations) o.disable();
        await meterProvider.shutdown();
      })();
      return closed;
    },
  };
}

interface Answer {
  scopeMetrics: ScopeMetrics[];
  errors: string[];
}

/**
 * On the primary: a MetricProducer for a MetricReader's (the Prometheus exporter's) metricProducers,
 * whose collect() asks every ready worker and merges the answers into one scope, by metric name,
 * each point with `worker` = its slot. `timeout` (ms): how long a collection waits for the workers.
 */
export function clusterProducer(cluster: MetricsCluster, timeout = 2000): MetricProducer & { close(): void } {
  let seq = 0;
  const waiting = new Map<number, { answers: Map<number, Answer>; expect: number; done: () => void }>();
  const onMessage = (e: { slot: number; message: unknown }): void => {
    const m = e.message as { [TAG]?: unknown; id?: unknown; scopeMetrics?: unknown; errors?: unknown } | null;
    if (m === null || typeof m !== 'object' || m[TAG] !== 'metrics' || typeof m.id !== 'number') return;
    const w = waiting.get(m.id);
    if (w === undefined) return; // too late: that scrape is over
    w.answers.set(e.slot, { scopeMetrics: Array.isArray(m.scopeMetrics) ? m.scopeMetrics : [], errors: Array.isArray(m.errors) ? m.errors.map(String) : [] });
    if (w.answers.size >= w.expect) w.done();
  };
  cluster.on('worker-message', onMessage);
  return {
    async collect(): Promise<CollectionResult> {
      const id = ++seq;
      const answers = new Map<number, Answer>();
      const errors: unknown[] = [];
      const slots = cluster.sendToWorkers({ [TAG]: 'collect', id });
      if (slots.length > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => done(), timeout);
          const done = (): void => {
            clearTimeout(timer);
            waiting.delete(id);
            resolve();
          };
          waiting.set(id, { answers, expect: slots.length, done });
        });
        for (const slot of slots) if (!answers.has(slot)) errors.push(new Error(`cluster worker ${slot} sent no metrics within ${timeout} ms`));
      }
      const byName = new Map<string, MetricData>();
      for (const [slot, a] of [...answers].sort(([x], [y]) => x - y)) {
        for (const e of a.errors) errors.push(new Error(`cluster worker ${slot}: ${e}`));
        for (const sm of a.scopeMetrics) {
          for (const metric of sm.metrics) merge(byName, metric, String(slot));
        }
      }
      return {
        // The reader keeps its own resource and ignores this one.
        resourceMetrics: { resource: undefined as never, scopeMetrics: byName.size === 0 ? [] : [{ scope: { name: NAME, version: VERSION }, metrics: [...byName.values()] }] },
        errors,
      };
    },
    close: () => {
      cluster.off('worker-message', onMessage);
    },
  };
}

/** Adds `metric`'s points, labelled with the worker, to the metric of that name (the first worker's descriptor). */
function merge(byName: Map<string, MetricData>, metric: MetricData, worker: string): void {
  let into = byName.get(metric.descriptor.name);
  if (into === undefined) {
    into = { ...metric, dataPoints: [] } as MetricData;
    byName.set(metric.descriptor.name, into);
  } else if (into.dataPointType !== metric.dataPointType) return; // two workers of different versions: the first one's kind wins
  const points = into.dataPoints as Array<(typeof metric.dataPoints)[number]>;
  for (const p of metric.dataPoints) points.push({ ...p, attributes: { ...p.attributes, [WORKER]: worker } });
}
