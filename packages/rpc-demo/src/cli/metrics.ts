// --metrics PORT of `nocopy-rpc serve`: a Prometheus endpoint from @nocopy/otel, imported only when
// the flag is given (by a name the compiler does not follow), so that the RPC package neither loads
// nor depends on OpenTelemetry otherwise.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { defaultPool } from '@nocopy/linkbuffer';

/** What this CLI uses of @nocopy/otel/prometheus. */
interface Otel {
  serveMetrics(options: { port: number; host: string; observe: Array<{ stats(): object }> }): Promise<{ url: string; close(): Promise<void> }>;
}

const OTEL = '@nocopy/otel/prometheus';

/** Serves GET /metrics for `targets` (and the shared buffer pool); rejects with a one-line reason. */
export async function serveMetrics(port: number, host: string, targets: Array<{ stats(): object }>): Promise<{ url: string; close(): Promise<void> }> {
  // Resolved first, so that "not installed" is told apart from an error inside the package.
  let url: string;
  try {
    url = pathToFileURL(createRequire(import.meta.url).resolve(OTEL)).href;
  } catch {
    throw new Error('--metrics needs @nocopy/otel: npm install @nocopy/otel');
  }
  const otel = (await import(url)) as Otel;
  return otel.serveMetrics({ port, host, observe: [...targets, defaultPool] });
}
