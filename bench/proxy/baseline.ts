// What the two Node baseline proxies (pipe-proxy.ts, raw-proxy.ts) share, so that they differ only
// in how bytes are forwarded: the --listen/--upstream options, the server (allowHalfOpen and
// TCP_NODELAY on both sides, like the nocopy proxy and HAProxy), closing both sockets of a pair
// together, nocopy-proxy's startup line, and exit 0 on SIGTERM/SIGINT.
import net, { type AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

export type Upstream = { host: string; port: number };

function hostPort(text: string | undefined, what: string): Upstream {
  const i = text?.lastIndexOf(':') ?? -1;
  if (text === undefined || i < 0) throw new Error(`--${what} HOST:PORT is required`);
  return { host: text.slice(0, i) || '127.0.0.1', port: Number(text.slice(i + 1)) };
}

/**
 * Runs the proxy `name`: `connect(client, upstream)` dials the upstream for an accepted client and
 * wires the forwarding both ways (FINs included); this closes the pair on an error or a close.
 */
export function runBaselineProxy(name: string, connect: (client: net.Socket, upstream: Upstream) => net.Socket): void {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, upstream: { type: 'string' } } });
  const listen = hostPort(values.listen ?? '127.0.0.1:0', 'listen');
  const upstream = hostPort(values.upstream, 'upstream');
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const up = connect(client, upstream);
    const destroyBoth = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('error', destroyBoth);
    up.on('error', destroyBoth);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  server.listen(listen.port, listen.host, () => {
    const a = server.address() as AddressInfo;
    process.stdout.write(`${name}: listening on ${a.address}:${a.port}, upstream ${upstream.host}:${upstream.port}\n`);
  });
  const stop = (): void => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
