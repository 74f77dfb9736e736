// A closed-loop load driver: keeps `concurrency` calls in flight for `duration` seconds, records
// latencies in Node's native histogram, and reports progress once a second.
import { createHistogram, performance } from 'node:perf_hooks';
import type { RpcClient } from '../rpc/client.js';

export interface LoadOptions {
  concurrency: number;
  /** Seconds. */
  duration: number;
  method: string;
  params: unknown[];
  /** Called about once a second with the calls per second of that second and the totals so far. */
  onProgress?: (p: { second: number; rps: number; calls: number; errors: number }) => void;
}

export interface LoadSummary {
  calls: number;
  errors: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  firstError: string | null;
}

export async function runLoad(client: RpcClient, o: LoadOptions): Promise<LoadSummary> {
  const h = createHistogram();
  let calls = 0;
  let errors = 0;
  let firstError: string | null = null;
  let lastCalls = 0;
  let second = 0;
  const t0 = performance.now();
  const end = t0 + o.duration * 1000;
  const progress = setInterval(() => {
    second++;
    o.onProgress?.({ second, rps: calls - lastCalls, calls, errors });
    lastCalls = calls;
  }, 1000);
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await client.request(o.method, o.params);
        h.record(Math.max(1, Math.round((performance.now() - s) * 1000)));
        calls++;
      } catch (err) {
        errors++;
        firstError ??= `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim();
        // A failing server is not hammered in a tight loop.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    calls,
    errors,
    seconds,
    rps: calls / seconds,
    p50ms: h.count > 0 ? h.percentile(50) / 1000 : 0,
    p99ms: h.count > 0 ? h.percentile(99) / 1000 : 0,
    firstError,
  };
}

export function formatSummary(s: LoadSummary): string {
  return `${s.calls} calls in ${s.seconds.toFixed(1)} s: ${Math.round(s.rps).toLocaleString('en-US')} calls/s, p50 ${s.p50ms.toFixed(2)} ms, p99 ${s.p99ms.toFixed(2)} ms, ${s.errors} error(s)${s.firstError ? ` (first: ${s.firstError})` : ''}`;
}
