// --metrics PORT of nocopy-proxy: a Prometheus endpoint from @nocopy/otel, loaded only when the flag
// is given (@nocopy/transport/metrics-flag), so that the proxy neither loads nor depends on
// OpenTelemetry otherwise.
import { defaultPool } from '@nocopy/linkbuffer';
import { type MetricsEndpointLike, type OtelPrometheus, loadOtelPrometheus } from '@nocopy/transport/metrics-flag';

/** Serves GET /metrics for `targets` (and the shared buffer pool); rejects with a one-line reason. */
export async function serveMetrics(port: number, host: string, targets: Array<{ stats(): object }>): Promise<MetricsEndpointLike> {
  const otel = await loadOtelPrometheus(import.meta.url);
  return otel.serveMetrics({ port, host, observe: [...targets, defaultPool], rpc: false });
}

/** The primary of `--processes N`: the cluster's own metrics, and its workers' (labelled worker="SLOT"). */
export async function serveClusterMetrics(port: number, host: string, cluster: NonNullable<Parameters<OtelPrometheus['serveMetrics']>[0]['workers']> & { stats(): object }): Promise<MetricsEndpointLike> {
  const otel = await loadOtelPrometheus(import.meta.url);
  // The proxies and their buffer pools live in the workers: the primary only hands out connections.
  return otel.serveMetrics({ port, host, observe: [cluster], rpc: false, workers: cluster });
}

/** In a worker of `--processes N --metrics PORT`: records its proxy's metrics for the primary to ask. */
export async function workerMetrics(proxy: { stats(): object }): Promise<{ close(): Promise<void> }> {
  const otel = await loadOtelPrometheus(import.meta.url);
  return otel.workerMetrics({ observe: [proxy, defaultPool], rpc: false });
}
