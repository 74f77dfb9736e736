// --metrics PORT of nocopy-proxy: a Prometheus endpoint from @nocopy/otel, loaded only when the flag
// is given (@nocopy/transport/metrics-flag), so that the proxy neither loads nor depends on
// OpenTelemetry otherwise.
import { defaultPool } from '@nocopy/linkbuffer';
import { type MetricsEndpointLike, loadOtelPrometheus } from '@nocopy/transport/metrics-flag';

/** Serves GET /metrics for `targets` (and the shared buffer pool); rejects with a one-line reason. */
export async function serveMetrics(port: number, host: string, targets: Array<{ stats(): object }>): Promise<MetricsEndpointLike> {
  const otel = await loadOtelPrometheus(import.meta.url);
  return otel.serveMetrics({ port, host, observe: [...targets, defaultPool], rpc: false });
}
