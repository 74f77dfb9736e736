// Both read paths of accepted connections: 'onread' (reads land in pooled nodes; the socket is
// rebuilt over the accepted handle, see adopt.ts) and 'link' (Node's chunks), over TCP and Unix
// sockets: byte-exact echo at every size (the replies under output backpressure), half-close, the server's bookkeeping,
// and every block back at the end. TLS and servers without pauseOnConnect fall back to 'link'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop, type Connection } from '../src/index.js';
import { RawClient, assertAllBack, echoFrames, frame, pattern, until, within } from './helpers.js';

for (const mode of ['onread', 'link'] as const) {
  for (const transport of ['tcp', 'unix'] as const) {
    test(`${mode} over ${transport}: echo at every size, pipelined, under backpressure, half-close, bookkeeping, blocks back`, { timeout: 20_000 }, async (t) => {
      const pool = new BlockPool();
      const conns: Connection[] = [];
      const loop = new EventLoop(echoFrames, { pool, readMode: mode, maxOutboundBytes: 16 * 1024, onPrepare: (c) => void conns.push(c) });
      const dir = mkdtempSync(join(tmpdir(), 'nocopy-readmode-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const addr = transport === 'tcp' ? await loop.listen({ port: 0 }) : await loop.listen({ path: join(dir, 's') });
      const target = typeof addr === 'string' ? addr : (addr as AddressInfo).port;
      const clients = await Promise.all([1, 2, 3].map(() => RawClient.connect(target)));
      t.after(() => clients.forEach((c) => c.destroy()));
      await until(() => conns.length === 3, 'three connections');
      for (const c of conns) assert.equal(c.readMode, mode);

      // Pipelined frames of many sizes, each checked byte for byte.
      const sizes = [0, 1, 7, 100, 4095, 4096, 8192, 20_000, 65_535, 200_000, 1_000_000];
      await Promise.all(
        clients.map(async (c, k) => {
          const payloads = sizes.map((n, i) => pattern(n, k * 100 + i));
          c.socket.write(Buffer.concat(payloads.map((p) => frame(p))));
          for (const p of payloads) assert.ok((await c.readFrame(10_000)).equals(p), `client ${k}: a ${p.length}-byte frame came back changed`);
        }),
      );

      // The server's own count of connections follows ours (the adopted socket took it over).
      const server = (conns[0]!.socket as net.Socket & { server: net.Server }).server;
      const n = await new Promise<number>((resolve, reject) => server.getConnections((err, k) => (err ? reject(err) : resolve(k))));
      assert.equal(n, 3);

      // Half-close: a request then the FIN; the reply comes, then our side closes.
      const last = clients[0]!;
      last.socket.end(frame('bye'));
      assert.equal((await last.readFrame()).toString(), 'bye');
      await within(last.closed, 3000, 'the half-closed connection to close');

      await loop.shutdown({ timeout: 2000 });
      assert.equal(loop.connections, 0);
      assertAllBack(pool);
    });
  }
}

test('TLS, and a served server without pauseOnConnect, read by linking chunks; a served pauseOnConnect server reads into the pool', { timeout: 10_000 }, async (t) => {
  const modes: string[] = [];
  const loop = new EventLoop(echoFrames, { onPrepare: (c) => void modes.push(c.readMode) });
  t.after(() => loop.shutdown({ timeout: 200 }));
  const plain = net.createServer();
  const paused = net.createServer({ pauseOnConnect: true });
  loop.serve(plain);
  loop.serve(paused);
  for (const s of [plain, paused]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    plain.close();
    paused.close();
  });
  for (const s of [plain, paused]) {
    const c = await RawClient.connect((s.address() as AddressInfo).port);
    assert.equal((await c.roundTrip('x')).toString(), 'x');
    c.destroy();
  }
  assert.deepEqual(modes, ['link', 'onread']);
});
