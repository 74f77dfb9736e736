// The zero-copy TCP proxy: createProxy() and its types.
export { TcpProxy, createProxy, type ProxyStats, type ProxyShutdownOptions, type ProxyCloseOptions } from './proxy.js';
export {
  type ProxyOptions,
  type ListenAddress,
  type UpstreamAddress,
  type ProxyErrorHandler,
  type ProxyErrorInfo,
  type ProxyErrorStage,
  describeError,
  logToStderr,
  parseAddress,
} from './options.js';
