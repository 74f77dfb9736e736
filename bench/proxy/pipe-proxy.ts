// The naive proxy that the nocopy proxy is compared with: what most Node code does, `socket.pipe()`
// both ways (no copies either: streams pass the chunks on). TCP_NODELAY on both sides, like the
// nocopy proxy and HAProxy. Prints the same startup line as nocopy-proxy; SIGTERM/SIGINT exit 0.
//   node pipe-proxy.js --listen 127.0.0.1:0 --upstream 127.0.0.1:6379
import net from 'node:net';
import { runBaselineProxy } from './baseline.js';

runBaselineProxy('pipe-proxy', (client, upstream) => {
  const up = net.connect({ ...upstream, allowHalfOpen: true, noDelay: true });
  // pipe() ends the destination when the source ends, so a FIN is passed on in both directions.
  client.pipe(up);
  up.pipe(client);
  return up;
});
