// The RPC servers compared by bench/rpc, one per process: `node servers.js MODE`.
//   nocopy         — nocopy-rpc (createServer, framing 'framed') with `echo`
//   grpc           — @grpc/grpc-js unary Echo (bench/rpc/echo.proto), insecure, 127.0.0.1
//   net            — the hand-written net + msgpackr server (handwritten.ts) with `echo`, one write per reply
//   net-batch      — the same, batching: the replies of a chunk in one write (createBatchingServer)
//   fib-offload    — nocopy-rpc with `echo` and `fib` registered { offload: true } (piscina workers)
//   fib-inline     — nocopy-rpc with `echo` and `fib` as a plain function on the event loop
//   otel-*         — nocopy with @nocopy/otel installed as an application would (AsyncLocalStorage
//                    context manager, W3C propagator, the SDK's tracer provider, spans batched to an
//                    exporter that drops them): otel-off sampling off (ParentBased(AlwaysOff),
//                    traceRoots: false), otel-off-sdk the same with the sampler deciding every call
//                    (non-recording spans), otel-all every call sampled, otel-metrics no spans but the
//                    duration histograms into a MeterProvider read by the Prometheus exporter;
//                    otel-ctx the same application setup without instrumentRpc (what the context
//                    manager alone costs)
//   channel-end    — nocopy with one empty `end` subscriber on nocopy:rpc:server:call: the least any
//                    subscriber pays
// `echo` returns its argument (a 128 B Buffer); `fib(n)` is the slow recursive Fibonacci.
// The parent talks over IPC: we send { port }; on 'start' we take a CPU and clock reading; on 'stop'
// we reply { cpuUserMs, cpuSystemMs, wallMs, maxRssKiB } (and go on serving the calls still in
// flight); on 'exit', or when the parent goes away, we exit.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import type * as Grpc from '@grpc/grpc-js';
import { rpc } from './nocopy-rpc.js';
import { createBatchingServer, createHandwrittenServer, type Handler } from './handwritten.js';

const here = dirname(fileURLToPath(import.meta.url));
// bench/dist/rpc -> the sources (tsc does not copy .proto files, nor is handlers.js part of bench).
const protoPath = join(here, '..', '..', 'rpc', 'echo.proto');
const handlersPath = join(here, '..', '..', '..', 'packages', 'rpc-demo', 'dist', 'src', 'demo', 'fib.js');

const mode = process.argv[2];

const echo = (payload: Buffer): Buffer => payload;
const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));

async function startNocopy(withFib: 'offload' | 'inline' | null): Promise<number> {
  const server = rpc.createServer({
    framing: 'framed',
    ...(withFib === 'offload' ? { workers: { filename: handlersPath } } : {}),
  });
  server.register('echo', echo);
  if (withFib === 'offload') server.register('fib', 'fib', { offload: true });
  if (withFib === 'inline') server.register('fib', fib);
  const addr = await server.listen({ port: 0, host: '127.0.0.1' });
  return (addr as AddressInfo).port;
}

type OtelMode = 'otel-off' | 'otel-off-sdk' | 'otel-all' | 'otel-metrics' | 'otel-ctx';

/** nocopy with @nocopy/otel and the OpenTelemetry SDK, loaded only in these modes (see load.ts on module graphs). */
async function startOtel(mode: OtelMode): Promise<number> {
  const [{ context }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, traceSdk, { MeterProvider }, { PrometheusExporter }, { instrumentRpc }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-prometheus'),
    import('@nocopy/otel'),
  ]);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const drop = { export: (_spans: unknown[], done: (r: { code: 0 }) => void) => done({ code: 0 }), shutdown: () => Promise.resolve() };
  const tracerProvider = new traceSdk.BasicTracerProvider({
    sampler: new traceSdk.ParentBasedSampler({ root: mode === 'otel-all' ? new traceSdk.AlwaysOnSampler() : new traceSdk.AlwaysOffSampler() }),
    spanProcessors: [new traceSdk.BatchSpanProcessor(drop)],
  });
  const metrics = mode === 'otel-metrics';
  const meterProvider = metrics ? new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }) : undefined;
  if (mode !== 'otel-ctx') instrumentRpc({
    tracerProvider,
    ...(meterProvider !== undefined ? { meterProvider } : {}),
    propagator: new W3CTraceContextPropagator(),
    traces: !metrics,
    metrics,
    traceRoots: mode !== 'otel-off',
  });
  return startNocopy(null);
}

async function startGrpc(): Promise<number> {
  // Loaded only in this mode, so the other servers do not carry its module graph (see load.ts).
  const grpc = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const proto = grpc.loadPackageDefinition(def) as unknown as { nocopybench: { Echo: Grpc.ServiceClientConstructor } };
  const server = new grpc.Server();
  server.addService(proto.nocopybench.Echo.service, {
    Echo: (call: Grpc.ServerUnaryCall<{ payload: Buffer }, { payload: Buffer }>, callback: Grpc.sendUnaryData<{ payload: Buffer }>) => {
      callback(null, { payload: call.request.payload });
    },
  });
  return new Promise((resolve, reject) => {
    // bindAsync starts serving by itself since grpc-js 1.10 (start() is deprecated).
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

async function startNet(batching: boolean): Promise<number> {
  const handlers = new Map<string, Handler>([['echo', echo]]);
  const server = batching ? createBatchingServer(handlers) : createHandwrittenServer(handlers);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function start(): Promise<number> {
  switch (mode) {
    case 'nocopy':
      return startNocopy(null);
    case 'fib-offload':
      return startNocopy('offload');
    case 'fib-inline':
      return startNocopy('inline');
    case 'channel-end': {
      const dc = await import('node:diagnostics_channel');
      dc.tracingChannel('nocopy:rpc:server:call').subscribe({ end() {} } as never);
      return startNocopy(null);
    }
    case 'otel-off':
    case 'otel-off-sdk':
    case 'otel-all':
    case 'otel-metrics':
    case 'otel-ctx':
      return startOtel(mode);
    case 'grpc':
      return startGrpc();
    case 'net':
      return startNet(false);
    case 'net-batch':
      return startNet(true);
    default:
      throw new Error(`unknown server mode ${mode}`);
  }
}

let cpu0 = process.cpuUsage();
let t0 = performance.now();
process.on('message', (msg: string) => {
  if (msg === 'start') {
    cpu0 = process.cpuUsage();
    t0 = performance.now();
  }
  if (msg === 'stop') {
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    process.send!({ cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, wallMs, maxRssKiB: process.resourceUsage().maxRSS });
  }
  if (msg === 'exit') process.exit(0);
});
// The parent dying must not leave a server behind.
process.on('disconnect', () => process.exit(0));
start().then(
  (port) => process.send!({ port }),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
