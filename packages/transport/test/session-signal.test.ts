// session.signal: aborted as soon as the transport is gone, while an onMessage still runs (onClose
// waits for it), over TCP and over WebSocket; a peer's FIN alone does not abort it (the peer may
// still read). Read after the session closed, it is aborted already.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { deferred, until } from './helpers.js';
import { recorder, sessionServer } from './session-fixtures.js';
import type { Codec, Session } from '../src/index.js';
import { createWebSocketSessionServer } from '../src/session/websocket-entry.js';

const whole: Codec<string> = {
  maxMessageLength: 1 << 20,
  decode: (r) => (r.length === 0 ? undefined : r.readString(r.length, 'utf8')),
  encode: (m, w) => void w.writeString(m, 'utf8'),
};

/** A listener whose onMessage waits for `gate` and records whether the session's signal aborted meanwhile. */
function waiting() {
  const gate = deferred<void>();
  const seen: { session: Session<string> | null; abortedInMessage: unknown } = { session: null, abortedInMessage: undefined };
  const { listener, rec } = recorder({
    async onMessage(s) {
      seen.session = s;
      const signal = s.signal;
      await Promise.race([gate.promise, once(signal, 'abort')]);
      seen.abortedInMessage = signal.aborted ? signal.reason : null;
      await gate.promise;
    },
  });
  return { gate, seen, listener, rec };
}

test('TCP: a reset aborts the signal while onMessage runs, before onClose', async (t) => {
  const { gate, seen, listener, rec } = waiting();
  const { server, port } = await sessionServer({ listener });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const sock = net.connect({ port, host: '127.0.0.1' });
  sock.on('error', () => {});
  await once(sock, 'connect');
  sock.write('wait\n');
  await until(() => seen.session !== null, 'onMessage to run');
  assert.equal(seen.session!.signal.aborted, false);
  sock.resetAndDestroy();
  await until(() => seen.abortedInMessage !== undefined, 'the signal to abort while onMessage waits');
  assert.equal((seen.abortedInMessage as { code?: string }).code, 'ERR_CONN_CLOSED');
  assert.equal(rec.events.includes('close'), false, 'onClose waits for onMessage');
  gate.resolve();
  await until(() => rec.events.includes('close'), 'onClose');
});

test('TCP: a FIN alone does not abort the signal (the peer may still read)', async (t) => {
  const { gate, seen, listener, rec } = waiting();
  const { server, port } = await sessionServer({ listener });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  sock.on('error', () => {});
  await once(sock, 'connect');
  sock.write('wait\n');
  await until(() => seen.session !== null, 'onMessage to run');
  sock.end();
  await until(() => !seen.session!.isActive(), 'the session to see the FIN');
  // A connection made and closed after the FIN: the server's loop has run since.
  const probe = net.connect({ port, host: '127.0.0.1' });
  await once(probe, 'connect');
  probe.end();
  await until(() => rec.events.filter((e) => e === 'close').length === 1, "the probe's session to close");
  assert.equal(seen.session!.signal.aborted, false, 'a FIN alone does not abort');
  assert.equal(seen.abortedInMessage, undefined);
  gate.resolve();
  await until(() => rec.events.filter((e) => e === 'close').length === 2, 'onClose once onMessage settled');
  assert.equal(seen.session!.signal.aborted, true, 'aborted once the session is gone');
  sock.destroy();
});

test('WebSocket: the peer gone aborts the signal while onMessage runs; read after the close, it is aborted', async (t) => {
  const { gate, seen, listener, rec } = waiting();
  const server = createWebSocketSessionServer<string>({ codec: whole, listener });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown({ timeout: 1000 }));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  ws.on('error', () => {});
  await once(ws, 'open');
  ws.send('wait');
  await until(() => seen.session !== null, 'onMessage to run');
  assert.equal(seen.session!.signal.aborted, false);
  ws.terminate(); // no close frame
  await until(() => seen.abortedInMessage !== undefined, 'the signal to abort while onMessage waits');
  assert.equal((seen.abortedInMessage as { code?: string }).code, 'ERR_CONN_CLOSED');
  assert.equal(rec.events.includes('close'), false, 'onClose waits for onMessage');
  gate.resolve();
  await until(() => rec.events.includes('close'), 'onClose');
  // A session whose signal was never read before its close gets an aborted one.
  const late = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(late, 'open');
  await until(() => rec.sessions.length === 2, 'the second session');
  late.close();
  await until(() => rec.events.filter((e) => e === 'close').length === 2, 'its close');
  assert.equal(rec.sessions[1]!.signal.aborted, true);
});
