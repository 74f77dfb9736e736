// One codec and one listener over every transport: TCP, TLS, Unix, UDP, WS and WSS. Each gets the
// same checks: an echo, heartbeats that keep an answering peer, an oversized message, and a close
// from each side. What differs per transport is what the README's table says, and is asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, until } from './helpers.js';
import { fastWheel } from './session-fixtures.js';
import {
  type Codec,
  type SessionListener,
  type Session,
  type SessionClientOptions,
  createSessionClient,
  createSessionServer,
  createUdpSessionServer,
  lengthField,
  mapFrames,
} from '../src/index.js';
import { createWebSocketSessionServer } from '../src/session/websocket-entry.js';

const SERVER_MAX = 1024;
const codec = (max: number): Codec<string> =>
  mapFrames<string>(lengthField({ maxFrameLength: max }), { decode: (f) => f.toString('utf8'), encode: (m) => Buffer.from(m, 'utf8') }, max);

const fixtures = new URL('../../test/fixtures/', import.meta.url);
const key = readFileSync(new URL('localhost-key.pem', fixtures));
const cert = readFileSync(new URL('localhost-cert.pem', fixtures));

type Kind = 'tcp' | 'tls' | 'unix' | 'udp' | 'ws' | 'wss';

interface Side {
  events: string[];
  sessions: Session<string>[];
}

function listenerFor(side: Side): SessionListener<string> {
  return {
    onOpen: (s) => void side.sessions.push(s),
    onMessage(s, m) {
      side.events.push(`message:${m.length > 20 ? `${m.length} bytes` : m}`);
      if (m.startsWith('ping')) void s.send(`echo ${m}`);
    },
    onError: (_s, e) => void side.events.push(`error:${(e as { code?: string }).code}`),
    onClose: () => void side.events.push('close'),
  };
}

async function start(kind: Kind, server: Side): Promise<{ address: string; stop: () => Promise<void>; client: Partial<SessionClientOptions<string>> }> {
  const wheel = fastWheel();
  const heartbeat = { interval: 40, timeout: 400, message: 'hb' };
  const common = { codec: codec(SERVER_MAX), listener: listenerFor(server), wheel, heartbeat };
  if (kind === 'udp') {
    const s = createUdpSessionServer<string>({ ...common, idleTimeout: 600 });
    const { port } = await s.listen({ port: 0 });
    return { address: `127.0.0.1:${port}`, stop: () => s.shutdown(), client: { transport: 'udp' } };
  }
  if (kind === 'ws' || kind === 'wss') {
    const s = createWebSocketSessionServer<string>({ ...common, heartbeat: { interval: 40, timeout: 400 }, maxPayload: SERVER_MAX + 4 });
    const { port } = await s.listen({ port: 0, ...(kind === 'wss' ? { tls: { key, cert } } : {}) });
    return { address: `${kind}://localhost:${port}/`, stop: () => s.shutdown(), client: { transport: 'websocket', ...(kind === 'wss' ? { tls: { ca: cert } } : {}) } };
  }
  const s = createSessionServer<string>(common);
  if (kind === 'unix') {
    const path = join(tmpdir(), `nocopy-matrix-${process.pid}-${Date.now()}.sock`);
    await s.listen({ path });
    return { address: path, stop: () => s.shutdown(), client: { network: 'unix' } };
  }
  const { port } = (await s.listen({ port: 0, ...(kind === 'tls' ? { tls: { key, cert } } : {}) })) as { port: number };
  return { address: `localhost:${port}`, stop: () => s.shutdown(), client: kind === 'tls' ? { tls: { ca: cert } } : {} };
}

for (const kind of ['tcp', 'tls', 'unix', 'udp', 'ws', 'wss'] as const) {
  test(`matrix ${kind}: echo, heartbeats, an oversized message, a close from each side`, async (t) => {
    const server: Side = { events: [], sessions: [] };
    const srv = await start(kind, server);
    t.after(() => srv.stop());
    const clientSide: Side = { events: [], sessions: [] };
    const replies: string[] = [];
    const client = createSessionClient<string>({
      address: srv.address,
      ...srv.client,
      codec: codec(1 << 20), // the client may send what the server refuses
      reconnect: { initial: 10_000 },
      listener: {
        ...listenerFor(clientSide),
        onMessage(s, m) {
          replies.push(m);
          // Heartbeats are answered, so the server keeps the session (TCP, TLS, Unix, UDP; WS answers pings itself).
          if (m === 'hb') void s.send('pong');
        },
      },
    });
    t.after(() => client.close());
    const s = await client.ready({ timeout: 3000 });
    assert.equal(s.transport, kind === 'ws' || kind === 'wss' ? 'websocket' : kind === 'udp' ? 'udp' : 'tcp');

    // 1. Echo.
    await s.send('ping 1');
    await until(() => replies.includes('echo ping 1'), 'echo');

    // 2. Heartbeats for more than a timeout (400 ms, 10 intervals): the answering peer stays.
    if (kind === 'ws' || kind === 'wss') await sleep(600); // WebSocket pings are answered inside ws, unseen here: the clock is the measure
    else {
      const heard = () => replies.filter((r) => r === 'hb').length;
      const h0 = heard();
      await until(() => heard() >= h0 + 12, () => `${kind}: 12 more heartbeats (${heard() - h0})`, 10_000);
    }
    assert.ok(server.sessions[0]!.isActive(), `${kind}: the server kept the answering session`);
    if (kind !== 'ws' && kind !== 'wss') assert.ok(replies.filter((r) => r === 'hb').length >= 5, `${kind}: heartbeat messages`);

    // 3. Oversized: the server refuses it. A stream closes the session; UDP drops the datagram and stays.
    await s.send('x'.repeat(SERVER_MAX + 100));
    if (kind === 'udp') {
      // The next datagram's echo: the oversized one was dealt with before it.
      await s.send('ping 2');
      await until(() => replies.includes('echo ping 2'), 'udp: still answers');
      assert.ok(server.sessions[0]!.isActive(), 'udp: the session stays');
      // 4a. A close from the client side: UDP has no close; the server session expires when the peer
      // stops answering heartbeats (without heartbeats, after idleTimeout: the heartbeats it sends count as output).
      await client.close();
      await until(() => server.events.includes('close'), 'udp: expired', 3000);
      assert.equal(server.events.filter((e) => e.startsWith('error:')).join(' '), 'error:ERR_HEARTBEAT_TIMEOUT');
      return;
    }
    await until(() => server.events.includes('close'), `${kind}: closed after the oversized message`);
    const code = kind === 'ws' || kind === 'wss' ? 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' : 'ERR_FRAME_TOO_LARGE';
    assert.deepEqual(server.events.filter((e) => e.startsWith('error:') || e === 'close'), [`error:${code}`, 'close']);
    await until(() => clientSide.events.includes('close'), `${kind}: the client saw the close`);

    // 4b. A close from the server side reaches the client; then from the client side reaches the server.
    // (The client reconnects after its backoff; here it is long, so dial again by hand.)
    await client.close();
    const again = createSessionClient<string>({ address: srv.address, ...srv.client, codec: codec(1 << 20), listener: listenerFor(clientSide) });
    const s2 = await again.ready({ timeout: 3000 });
    const n = clientSide.events.filter((e) => e === 'close').length;
    await until(() => server.sessions.length === 2, 'second server session');
    server.sessions[1]!.close('bye');
    await until(() => clientSide.events.filter((e) => e === 'close').length === n + 1, `${kind}: server close reached the client`);
    assert.equal(s2.isActive(), false);
    await again.close();
  });
}
