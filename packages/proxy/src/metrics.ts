// --metrics PORT of nocopy-proxy: a Prometheus endpoint from @nocopy/otel, imported only when the
// flag is given (by a name the compiler does not follow), so that the proxy neither loads nor
// depends on OpenTelemetry otherwise.
import { defaultPool } from '@nocopy/linkbuffer';

/** What this CLI uses of @nocopy/otel/prometheus. */
interface Otel {
  serveMetrics(options: { port: number; host: string; observe: Array<{ stats(): object }>; rpc: boolean }): Promise<{ url: string; close(): Promise<void> }>;
}

const OTEL = '@nocopy/otel/prometheus';

/** Serves GET /metrics for `targets` (and the shared buffer pool); rejects with a one-line reason. */
export async function serveMetrics(port: number, host: string, targets: Array<{ stats(): object }>): Promise<{ url: string; close(): Promise<void> }> {
  let otel: Otel;
  try {
    otel = (await import(OTEL)) as Otel;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') throw new Error('--metrics needs @nocopy/otel: npm install @nocopy/otel');
    throw err;
  }
  return otel.serveMetrics({ port, host, observe: [...targets, defaultPool], rpc: false });
}
