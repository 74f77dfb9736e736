// The naive proxy that the nocopy proxy is compared with: what most Node code does, `socket.pipe()`
// both ways (no copies either: streams pass the chunks on). TCP_NODELAY on both sides, like the
// nocopy proxy and HAProxy. Prints the same startup line as nocopy-proxy; SIGTERM/SIGINT exit 0.
//   node pipe-proxy.js --listen 127.0.0.1:0 --upstream 127.0.0.1:6379
import net, { type AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, upstream: { type: 'string' } } });

function hostPort(text: string | undefined, what: string): { host: string; port: number } {
  const i = text?.lastIndexOf(':') ?? -1;
  if (text === undefined || i < 0) throw new Error(`--${what} HOST:PORT is required`);
  return { host: text.slice(0, i) || '127.0.0.1', port: Number(text.slice(i + 1)) };
}

const listen = hostPort(values.listen ?? '127.0.0.1:0', 'listen');
const upstream = hostPort(values.upstream, 'upstream');

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const up = net.connect({ ...upstream, allowHalfOpen: true, noDelay: true });
  // pipe() ends the destination when the source ends, so a FIN is passed on in both directions.
  client.pipe(up);
  up.pipe(client);
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
  process.stdout.write(`pipe-proxy: listening on ${a.address}:${a.port}, upstream ${upstream.host}:${upstream.port}\n`);
});
const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
