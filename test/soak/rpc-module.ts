// The RPC API the soak drives, from the package as a user imports it.
import { createServer, createClient } from '@nocopy/rpc-demo';

export type { RpcServer, RpcClient, ServerOptions, ClientOptions } from '@nocopy/rpc-demo';
export const rpc = { createServer, createClient, source: '@nocopy/rpc-demo' };
