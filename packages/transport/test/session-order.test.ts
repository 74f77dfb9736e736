// The session callback order (README: sessions): onOpen, then messages in order, then onClose once,
// after the last onMessage settled, then close callbacks last added first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, deferred, sleep, until, within } from './helpers.js';
import { recorder, serverAndClient, sessionServer } from './session-fixtures.js';
import { AttributeKey, type Session } from '../src/index.js';

test('sync listener: open, messages in order, close, then close callbacks LIFO', async (t) => {
  const { listener, rec } = recorder({
    onOpen(s) {
      s.addCloseCallback(() => void rec.events.push('cb1'));
      s.addCloseCallback(() => void rec.events.push('cb2'));
    },
    onMessage(s, m) {
      void s.send(m.toUpperCase());
    },
  });
  const { c } = await serverAndClient(t, { listener });
  await c.write('a\nb\nc\n');
  assert.equal((await c.read(6)).toString(), 'A\nB\nC\n');
  c.socket.end();
  await until(() => rec.events.includes('cb1'), 'close callbacks');
  assert.deepEqual(rec.events, ['open', 'message:a', 'message:b', 'message:c', 'close', 'cb2', 'cb1']);
  assert.equal(rec.reasons[0], undefined, 'a clean close by the peer has no reason');
});

test('async onMessage delays the next message of its session only', async (t) => {
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const log: string[] = [];
  const { listener } = recorder({
    async onMessage(s, m) {
      log.push(`start ${m}`);
      if (m.startsWith('slow')) {
        const d = deferred();
        gates.set(m, d);
        await d.promise;
      }
      log.push(`end ${m}`);
      await s.send(`done ${m}`);
    },
  });
  const { server, port } = await sessionServer({ listener });
  t.after(() => server.shutdown());
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  await a.write('slow1\nfast1\n');
  await until(() => gates.has('slow1'), 'slow1 running');
  await b.write('fast2\n');
  assert.equal((await b.read('done fast2\n'.length)).toString(), 'done fast2\n', 'session b is not held by a');
  assert.ok(!log.includes('start fast1'), 'fast1 waits for slow1 on the same session');
  gates.get('slow1')!.resolve();
  assert.equal((await a.read('done slow1\ndone fast1\n'.length)).toString(), 'done slow1\ndone fast1\n');
  assert.deepEqual(log.filter((l) => l.endsWith('1')), ['start slow1', 'end slow1', 'start fast1', 'end fast1']);
});

test('close during an async onMessage: onClose waits for it to settle, and no later message is delivered', async (t) => {
  const gate = deferred();
  const { listener, rec } = recorder({
    async onMessage(s, m) {
      if (m === 'first') {
        s.close('bye');
        await gate.promise;
        rec.events.push('settled');
      }
    },
  });
  const { c } = await serverAndClient(t, { listener });
  await c.write('first\nsecond\n');
  await until(() => rec.events.includes('message:first'), 'first delivered');
  // close('bye') has been called: the client's socket closing shows the close went ahead, and an
  // onClose not waiting for onMessage would have run by then (a turn after it, at the latest).
  await within(c.closed, 5000, 'the close to reach the client');
  await new Promise((r) => setImmediate(r));
  assert.ok(!rec.events.includes('close'), 'onClose waits for the running onMessage');
  gate.resolve();
  await until(() => rec.events.includes('close'), 'closed');
  assert.deepEqual(rec.events, ['open', 'message:first', 'settled', 'close']);
  assert.equal(rec.reasons[0], 'bye');
  await c.closed;
});

test('peer reset during an async onMessage: onClose once, after it settles', async (t) => {
  const gate = deferred();
  let closes = 0;
  const { listener, rec } = recorder({
    async onMessage() {
      await gate.promise;
      rec.events.push('settled');
    },
    onClose() {
      closes++;
    },
  });
  const { c } = await serverAndClient(t, { listener });
  await c.write('x\n');
  await until(() => rec.events.includes('message:x'), 'delivered');
  c.socket.resetAndDestroy();
  await until(() => !rec.sessions[0]!.isActive(), 'inactive');
  // onClose, were it not waiting for onMessage, would run when the session went inactive (in the
  // same turn or a microtask after): a setImmediate turn later it has not.
  await new Promise((r) => setImmediate(r));
  assert.equal(closes, 0);
  gate.resolve();
  await until(() => closes === 1, 'closed');
  await new Promise((r) => setImmediate(r)); // a second onClose would come in the same way
  assert.equal(closes, 1);
  assert.deepEqual(rec.events.slice(-2), ['settled', 'close']);
});

test('maxInFlight: messages start in order, at most N at once, and all complete', async (t) => {
  let running = 0;
  let peak = 0;
  const started: string[] = [];
  const { listener } = recorder({
    async onMessage(s, m) {
      started.push(m);
      running++;
      peak = Math.max(peak, running);
      await sleep(5 + (Number(m) % 3) * 5);
      running--;
      await s.send(`ok ${m}`);
    },
  });
  // Messages are copies here (strings), as maxInFlight > 1 requires.
  const { c } = await serverAndClient(t, { listener, maxInFlight: 4 });
  const n = 40;
  await c.write(Array.from({ length: n }, (_, i) => `${i}\n`).join(''));
  const expected = Array.from({ length: n }, (_, i) => `ok ${i}\n`).join('').length;
  const got = (await c.read(expected)).toString().trim().split('\n').map((l) => Number(l.slice(3)));
  assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  assert.deepEqual(started, Array.from({ length: n }, (_, i) => String(i)), 'started in order');
  assert.equal(peak, 4, 'exactly 4 in flight at the peak');
});

test('onOpen may refuse a session: SessionRejectedError to onError, onClose still once, no message delivered', async (t) => {
  const { listener, rec } = recorder({ onOpen: async () => false });
  const { c } = await serverAndClient(t, { listener });
  await c.write('hello\n').catch(() => {});
  await c.closed;
  await until(() => rec.events.includes('close'), 'closed');
  assert.deepEqual(rec.events, ['open', 'error:ERR_SESSION_REJECTED', 'close']);
  assert.equal((rec.reasons[0] as { code?: string }).code, 'ERR_SESSION_REJECTED');
});

test('a throwing onMessage goes to onError and closes the session after what it sent', async (t) => {
  const { listener, rec } = recorder({
    onMessage(s, m) {
      void s.send(`got ${m}`);
      if (m === 'boom') throw new Error('handler failed');
    },
  });
  const { c } = await serverAndClient(t, { listener });
  await c.write('one\nboom\nthree\n');
  await c.closed;
  assert.equal(c.take().toString(), 'got one\ngot boom\n');
  await until(() => rec.events.includes('close'), 'closed');
  assert.deepEqual(rec.events, ['open', 'message:one', 'message:boom', 'error:handler failed', 'close']);
});

test('attributes are typed, kept while open and cleared after onClose', async (t) => {
  const kCount = new AttributeKey<number>('count');
  let session: Session<string> | undefined;
  let inClose: number | undefined;
  const { listener } = recorder({
    onMessage(s) {
      session = s;
      s.attributes.set(kCount, (s.attributes.get(kCount) ?? 0) + 1);
      void s.send(String(s.attributes.get(kCount)));
    },
    onClose(s) {
      inClose = s.attributes.get(kCount);
    },
  });
  const { c } = await serverAndClient(t, { listener });
  await c.write('a\nb\nc\n');
  assert.equal((await c.read(6)).toString(), '1\n2\n3\n');
  c.socket.end();
  await until(() => session?.closed === true, 'finished');
  assert.equal(inClose, 3, 'still readable in onClose');
  assert.equal(session!.attributes.size, 0, 'cleared after');
  assert.equal(session!.attributes.get(kCount), undefined);
});

test('send() on a closed session rejects with ERR_CONN_CLOSED; ignored, it is not an unhandled rejection', async (t) => {
  let session: Session<string> | undefined;
  const { listener, rec } = recorder({
    onMessage(s) {
      session = s;
    },
  });
  const { c } = await serverAndClient(t, { listener });
  await c.write('x\n');
  await until(() => session !== undefined, 'message');
  c.socket.destroy();
  await until(() => rec.events.includes('close'), 'closed');
  let unhandled = 0;
  const onUnhandled = () => void unhandled++;
  process.on('unhandledRejection', onUnhandled);
  void session!.send('lost');
  await assert.rejects(session!.send('lost'), { code: 'ERR_CONN_CLOSED' });
  // 'unhandledRejection' is emitted once the microtask and nextTick queues drain: before a setImmediate turn.
  await new Promise((r) => setImmediate(r));
  process.off('unhandledRejection', onUnhandled);
  assert.equal(unhandled, 0);
});

test('messages sent in one tick leave in one flush (one TCP segment on loopback)', async (t) => {
  const { listener } = recorder({
    onMessage(s, m) {
      for (let i = 0; i < 50; i++) void s.send(`${m}${i}`);
    },
  });
  const { server, c } = await serverAndClient(t, { listener });
  const chunks: number[] = [];
  c.socket.on('data', (b: Buffer) => chunks.push(b.length));
  await c.write('m\n');
  const expected = Array.from({ length: 50 }, (_, i) => `m${i}\n`).join('');
  assert.equal((await c.read(expected.length)).toString(), expected);
  assert.equal(chunks.length, 1, `the 50 replies arrived in ${chunks.length} reads`);
  const s = [...server.sessions()][0]!;
  const st = s.stats();
  assert.equal(st.messagesIn, 1n);
  assert.equal(st.messagesOut, 50n);
  assert.equal(st.bytesIn, 2n);
  assert.equal(st.bytesOut, BigInt(expected.length));
});

test('shutdown drains: a running onMessage finishes and its reply is sent, then every onClose has run', async (t) => {
  const gate = deferred();
  const { listener, rec } = recorder({
    async onMessage(s, m) {
      await gate.promise;
      await s.send(`late ${m}`);
    },
  });
  const { server, port } = await sessionServer({ listener });
  const idle = await RawClient.connect(port);
  const busy = await RawClient.connect(port);
  await busy.write('q\n');
  await until(() => rec.events.includes('message:q'), 'running');
  const done = server.shutdown({ timeout: 5000 });
  // The running onMessage finishes only once the idle session is closed: a drain, not a race.
  await within(idle.closed, 5000, 'the idle session to close');
  gate.resolve();
  await done;
  assert.equal(rec.events.filter((e) => e === 'close').length, 2, 'onClose ran for both sessions before shutdown resolved');
  // The reply went out before the FIN: once the client has the FIN it has the reply (shutdown
  // resolving says the server's side closed, not that the client has read everything).
  await within(busy.closed, 5000, 'the busy session to close');
  assert.equal(busy.take().toString(), 'late q\n');
  await idle.closed;
  t.diagnostic(JSON.stringify(server.stats()));
  assert.equal(server.stats().sessions, 0);
});
