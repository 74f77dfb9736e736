// Whether this Node can bind several listening sockets to one TCP port (SO_REUSEPORT), so that the
// kernel balances connections over the workers. Node added `reusePort` to listen() in 22.12 / 23.1;
// older versions ignore the option. Detected by trying it: two listeners on one port of 127.0.0.1.
import net from 'node:net';
import { once } from 'node:events';

let cached: Promise<boolean> | null = null;

export function reusePortSupported(): Promise<boolean> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<boolean> {
  // Only Linux (and the BSDs, which Node does not balance over) mean load balancing by it.
  if (process.platform !== 'linux') return false;
  const a = net.createServer();
  const b = net.createServer();
  try {
    a.listen({ port: 0, host: '127.0.0.1', reusePort: true } as net.ListenOptions);
    await once(a, 'listening');
    const port = (a.address() as net.AddressInfo).port;
    b.listen({ port, host: '127.0.0.1', reusePort: true } as net.ListenOptions);
    await Promise.race([once(b, 'listening'), once(b, 'error').then(([e]) => Promise.reject(e))]);
    return true;
  } catch {
    return false;
  } finally {
    a.close();
    if (b.listening) b.close();
  }
}
