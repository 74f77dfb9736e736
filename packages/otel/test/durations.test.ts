// The endpoints' own duration histograms (src/durations.ts) against the SDK's: the same samples give
// the same buckets, count, sum, min and max per method and error code, boundary values included;
// the number of series is bounded (one overflow series past the limit).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Durations } from '../src/durations.js';
import { DURATION_BUCKETS, SYSTEM } from '../src/semconv.js';
import { TestReader, key } from './reader.js';

describe('Durations', () => {
  it('counts as the SDK explicit-bucket histogram does', async () => {
    const reader = new TestReader();
    const sdk = new MeterProvider({ readers: [reader] }).getMeter('t').createHistogram('rpc.server.duration', { unit: 'ms', advice: { explicitBucketBoundaries: DURATION_BUCKETS } });
    const ours = new Durations();
    // Every boundary exactly, just above and below it, zero, past the last boundary, NaN (ignored by both).
    const values = [0, NaN, 20000, ...DURATION_BUCKETS.flatMap((b) => [b, b * 0.999, b * 1.001])];
    const calls: Array<[string, string | undefined]> = [['echo', undefined], ['add', 'ERR_BAD_ARGS'], ['echo', 'ERR_RPC_TIMEOUT']];
    for (const [method, code] of calls) {
      for (const v of values) {
        sdk.record(v, code === undefined ? { 'rpc.system': SYSTEM, 'rpc.method': method } : { 'rpc.system': SYSTEM, 'rpc.method': method, 'error.type': code });
        ours.server.record(v, method, code);
      }
    }
    const { resourceMetrics } = await ours.producer.collect();
    const mine = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'rpc.server.duration')!;
    const theirs = await reader.histogram('rpc.server.duration');
    const byKey = (points: readonly { attributes: Record<string, unknown>; value: unknown }[]) =>
      new Map(points.map((p) => [key('d', p.attributes as never), p.value as { buckets: unknown; count: number; sum: number; min?: number; max?: number }]));
    const a = byKey(mine.dataPoints as never);
    const b = byKey(theirs as never);
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [k, v] of b) {
      const m = a.get(k)!;
      assert.deepEqual(m.buckets, v.buckets, k);
      assert.equal(m.count, v.count, k);
      assert.equal(m.sum, v.sum, k);
      assert.equal(m.min, v.min, k);
      assert.equal(m.max, v.max, k);
    }
    // No client call recorded: no client histogram at all.
    assert.equal(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).some((m) => m.descriptor.name === 'rpc.client.duration'), false);
  });

  it('keeps at most 2000 series; the samples past them go to one overflow series', async () => {
    const ours = new Durations();
    for (let i = 0; i < 2100; i++) ours.client.record(1, `m${i}`, undefined);
    ours.client.record(1, 'm0', undefined); // an existing series still counts
    const { resourceMetrics } = await ours.producer.collect();
    const points = resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints as Array<{ attributes: Record<string, unknown>; value: { count: number } }>;
    assert.equal(points.length, 2001);
    assert.equal(points.find((p) => p.attributes['otel.metric.overflow'] === true)?.value.count, 100);
    assert.equal(points.find((p) => p.attributes['rpc.method'] === 'm0')?.value.count, 2);
  });
});
