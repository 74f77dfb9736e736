// The --metrics flag of nocopy's CLIs (nocopy-rpc serve, nocopy-proxy), in one place:
// @nocopy/otel/prometheus is imported only when the flag is given, by a name the compiler does not
// follow, so that neither CLI loads OpenTelemetry otherwise nor depends on @nocopy/otel (an optional
// install). The types here are what the CLIs use of it, written out for the same reason.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** A served /metrics endpoint. */
export interface MetricsEndpointLike {
  readonly url: string;
  close(): Promise<void>;
}

/** What the CLIs use of @nocopy/otel/prometheus. */
export interface OtelPrometheus {
  serveMetrics(options: {
    port: number;
    host: string;
    observe: Array<{ stats(): object }>;
    rpc?: boolean;
    workers?: { sendToWorkers(message: object): number[]; on(event: 'worker-message', fn: (e: { slot: number; pid: number; message: unknown }) => void): unknown; off(event: 'worker-message', fn: (e: { slot: number; pid: number; message: unknown }) => void): unknown };
  }): Promise<MetricsEndpointLike>;
  workerMetrics(options: { observe: Array<{ stats(): object }>; rpc?: boolean }): { close(): Promise<void> };
}

const OTEL = '@nocopy/otel/prometheus';

/**
 * Imports @nocopy/otel/prometheus as resolved from `from` (the caller's import.meta.url); rejects
 * with a one-line reason when it is not installed (told apart from an error inside the package).
 */
export async function loadOtelPrometheus(from: string): Promise<OtelPrometheus> {
  let url: string;
  try {
    url = pathToFileURL(createRequire(from).resolve(OTEL)).href;
  } catch {
    throw new Error('--metrics needs @nocopy/otel: npm install @nocopy/otel');
  }
  return (await import(url)) as OtelPrometheus;
}
