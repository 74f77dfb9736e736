// The UDP and WebSocket echo examples, driven by plain clients (node:dgram, ws) and through their
// command lines: every datagram and message comes back as it went, text as text, binary as binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { createUdpEcho } from '@nocopy/examples/udp-echo';
import { createWsEcho } from '@nocopy/examples/ws-echo';

test('udp-echo: datagrams of 0 B to 60 KB come back byte for byte', async (t) => {
  const server = createUdpEcho();
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const sock = dgram.createSocket('udp4');
  t.after(() => sock.close());
  sock.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  for (const n of [0, 1, 128, 1400, 60_000]) {
    const b = randomBytes(n);
    sock.send(b);
    const [got] = (await once(sock, 'message')) as [Buffer];
    assert.ok(got.equals(b), `${n} B`);
  }
  assert.equal(server.size, 1);
});

test('ws-echo: text comes back as text, binary as binary, 1 MiB included', async (t) => {
  const server = createWsEcho();
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  const got: [Buffer, boolean][] = [];
  ws.on('message', (d: Buffer, isBinary: boolean) => got.push([d, isBinary]));
  const big = randomBytes(1024 * 1024);
  ws.send('héllo');
  ws.send(big);
  ws.send(Buffer.alloc(0));
  const deadline = Date.now() + 5000;
  while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(got.length, 3);
  assert.deepEqual([got[2]![0].length, got[2]![1]], [0, true]);
  assert.deepEqual([got[0]![0].toString(), got[0]![1]], ['héllo', false]);
  assert.ok(got[1]![0].equals(big) && got[1]![1]);
  ws.close();
});

for (const name of ['udp-echo', 'ws-echo'] as const) {
  test(`${name} CLI: prints where it listens, exits 0 on SIGTERM`, async () => {
    const bin = fileURLToPath(new URL(`../../../examples/dist/${name}.js`, import.meta.url));
    const child = spawn(process.execPath, [bin, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!/listening on 127\.0\.0\.1:\d+/.test(out)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `${name} did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
  });
}
