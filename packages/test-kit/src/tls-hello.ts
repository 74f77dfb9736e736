// A real TLS ClientHello, for tests that cut a handshake short or replay its first bytes.
import net from 'node:net';
import tls from 'node:tls';

let clientHello: Promise<Buffer> | undefined;

/**
 * The first bytes Node's tls.connect sends (its ClientHello, servername localhost), captured by a
 * plain TCP listener on loopback; both sockets are then destroyed. Captured once per process.
 */
export function captureClientHello(): Promise<Buffer> {
  clientHello ??= new Promise<Buffer>((resolve, reject) => {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', (chunk: Buffer) => {
        resolve(Buffer.from(chunk));
        s.destroy();
        server.close();
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
  });
  return clientHello;
}
