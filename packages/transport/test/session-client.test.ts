// The session client: N sessions kept open, reconnects single flight with backoff and jitter,
// close() at any moment returns at once and cancels what is pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { freePort, sleep, until } from './helpers.js';
import { lineCodec, recorder, sessionServer } from './session-fixtures.js';
import { createSessionClient, type Session } from '../src/index.js';


test('client: keeps N sessions open, sends round robin, and gets replies through its listener', async (t) => {
  const { listener: serverListener } = recorder({ onMessage: (s, m) => void s.send(`${s.id}:${m}`) });
  const { server, port } = await sessionServer({ listener: serverListener });
  t.after(() => server.shutdown());
  const replies: string[] = [];
  const client = createSessionClient<string>({
    address: `127.0.0.1:${port}`,
    codec: lineCodec(),
    sessions: 3,
    listener: { onMessage: (_s, m) => void replies.push(m) },
  });
  t.after(() => client.close());
  await client.ready({ timeout: 2000 });
  await until(() => client.size === 3, 'three sessions');
  for (let i = 0; i < 9; i++) await client.send(`m${i}`);
  await until(() => replies.length === 9, 'nine replies');
  const perServerSession = new Map<string, number>();
  for (const r of replies) perServerSession.set(r.split(':')[0]!, (perServerSession.get(r.split(':')[0]!) ?? 0) + 1);
  assert.deepEqual([...perServerSession.values()], [3, 3, 3], 'spread evenly over the three sessions');
  assert.equal(server.size, 3);
});

test('client: reconnects after the server goes down and comes back, with growing backoff, no hot loop', async (t) => {
  const port = await freePort();
  const opened: number[] = [];
  const client = createSessionClient<string>({
    address: `127.0.0.1:${port}`,
    codec: lineCodec(),
    reconnect: { initial: 20, max: 160, jitter: 0 },
    listener: { onOpen: () => void opened.push(Date.now()), onMessage() {} },
  });
  t.after(() => client.close());
  await sleep(500);
  const failures = client.stats().dialFailures;
  // 20+40+80+160+160... within 500 ms: about 5 or 6 dials, never hundreds.
  assert.ok(failures >= 3 && failures <= 8, `${failures} failed dials in 500 ms`);
  const { listener } = recorder();
  const server = (await import('../src/index.js')).createSessionServer<string>({ codec: lineCodec(), listener });
  await server.listen({ port });
  t.after(() => server.shutdown());
  const s = await client.ready({ timeout: 2000 });
  assert.ok(s.isActive());
  assert.equal(opened.length, 1);
  assert.equal(client.stats().connecting, 0);
});

test('client: a server that accepts and drops at once is not dialed in a hot loop', async (t) => {
  let accepts = 0;
  const dropper = net.createServer((sock) => {
    accepts++;
    sock.destroy();
  });
  await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => dropper.close(() => r())));
  const client = createSessionClient<string>({
    address: `127.0.0.1:${(dropper.address() as AddressInfo).port}`,
    codec: lineCodec(),
    reconnect: { initial: 20, max: 200, jitter: 0, stableAfter: 1000 },
    listener: { onMessage() {} },
  });
  await sleep(800);
  await client.close();
  assert.ok(accepts >= 3 && accepts <= 9, `${accepts} connections in 800 ms (backoff keeps growing while sessions die young)`);
});

test('client: close() during a backoff returns at once and dials no more', async () => {
  const port = await freePort();
  const client = createSessionClient<string>({
    address: `127.0.0.1:${port}`,
    codec: lineCodec(),
    reconnect: { initial: 5000, max: 5000 },
    listener: { onMessage() {} },
  });
  await until(() => client.stats().waiting === 1, 'in backoff');
  const t0 = performance.now();
  await client.close();
  assert.ok(performance.now() - t0 < 100, 'close() waited for the backoff');
  const dials = client.stats().dials;
  await sleep(50);
  assert.equal(client.stats().dials, dials);
  await assert.rejects(client.ready(), { code: 'ERR_NO_SESSION' });
  await assert.rejects(client.send('x'), { code: 'ERR_NO_SESSION' });
});

test('client: close() with open sessions resolves after each onClose; the server sees them go', async (t) => {
  const { listener, rec } = recorder();
  const { server, port } = await sessionServer({ listener });
  t.after(() => server.shutdown());
  const closed: Session<string>[] = [];
  const client = createSessionClient<string>({
    address: `127.0.0.1:${port}`,
    codec: lineCodec(),
    sessions: 2,
    listener: { onMessage() {}, onClose: (s) => void closed.push(s) },
  });
  await until(() => client.size === 2, 'two open');
  await client.close();
  assert.equal(closed.length, 2);
  await until(() => rec.events.filter((e) => e === 'close').length === 2, 'server saw both close');
  assert.equal(client.stats().waiting, 0, 'no reconnect scheduled after close');
});

test('client: several addresses; a dead one is skipped for the next', async (t) => {
  const dead = await freePort();
  const { listener } = recorder();
  const { server, port } = await sessionServer({ listener });
  t.after(() => server.shutdown());
  const client = createSessionClient<string>({
    addresses: [`127.0.0.1:${dead}`, `127.0.0.1:${port}`],
    codec: lineCodec(),
    sessions: 2,
    reconnect: { initial: 10, max: 50 },
    listener: { onMessage() {} },
  });
  t.after(() => client.close());
  await until(() => client.size === 2, 'both slots open on the live address', 3000);
  assert.ok(client.stats().dialFailures >= 1);
});

test('client options are checked', () => {
  const codec = lineCodec();
  const listener = { onMessage() {} };
  assert.throws(() => createSessionClient({ codec, listener }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => createSessionClient({ codec, listener, address: '127.0.0.1:1', sessions: 0 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => createSessionClient({ codec, listener: {} as never, address: '127.0.0.1:1' }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => createSessionClient({ codec, listener, address: '127.0.0.1:1', heartbeat: { interval: 0, message: 'x' } }), { code: 'ERR_INVALID_OPTION' });
});
