// instrumentRpc() in one process: nothing subscribed until installed and after disable(); the span a
// caller has open is the client span's parent; the trace context joins the caller's own metadata
// without changing its options object; sampling off records nothing but still propagates the
// decision; the duration histograms count calls and errors; notifications get a server span too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { TestReader } from './reader.js';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type CallContext, type RpcClient, type RpcServer, createClient, createServer } from '@nocopy/rpc-demo';
import { until } from '@nocopy/test-kit';
import { CLIENT_CALL, SERVER_CALL, instrumentRpc } from '../src/index.js';

const propagator = new W3CTraceContextPropagator();
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/;


let server: RpcServer;
let client: RpcClient;
let port = 0;
/** The metadata each call of `seen` arrived with. */
const seen: Array<Readonly<Record<string, string>>> = [];

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  server = createServer();
  server.register('seen', function (this: CallContext) {
    seen.push(this.metadata);
    return this.metadata.traceparent ?? null;
  });
  server.register('boom', () => {
    throw Object.assign(new Error('boom'), { code: 'ERR_TEST_BOOM' });
  });
  server.register('note', () => {});
  const addr = (await server.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo;
  port = addr.port;
  client = createClient({ address: `127.0.0.1:${addr.port}`, connections: 1 });
  await client.call('seen'); // the connection and its extensions' hello, before anything is installed
  seen.length = 0;
});

after(async () => {
  await client.close();
  await server.shutdown();
  context.disable();
});

describe('instrumentRpc', () => {
  it('is not subscribed before it is installed, and no longer once disabled', () => {
    const channels = [diagnostics.tracingChannel(CLIENT_CALL), diagnostics.tracingChannel(SERVER_CALL)];
    assert.deepEqual(channels.map((c) => c.hasSubscribers), [false, false]);
    const handle = instrumentRpc({ tracerProvider: new BasicTracerProvider(), meterProvider: new MeterProvider() });
    assert.deepEqual(channels.map((c) => c.hasSubscribers), [true, true]);
    handle.disable();
    handle.disable();
    assert.deepEqual(channels.map((c) => c.hasSubscribers), [false, false]);
    {
      using _ = instrumentRpc({ traces: false, meterProvider: new MeterProvider() });
      assert.deepEqual(channels.map((c) => c.hasSubscribers), [true, true]);
    }
    assert.deepEqual(channels.map((c) => c.hasSubscribers), [false, false]);
  });

  it('refuses unknown options', () => {
    assert.throws(() => instrumentRpc({ tracer: {} } as never), { code: 'ERR_INVALID_OPTION' });
  });

  it("parents the client span on the caller's active span and adds the trace context to the caller's metadata, leaving its options alone", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    using _ = instrumentRpc({ tracerProvider: provider, meterProvider: new MeterProvider(), propagator });
    const options = Object.freeze({ metadata: Object.freeze({ user: 'ada' }), timeout: 5000 });
    const parent = provider.getTracer('test').startSpan('parent');
    const tp = await context.with(trace.setSpan(context.active(), parent), () => client.request('seen', [], options));
    parent.end();
    assert.deepEqual(options, { metadata: { user: 'ada' }, timeout: 5000 });
    const md = seen.at(-1)!;
    assert.equal(md.user, 'ada');
    assert.equal(md.traceparent, tp);
    const [, traceId, spanId, sampled] = TRACEPARENT.exec(String(tp))!;
    assert.equal(traceId, parent.spanContext().traceId);
    assert.equal(sampled, '1');
    await until(() => exporter.getFinishedSpans().length === 3, 'three spans');
    const spans = exporter.getFinishedSpans();
    const clientSpan = spans.find((s) => s.kind === 2)!;
    const serverSpan = spans.find((s) => s.kind === 1)!;
    assert.equal(clientSpan.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(clientSpan.spanContext().spanId, spanId, 'the traceparent sent names the client span');
    assert.equal(serverSpan.parentSpanContext?.spanId, clientSpan.spanContext().spanId);
    assert.equal(clientSpan.attributes['rpc.nocopy.timeout_ms'], 5000);
    assert.equal(typeof serverSpan.attributes['rpc.nocopy.msgid'], 'number');
    assert.equal(serverSpan.attributes['network.peer.address'], '127.0.0.1');
    // The client span names the connection the call was written on (known only after start).
    assert.equal(clientSpan.attributes['server.address'], '127.0.0.1');
    assert.equal(clientSpan.attributes['server.port'], port);
    assert.equal(clientSpan.attributes['network.peer.address'], '127.0.0.1');
    assert.equal(clientSpan.attributes['network.peer.port'], port);
  });

  it('gives a notification a server span', async () => {
    const exporter = new InMemorySpanExporter();
    using _ = instrumentRpc({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }), meterProvider: new MeterProvider(), propagator });
    await client.notify('note');
    await until(() => exporter.getFinishedSpans().some((s) => s.name === 'note'), 'the span of the notification');
    const span = exporter.getFinishedSpans().find((s) => s.name === 'note')!;
    assert.equal(span.kind, 1);
    assert.equal(span.attributes['rpc.nocopy.msgid'], undefined);
  });

  it('with sampling off records no span but still sends the (unsampled) trace context', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    using _ = instrumentRpc({ tracerProvider: provider, meterProvider: new MeterProvider(), propagator });
    const tp = await client.call('seen');
    assert.match(String(tp), TRACEPARENT);
    assert.equal(TRACEPARENT.exec(String(tp))![3], '0');
    assert.equal(exporter.getFinishedSpans().length, 0);
  });

  it('with traceRoots: false leaves calls outside a trace alone and traces the calls of one', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    using _ = instrumentRpc({ tracerProvider: provider, meterProvider: new MeterProvider(), propagator, traceRoots: false });
    assert.equal(await client.call('seen'), null, 'no trace context sent');
    assert.equal(seen.at(-1)!.traceparent, undefined);
    const parent = provider.getTracer('test').startSpan('edge');
    const tp = await context.with(trace.setSpan(context.active(), parent), () => client.call('seen'));
    parent.end();
    assert.equal(TRACEPARENT.exec(String(tp))?.[1], parent.spanContext().traceId);
    await until(() => exporter.getFinishedSpans().length === 3, 'the edge span, and a client and a server span');
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.kind).sort(), [0, 1, 2]);
  });

  it('sampling off as bench/rpc measures it (ParentBased(AlwaysOff), traceRoots: false, no metrics): a sampled remote parent still gets a recorded server span, current in its handler', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    // The caller's side: its own provider samples everything (the edge decided).
    const edge = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    server.register('nested', () => client.call('seen'));
    using _ = instrumentRpc({ tracerProvider: provider, propagator, traceRoots: false, metrics: false });
    // Outside a trace: nothing recorded, nothing sent, also for the call the handler makes.
    assert.equal(await client.call('nested'), null);
    assert.equal(exporter.getFinishedSpans().length, 0);
    // A sampled parent: the client span (ParentBased keeps the parent's decision), the server span
    // of `nested` as its child, and the handler's own call as the server span's child.
    const parent = edge.getTracer('test').startSpan('edge');
    const tp = await context.with(trace.setSpan(context.active(), parent), () => client.call('nested'));
    parent.end();
    assert.equal(TRACEPARENT.exec(String(tp))?.[1], parent.spanContext().traceId, 'the nested call carried the trace');
    assert.equal(TRACEPARENT.exec(String(tp))?.[3], '1', 'sampled');
    await until(() => exporter.getFinishedSpans().length === 5, () => `five spans: ${exporter.getFinishedSpans().map((x) => x.name).join(', ')}`);
    const spans = exporter.getFinishedSpans();
    const outerClient = spans.find((x) => x.name === 'nested' && x.kind === 2)!;
    const outerServer = spans.find((x) => x.name === 'nested' && x.kind === 1)!;
    const innerClient = spans.find((x) => x.name === 'seen' && x.kind === 2)!;
    const innerServer = spans.find((x) => x.name === 'seen' && x.kind === 1)!;
    assert.equal(outerClient.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(outerServer.parentSpanContext?.spanId, outerClient.spanContext().spanId);
    assert.equal(innerClient.parentSpanContext?.spanId, outerServer.spanContext().spanId, "the handler's call is the server span's child");
    assert.equal(innerServer.parentSpanContext?.spanId, innerClient.spanContext().spanId);
    assert.equal(new Set(spans.map((x) => x.spanContext().traceId)).size, 1);
  });

  it('works beside another installed instrumentation (each keeps its own call state)', async () => {
    const exporter = new InMemorySpanExporter();
    const reader = new TestReader();
    using _spans = instrumentRpc({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }), meterProvider: new MeterProvider(), propagator });
    using _durations = instrumentRpc({ traces: false, meterProvider: new MeterProvider({ readers: [reader] }) });
    await client.call('seen');
    await until(() => exporter.getFinishedSpans().length === 2, 'a client and a server span');
    const points = await reader.histogram('rpc.server.duration');
    assert.equal(points.reduce((a, p) => a + p.value.count, 0), 1);
  });

  it('records rpc.client.duration and rpc.server.duration per method, failures under their error code', async () => {
    const reader = new TestReader();
    using _ = instrumentRpc({ traces: false, meterProvider: new MeterProvider({ readers: [reader] }) });
    for (let i = 0; i < 5; i++) assert.equal(await client.call('seen'), null, 'metrics only: no trace context sent');
    for (let i = 0; i < 3; i++) await assert.rejects(client.call('boom'), { code: 'ERR_TEST_BOOM' });
    for (const name of ['rpc.client.duration', 'rpc.server.duration']) {
      const points = await reader.histogram(name);
      const count = (method: string, error?: string) =>
        points.filter((p) => p.attributes['rpc.method'] === method && p.attributes['error.type'] === error).reduce((a, p) => a + p.value.count, 0);
      assert.equal(count('seen'), 5, name);
      assert.equal(count('boom', 'ERR_TEST_BOOM'), 3, name);
      assert.equal(count('boom'), 0, name);
      assert.ok(points.every((p) => p.attributes['rpc.system'] === 'nocopy-msgpack-rpc'));
    }
  });
});
