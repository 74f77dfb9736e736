// shutdown() with bad options throws InvalidOptionError synchronously (no promise exists to reject),
// and nothing has begun: the server still serves, and a valid shutdown() afterwards resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { EventLoop, InvalidOptionError, lengthField } from '@nocopy/transport';
import { createClient, createServer } from '@nocopy/rpc-demo';
import { RawClient, frame, frameEcho, within } from '@nocopy/test-kit';

const isInvalid = (option: string) => (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_INVALID_OPTION' && err.option === option;

test('EventLoop#shutdown({ timeout: -1 }) throws synchronously, and the loop goes on serving', { timeout: 10_000 }, async () => {
  const codec = lengthField({ maxFrameLength: 1024 });
  const loop = new EventLoop(frameEcho(codec));
  const { port } = (await loop.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  assert.throws(() => loop.shutdown({ timeout: -1 }), isInvalid('timeout'));
  assert.throws(() => loop.shutdown({ timeout: Number.NaN }), isInvalid('timeout'));
  assert.throws(() => loop.shutdown({ signal: 'stop' as unknown as AbortSignal }), isInvalid('signal'));
  const c = await RawClient.connect(port);
  c.socket.write(frame('still serving'));
  const echoed = frame('still serving');
  assert.deepEqual(await c.read(echoed.length, 3000), echoed);
  c.socket.destroy();
  const done = loop.shutdown({ timeout: 1000 });
  // Options are checked on every call, also once shutdown has begun.
  assert.throws(() => loop.shutdown({ timeout: -1 }), isInvalid('timeout'));
  assert.equal(loop.shutdown(), done);
  await within(done, 5000, 'the shutdown');
});

test('RpcServer#shutdown({ timeout: -1 }) throws synchronously, and the server goes on answering', { timeout: 10_000 }, async () => {
  const server = createServer();
  server.register('add', (a: number, b: number) => a + b);
  const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  assert.throws(() => server.shutdown({ timeout: -1 }), isInvalid('timeout'));
  // Not marked as shut down: register() still works.
  server.register('sub', (a: number, b: number) => a - b);
  const client = createClient({ address: `127.0.0.1:${port}` });
  try {
    assert.equal(await client.call('sub', 5, 7), -2);
  } finally {
    await client.close();
  }
  await within(server.shutdown({ timeout: 1000 }), 5000, 'the shutdown');
});
