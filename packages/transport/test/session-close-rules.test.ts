// Two rules of the session lifecycle (issue 24, items 5 and 6): from the moment a session starts
// closing (the peer's FIN included, while an onMessage still runs) no timer of it fires again; and
// every timeout that ends a session (read, write, heartbeat, idle) reaches onError before onClose,
// over TCP as over WebSocket. Also: what send() accepted before the peer's FIN still goes out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { deferred, until } from './helpers.js';
import { fastWheel, lineCodec, recorder, sessionServer } from './session-fixtures.js';
import type { Session } from '../src/index.js';

test('after the peer\'s FIN, while onMessage runs, onCron, every() and after() no longer fire', async (t) => {
  const wheel = fastWheel();
  const gate = deferred<void>();
  const late: string[] = [];
  let session: Session<string> | null = null;
  let inMessage = false;
  const { listener, rec } = recorder({
    onOpen(s) {
      session = s;
      s.every(20, (x) => void (x.isActive() || late.push('every')));
      s.after(400, (x) => void (x.isActive() || late.push('after')));
    },
    onCron(s) {
      if (!s.isActive()) late.push('cron');
    },
    async onMessage() {
      inMessage = true;
      await gate.promise;
    },
  });
  const { server, port } = await sessionServer({ listener, wheel, cronPeriod: 20 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write('wait\n');
  await until(() => inMessage, 'onMessage to run');
  sock.end(); // FIN, onMessage still running
  await until(() => session !== null && !session.isActive(), 'the session to see the FIN');
  // Let the wheel turn well past every timer of the session (the after() at 400 ms included).
  await new Promise<void>((resolve) => wheel.after(600, () => resolve()));
  gate.resolve();
  await until(() => rec.events.includes('close'), 'onClose');
  assert.deepEqual(late, [], 'timers that fired after the session began closing');
  sock.destroy();
});

test('TCP: a read timeout reaches onError, then onClose', async (t) => {
  const { listener, rec } = recorder();
  const { server, port } = await sessionServer({ listener, readTimeout: 200 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write('half a line'); // no '\n': the message never completes
  await until(() => rec.events.includes('close'), 'the read timeout', 10_000);
  assert.deepEqual(rec.events, ['open', 'error:ERR_READ_TIMEOUT', 'close']);
  assert.equal((rec.reasons[0] as { code?: string }).code, 'ERR_READ_TIMEOUT');
  sock.destroy();
});

test('TCP: a write timeout reaches onError, then onClose (as over WebSocket)', async (t) => {
  const { listener, rec } = recorder({
    onOpen(s) {
      // Far more than the socket buffers: send() waits past maxOutboundBytes, and the write timeout expires.
      const chunk = ('x'.repeat(255) + '\n').repeat(256);
      const pump = async (): Promise<void> => {
        while (s.isActive()) await s.send(chunk);
      };
      pump().catch(() => {});
    },
  });
  const { server, port } = await sessionServer({ listener, codec: lineCodec(1 << 20), writeTimeout: 300, maxOutboundBytes: 64 * 1024 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.pause(); // reads nothing
  await until(() => rec.events.includes('close'), 'the write timeout', 10_000);
  assert.deepEqual(rec.events, ['open', 'error:ERR_WRITE_TIMEOUT', 'close']);
  sock.destroy();
});

test("TCP: replies send() accepted in the input loop still go out when the peer's FIN arrives with the input", async (t) => {
  const { listener, rec } = recorder({
    onMessage(s, m) {
      void s.send(`re:${m}`);
    },
  });
  const { server, port } = await sessionServer({ listener, idleTimeout: 5000 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(sock, 'connect');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  // The lines and the FIN in one write: the replies are queued for the flush after the input loop,
  // and the FIN is seen before it.
  sock.end('a\nb\n');
  await once(sock, 'end');
  assert.equal(Buffer.concat(chunks).toString('latin1'), 're:a\nre:b\n');
  await until(() => rec.events.includes('close'), 'onClose');
  assert.equal(rec.sessions[0]!.idleTimeout, 5000);
  sock.destroy();
});
