// The session client: N sessions kept open, reconnects single flight with backoff and jitter,
// close() at any moment returns at once and cancels what is pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { freePort, until, within } from './helpers.js';
import { lineCodec, recorder, sessionServer } from './session-fixtures.js';
import { type SessionClient, createSessionClient, type Session } from '../src/index.js';


/** A client of `port` that reconnects every `ms` exactly (no jitter) and ignores messages. */
function backoffClient(port: number, ms: number): SessionClient<string> {
  return createSessionClient<string>({ address: `127.0.0.1:${port}`, codec: lineCodec(), reconnect: { initial: ms, max: ms, jitter: 0 }, listener: { onMessage() {} } });
}

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
  const t0 = performance.now();
  await until(() => client.stats().dialFailures >= 5, () => `5 failed dials (${client.stats().dialFailures})`, 10_000);
  // Counted against the clock: the 5th failed dial comes after backoffs of 20+40+80+160 ms at least
  // (timers are late on a busy machine, never early), where a hot loop would take a few ms.
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 300 - 2, `5 failed dials after ${elapsed.toFixed(0)} ms: the backoff grew (20, 40, 80, 160)`);
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
  const accepts: number[] = [];
  const dropper = net.createServer((sock) => {
    accepts.push(performance.now());
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
  await until(() => accepts.length >= 6, () => `6 connections (${accepts.length})`, 10_000);
  await client.close();
  // Counted against the clock: between connections the client waited its backoff at least, and the
  // backoff kept growing while the sessions died young (a reset would give 20 ms gaps).
  const gaps = accepts.slice(1, 6).map((at, i) => at - accepts[i]!);
  const backoff = [20, 40, 80, 160, 200];
  assert.ok(gaps.every((g, i) => g >= backoff[i]! - 2), `gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms, at least ${backoff.join(', ')}`);
});

test('client: close() during a backoff returns at once and dials no more', async () => {
  const port = await freePort();
  // A 60 s backoff: close() resolving at all within the liveness bound shows it did not wait for it.
  const slow = backoffClient(port, 60_000);
  await until(() => slow.stats().waiting === 1, 'in backoff');
  await within(slow.close(), 10_000, 'close() during a 60 s backoff');
  assert.equal(slow.stats().waiting, 0);
  await assert.rejects(slow.ready(), { code: 'ERR_NO_SESSION' });
  await assert.rejects(slow.send('x'), { code: 'ERR_NO_SESSION' });
  // A 50 ms backoff: closed during it, the client dials no more over ten backoff periods.
  const fast = backoffClient(port, 50);
  // A twin with the same backoff, not closed, dials again and again meanwhile: by its third dial
  // after the close, the closed one would have dialed too.
  const twin = backoffClient(port, 50);
  await until(() => fast.stats().waiting === 1, 'in backoff');
  await fast.close();
  const dials = fast.stats().dials;
  const twinDials = twin.stats().dials;
  await until(() => twin.stats().dials >= twinDials + 3, () => `the twin to dial 3 more times (${twin.stats().dials - twinDials})`, 10_000);
  await twin.close();
  assert.equal(fast.stats().dials, dials, 'no dial after close()');
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
