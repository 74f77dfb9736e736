// The default process warnings arrive as the READMEs say: name NocopyWarning and the documented code
// (Node drops emitWarning's name and code when it is given an Error object, so the warner passes a
// string; this is what would catch a regression).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { EventLoop } from '@nocopy/transport';
import { createClient, createServer } from '@nocopy/rpc-demo';
import { RawClient, within } from '@nocopy/test-kit';

type Warning = Error & { code?: string; detail?: string };

test('a handler error nobody takes: a NocopyWarning with code NOCOPY_HANDLER_ERROR', { timeout: 10_000 }, async (t) => {
  const warned = once(process, 'warning') as Promise<[Warning]>;
  const loop = new EventLoop(() => {
    throw new RangeError('handler failed');
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const { port } = (await loop.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  const c = await RawClient.connect(port);
  t.after(() => c.socket.destroy());
  c.socket.write('x');
  const [w] = await within(warned, 5000, 'the warning');
  assert.equal(w.name, 'NocopyWarning');
  assert.equal(w.code, 'NOCOPY_HANDLER_ERROR');
  assert.equal(w.message, 'RangeError: handler failed');
  assert.match(w.detail ?? '', /^\s+at /, 'the stack goes to detail');
});

test('an RPC error nobody takes (a failing notification): a NocopyWarning with code NOCOPY_RPC_ERROR', { timeout: 10_000 }, async (t) => {
  const server = createServer();
  server.register('boom', () => {
    throw Object.assign(new Error('notification failed'), { code: 'ERR_DEMO' });
  });
  t.after(() => server.shutdown({ timeout: 100 }));
  const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  const client = createClient({ address: `127.0.0.1:${port}` });
  t.after(() => client.close());
  const warned = once(process, 'warning') as Promise<[Warning]>;
  await client.notify('boom');
  const [w] = await within(warned, 5000, 'the warning');
  assert.equal(w.name, 'NocopyWarning');
  assert.equal(w.code, 'NOCOPY_RPC_ERROR');
  assert.equal(w.message, 'Error [ERR_DEMO]: notification failed');
});
