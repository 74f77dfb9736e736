// The cheapest TCP proxy we know how to write on Node's public API, as the floor the nocopy proxy is
// measured against: dialed sockets read through `onread` into one buffer shared by the process and
// forward a copy of each read with one write; accepted sockets (which take no `onread` in Node's
// public API) forward each 'data' chunk as it is. No framing, no pooling, no bookkeeping beyond
// pause/resume on backpressure. TCP_NODELAY on both sides; the startup line of nocopy-proxy.
//   node raw-proxy.js --listen 127.0.0.1:0 --upstream 127.0.0.1:6379
import net from 'node:net';
import { runBaselineProxy } from './baseline.js';

// Every upstream read lands here; its callback copies it out before the next read of any socket.
const shared = Buffer.allocUnsafeSlow(64 * 1024);

/** Writes `chunk` to `dst`; while `dst` holds too much, `src` stops reading. */
function forward(src: net.Socket, dst: net.Socket, chunk: Buffer): void {
  if (!dst.write(chunk)) {
    src.pause();
    dst.once('drain', () => src.resume());
  }
}

runBaselineProxy('raw-proxy', (client, upstream) => {
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
  return up;
});
