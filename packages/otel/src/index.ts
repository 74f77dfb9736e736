// @nocopy/otel: OpenTelemetry for nocopy. instrumentRpc() turns the RPC TracingChannels into spans
// (with W3C trace context in the call metadata) and duration histograms; observe() reads the stats()
// of servers, clients, proxies, clusters and pools into observable instruments. Only
// @opentelemetry/api is loaded from here; the Prometheus endpoint is '@nocopy/otel/prometheus'.
export { instrumentRpc, type RpcInstrumentation, type RpcInstrumentationOptions } from './rpc.js';
export { observe, kindOf, type Kind, type Observation, type ObserveOptions, type Observed } from './observe.js';
export { CLIENT_CALL, SERVER_CALL, type ClientCallMessage, type ServerCallMessage } from './channels.js';
export { SYSTEM } from './semconv.js';
export { InvalidOptionError } from './errors.js';
