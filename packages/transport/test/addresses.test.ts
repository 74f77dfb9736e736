// A connection's addresses: both ends, on the accepted and the dialed side, and still there once the
// connection has closed (onDisconnect and close callbacks log them), also after the peer reset it.
// Accepted connections of a listener bound to one address take the local address from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { EventLoop, dialConnection, type Connection } from '../src/index.js';
import { deferred } from './helpers.js';

interface Seen {
  local: [string | undefined, number | undefined];
  remote: [string | undefined, number | undefined, string | undefined];
}
const addresses = (c: Connection): Seen => ({ local: [c.localAddress, c.localPort], remote: [c.remoteAddress, c.remotePort, c.remoteFamily] });

for (const host of ['127.0.0.1', '0.0.0.0'] as const) {
  test(`accepted (listening on ${host}): both addresses, also in the close callback after a reset`, async (t) => {
    const open = deferred<Seen>();
    const closed = deferred<Seen>();
    const loop = new EventLoop(() => {}, {
      onConnect: (_ctx, conn) => {
        open.resolve(addresses(conn));
        conn.addCloseCallback((c) => closed.resolve(addresses(c)));
      },
    });
    const { port } = (await loop.listen({ host, port: 0 })) as AddressInfo;
    t.after(() => loop.shutdown({ timeout: 100 }));
    const client = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const at = await open.promise;
    assert.deepEqual(at.local, ['127.0.0.1', port]);
    assert.deepEqual(at.remote, ['127.0.0.1', client.localPort, 'IPv4']);
    client.resetAndDestroy();
    assert.deepEqual(await closed.promise, at, 'the same after the reset');
  });
}

test('dialed: both addresses, also after the server reset the connection', async (t) => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const closed = deferred<Seen>();
  const conn = await dialConnection('tcp', { port, host: '127.0.0.1' }, { onRequest: () => {} });
  const at = addresses(conn);
  conn.addCloseCallback((c) => closed.resolve(addresses(c)));
  assert.equal(at.local[0], '127.0.0.1');
  assert.equal(typeof at.local[1], 'number');
  assert.deepEqual(at.remote, ['127.0.0.1', port, 'IPv4']);
  conn.writer.writeString('reset me');
  await conn.writer.flush();
  assert.deepEqual(await closed.promise, at, 'the same after the reset');
});
