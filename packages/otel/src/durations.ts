// rpc.client.duration and rpc.server.duration kept by this package itself, for the endpoints it runs
// (serveMetrics, workerMetrics), and handed to their reader as a MetricProducer. The SDK's
// Histogram.record() finds a sample's series by hashing its attributes (sorting their keys and
// JSON.stringify) on every call: about 9,700 instructions, more than half of what a whole RPC call
// costs the server. Here a sample finds its series by method (and error code) in a Map, then does
// what the SDK's explicit-bucket aggregation does (count, sum, min, max, the bucket of the first
// boundary >= the value), and a collection turns the series into the same cumulative
// HistogramMetricData the SDK would have produced. Applications with a MeterProvider of their own
// keep using instrumentRpc({ meterProvider }), through the metrics API.
import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import { AggregationTemporality, type CollectionResult, DataPointType, type HistogramMetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { DURATION_BUCKETS, ERROR_TYPE, RPC_METHOD, RPC_SYSTEM, SYSTEM } from './semconv.js';
import { NAME, VERSION } from './version.js';

/** Series per histogram at most (the SDK's default cardinality limit); past it, one overflow series. */
const MAX_SERIES = 2000;
const OVERFLOW: Attributes = { 'otel.metric.overflow': true };

interface Series {
  readonly attributes: Attributes;
  readonly counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** One duration histogram (ms, DURATION_BUCKETS), by method and error code. */
export class DurationHistogram {
  readonly #name: string;
  readonly #description: string;
  readonly #ok = new Map<string, Series>();
  readonly #failed = new Map<string, Series>();
  #overflow: Series | null = null;
  #size = 0;

  constructor(name: string, description: string) {
    this.#name = name;
    this.#description = description;
  }

  record(ms: number, method: string, code: string | undefined): void {
    if (Number.isNaN(ms)) return;
    const map = code === undefined ? this.#ok : this.#failed;
    const key = code === undefined ? method : `${method}\0${code}`;
    let s = map.get(key);
    if (s === undefined) {
      if (this.#size >= MAX_SERIES) s = this.#overflow ??= newSeries(OVERFLOW);
      else {
        s = newSeries(code === undefined ? { [RPC_SYSTEM]: SYSTEM, [RPC_METHOD]: method } : { [RPC_SYSTEM]: SYSTEM, [RPC_METHOD]: method, [ERROR_TYPE]: code });
        map.set(key, s);
        this.#size++;
      }
    }
    s.count++;
    s.sum += ms;
    if (ms < s.min) s.min = ms;
    if (ms > s.max) s.max = ms;
    // The first boundary >= ms (inclusive upper bounds, as the SDK counts); past the last, the overflow bucket.
    let i = 0;
    while (i < DURATION_BUCKETS.length && DURATION_BUCKETS[i]! < ms) i++;
    s.counts[i]!++;
  }

  /** The cumulative data since `start`, or null without a sample yet. */
  data(start: HrTime, end: HrTime): HistogramMetricData | null {
    const dataPoints = [];
    for (const map of [this.#ok, this.#failed]) {
      for (const s of map.values()) dataPoints.push(point(s, start, end));
    }
    if (this.#overflow !== null) dataPoints.push(point(this.#overflow, start, end));
    if (dataPoints.length === 0) return null;
    return {
      descriptor: { name: this.#name, description: this.#description, unit: 'ms', valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

function newSeries(attributes: Attributes): Series {
  return { attributes, counts: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), count: 0, sum: 0, min: Infinity, max: -Infinity };
}

function point(s: Series, startTime: HrTime, endTime: HrTime) {
  return {
    startTime,
    endTime,
    attributes: s.attributes,
    value: { buckets: { boundaries: [...DURATION_BUCKETS], counts: [...s.counts] }, count: s.count, sum: s.sum, min: s.min, max: s.max },
  };
}

/** The client and server duration histograms, and a MetricProducer that collects both. */
export class Durations {
  readonly client = new DurationHistogram('rpc.client.duration', 'Duration of the RPC calls made, until their result or error');
  readonly server = new DurationHistogram('rpc.server.duration', "Duration of the RPC calls served, from the decoded request to the handler's result or error");
  readonly #start = hrNow();

  readonly producer: MetricProducer = {
    collect: async (): Promise<CollectionResult> => {
      const end = hrNow();
      const metrics = [this.client.data(this.#start, end), this.server.data(this.#start, end)].filter((m) => m !== null);
      return {
        // The reader keeps its own resource and ignores this one.
        resourceMetrics: { resource: undefined as never, scopeMetrics: metrics.length === 0 ? [] : [{ scope: { name: NAME, version: VERSION }, metrics }] },
        errors: [],
      };
    },
  };
}

function hrNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}
