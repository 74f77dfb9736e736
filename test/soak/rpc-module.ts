// createServer / createClient of @nocopy/rpc-demo, from the package index when it exports them.
// While the index is being reworked (it may export only the proxy), they are loaded from the built
// modules of the same package instead: the same files, so the same module instances, either way.
import type * as ServerModule from '../../packages/rpc-demo/src/rpc/server.js';
import type * as ClientModule from '../../packages/rpc-demo/src/rpc/client.js';

export type RpcServer = ServerModule.RpcServer;
export type RpcClient = ClientModule.RpcClient;
export type ServerOptions = ServerModule.ServerOptions;
export type ClientOptions = ClientModule.ClientOptions;

type Rpc = Pick<typeof ServerModule, 'createServer'> & Pick<typeof ClientModule, 'createClient'>;

async function load(): Promise<Rpc & { source: string }> {
  const pkg = (await import('@nocopy/rpc-demo')) as Partial<Rpc>;
  if (typeof pkg.createServer === 'function' && typeof pkg.createClient === 'function') {
    return { createServer: pkg.createServer, createClient: pkg.createClient, source: '@nocopy/rpc-demo' };
  }
  // test/dist/soak -> packages/rpc-demo/dist/src/rpc
  const base = new URL('../../../packages/rpc-demo/dist/src/rpc/', import.meta.url);
  const server = (await import(new URL('server.js', base).href)) as typeof ServerModule;
  const client = (await import(new URL('client.js', base).href)) as typeof ClientModule;
  return { createServer: server.createServer, createClient: client.createClient, source: 'packages/rpc-demo/dist/src/rpc' };
}

export const rpc = await load();
