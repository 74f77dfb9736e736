// The cheapest TCP proxy we know how to write on Node's public API, as the floor the nocopy proxy is
// measured against: dialed sockets read through `onread` into one buffer shared by the process and
// forward a copy of each read with one write; accepted sockets (which take no `onread` in Node's
// public API) forward each 'data' chunk as it is. No framing, no pooling, no bookkeeping beyond
// pause/resume on backpressure. TCP_NODELAY on both sides; the startup line of nocopy-proxy.
//   node raw-proxy.js --listen 127.0.0.1:0 --upstream 127.0.0.1:6379
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
// Every upstream read lands here; its callback copies it out before the next read of any socket.
const shared = Buffer.allocUnsafeSlow(64 * 1024);

/** Writes `chunk` to `dst`; while `dst` holds too much, `src` stops reading. */
function forward(src: net.Socket, dst: net.Socket, chunk: Buffer): void {
  if (!dst.write(chunk)) {
    src.pause();
    dst.once('drain', () => src.resume());
  }
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const up: net.Socket = net.connect({
    ...upstream,
    allowHalfOpen: true,
    noDelay: true,
    onread: {
      buffer: shared,
      callback: (n: number): boolean => {
        forward(up, client, Buffer.from(shared.subarray(0, n)));
        return true;
      },
    },
  });
  client.on('data', (chunk: Buffer) => forward(client, up, chunk));
  client.on('end', () => up.end());
  up.on('end', () => client.end());
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
  process.stdout.write(`raw-proxy: listening on ${a.address}:${a.port}, upstream ${upstream.host}:${upstream.port}\n`);
});
const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
