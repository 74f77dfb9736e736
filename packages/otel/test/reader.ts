// A MetricReader the tests collect from when they want (not a test file).
import { AggregationTemporality, type DataPoint, type Histogram, type HistogramMetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import type { Attributes } from '@opentelemetry/api';

export class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  async histogram(name: string): Promise<Array<DataPoint<Histogram>>> {
    const { resourceMetrics } = await this.collect();
    const m = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === name) as HistogramMetricData | undefined;
    return m?.dataPoints ?? [];
  }
  /** Every gauge and counter point: "name{k=v,...}" -> value. */
  async numbers(): Promise<Map<string, number>> {
    const { resourceMetrics } = await this.collect();
    const out = new Map<string, number>();
    for (const m of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
      for (const p of m.dataPoints) if (typeof p.value === 'number') out.set(key(m.descriptor.name, p.attributes), p.value);
    }
    return out;
  }
}

export function key(name: string, attributes: Attributes = {}): string {
  const a = Object.entries(attributes).map(([k, v]) => `${k}=${String(v)}`).sort().join(',');
  return a === '' ? name : `${name}{${a}}`;
}
