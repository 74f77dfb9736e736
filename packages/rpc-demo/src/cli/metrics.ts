// --metrics PORT of `nocopy-rpc serve`: a Prometheus endpoint from @nocopy/otel, loaded only when the
// flag is given (@nocopy/transport/metrics-flag), so that the RPC package neither loads nor depends
// on OpenTelemetry otherwise. With --processes N, each worker records its own metrics and the
// primary's endpoint asks them at every scrape (labelled worker="SLOT").
import { defaultPool } from '@nocopy/linkbuffer';
import { type MetricsEndpointLike, type OtelPrometheus, loadOtelPrometheus } from '@nocopy/transport/metrics-flag';

/** Serves GET /metrics for a server (and the buffer pool, the RPC histograms); rejects with a one-line reason. */
export async function serveMetrics(port: number, host: string, targets: Array<{ stats(): object }>): Promise<MetricsEndpointLike> {
  const otel = await loadOtelPrometheus(import.meta.url);
  return otel.serveMetrics({ port, host, observe: [...targets, defaultPool] });
}

/** The primary of `serve --processes N`: the cluster's own metrics, and its workers' (workerMetrics). */
export async function serveClusterMetrics(port: number, host: string, cluster: Parameters<OtelPrometheus['serveMetrics']>[0]['workers'] & { stats(): object }): Promise<MetricsEndpointLike> {
  const otel = await loadOtelPrometheus(import.meta.url);
  // The pool and the RPC histograms are the workers': the primary neither serves calls nor holds buffers.
  return otel.serveMetrics({ port, host, observe: [cluster], rpc: false, workers: cluster });
}

/** In a worker of `serve --processes N --metrics PORT`: records the server's metrics for the primary to ask. */
export async function workerMetrics(server: { stats(): object }): Promise<{ close(): Promise<void> }> {
  const otel = await loadOtelPrometheus(import.meta.url);
  return otel.workerMetrics({ observe: [server, defaultPool] });
}
