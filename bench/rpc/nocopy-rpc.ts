// nocopy-rpc's createServer / createClient from '@nocopy/rpc-demo'. Should a build of the package
// index not export them (it once exported only the proxy), they come from the package's built RPC
// modules instead: the same code either way.
import type * as ServerModule from '../../packages/rpc-demo/src/rpc/server.js';
import type * as ClientModule from '../../packages/rpc-demo/src/rpc/client.js';

type Rpc = Pick<typeof ServerModule, 'createServer'> & Pick<typeof ClientModule, 'createClient'>;

async function load(): Promise<Rpc & { source: string }> {
  const pkg = (await import('@nocopy/rpc-demo')) as Partial<Rpc>;
  if (typeof pkg.createServer === 'function' && typeof pkg.createClient === 'function') {
    return { createServer: pkg.createServer, createClient: pkg.createClient, source: '@nocopy/rpc-demo' };
  }
  // bench/dist/rpc -> packages/rpc-demo/dist/src/rpc
  const base = new URL('../../../packages/rpc-demo/dist/src/rpc/', import.meta.url);
  const server = (await import(new URL('server.js', base).href)) as typeof ServerModule;
  const client = (await import(new URL('client.js', base).href)) as typeof ClientModule;
  return { createServer: server.createServer, createClient: client.createClient, source: 'packages/rpc-demo/dist/src/rpc' };
}

export const rpc = await load();
