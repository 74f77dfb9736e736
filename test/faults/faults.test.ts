// Faults injected by a misbehaving peer (fault-peer.ts): half a frame then a reset, a half-close
// mid-stream, a stall (no reading, partial input, no traffic), a TLS handshake cut short (both
// sides), and an RPC server SIGKILLed in a child process with calls in flight. For each: every call
// or request that was answered got its exact answer; every other call rejected with a coded error;
// nothing hangs past its bound; the server keeps serving other clients; pool blocks come back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import { BlockPool } from '@nocopy/linkbuffer';
import { dialConnection, type Connection } from '@nocopy/transport';
import { createClient, createServer, type RpcClient, type RpcServer } from '@nocopy/rpc-demo';
import { FaultPeer, FaultServer, abortTlsHandshake, spawnRpcServer, type HandshakeEnd, type HandshakeSend } from './fault-peer.js';
import { decodeAll, wire } from './arbitraries.js';
import { RawClient, codeOf, frame, outcome, poolBackTo, sleep, startEcho, until, within, type EchoServer } from './helpers.js';
import { frames, readFrameFrom } from '../support.js';

const FRAMINGS = ['framed', 'stream'] as const;
type Framing = (typeof FRAMINGS)[number];

const survived: string[] = [];
after(() => console.log(`[faults] survived ${survived.length}: ${survived.join('; ')}`));

// ---- an in-process RPC server under test, with a well-behaved client keeping calls in flight ----

interface Rpc {
  server: RpcServer;
  port: number;
  pool: BlockPool;
  /** Tags the `sleep` handler saw. */
  seen: Set<string>;
  errors: unknown[];
  good: RpcClient;
  goodPool: BlockPool;
  baseline: number;
  /** Server-side close reasons (error codes, '' for a clean close), from the diagnostics channel. */
  closeCodes: string[];
  unsubscribe: () => void;
}

async function startRpc(framing: Framing): Promise<Rpc> {
  const pool = new BlockPool();
  const goodPool = new BlockPool();
  const seen = new Set<string>();
  const errors: unknown[] = [];
  const server = createServer({ framing, onError: (e) => errors.push(e), transport: { pool, readTimeout: 300, writeTimeout: 300 } });
  server.register('echo', (x: unknown) => x);
  server.register('sleep', async (ms: number, tag: string) => {
    seen.add(tag);
    await sleep(ms);
    return tag;
  });
  server.register('blob', (n: number) => Buffer.alloc(n, 7));
  const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  const closeCodes: string[] = [];
  const onClose = (msg: unknown) => {
    const { connection, error } = msg as { connection: Connection; error: unknown };
    if (connection.localPort === port) closeCodes.push(error === undefined ? '' : String((error as { code?: unknown }).code));
  };
  subscribe('nocopy:connection:close', onClose);
  const good = createClient({ address: `127.0.0.1:${port}`, framing, connections: 2, timeout: 5000, dial: { pool: goodPool } });
  await Promise.all([good.call('echo', 1), good.call('echo', 2)]);
  await until(() => server.stats().connections === 2, 'the good connections');
  return { server, port, pool, seen, errors, good, goodPool, baseline: pool.stats().bytesOutstanding, closeCodes, unsubscribe: () => unsubscribe('nocopy:connection:close', onClose) };
}

async function stopRpc(r: Rpc): Promise<void> {
  r.unsubscribe();
  await r.good.close();
  await within(r.server.shutdown({ timeout: 2000 }), 4000, 'the RPC server to shut down');
  assert.equal(r.pool.stats().bytesOutstanding, 0, 'server pool: every block back');
  assert.equal(r.goodPool.stats().bytesOutstanding, 0, 'client pool: every block back');
}

/** The good client's calls in flight while a fault happens: each must come back exact. */
function load(r: Rpc, label: string, n = 8): Promise<void> {
  const calls = Array.from({ length: n }, (_, i) => r.good.call('sleep', 20 + 15 * i, `${label}-${i}`));
  return within(Promise.all(calls), 5000, `the good client's calls (${label})`).then((got) => {
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => `${label}-${i}`));
  });
}

/** After a fault: only the good connections are left, the pool is at its baseline, and a new call works. */
async function healthy(r: Rpc, what: string): Promise<void> {
  await until(() => r.server.stats().connections === 2, `${what}: the faulty connection to close on the server`);
  await until(() => r.server.stats().inFlight === 0, `${what}: the calls in flight to finish`);
  await poolBackTo(r.pool, r.baseline, what);
  assert.equal(await r.good.call('echo', what), what);
  assert.equal(r.good.stats().dials, 2, `${what}: the good client never redialed`);
  for (const e of r.errors) codeOf(e);
}

/** The responses a raw peer got, checked: each exact and at most once; returns the ids answered. */
function checkAnswers(framing: Framing, got: Buffer, expected: Map<number, unknown>): Set<number> {
  const answered = new Set<number>();
  for (const m of decodeAll(framing, got)) {
    const id = m[1] as number;
    assert.ok(expected.has(id), `an answer to an unknown id ${id}`);
    assert.ok(!answered.has(id), `id ${id} answered twice`);
    assert.equal(m[2], null, `id ${id} failed: ${JSON.stringify(m[2])}`);
    assert.deepEqual(m[3], expected.get(id), `the answer to id ${id}`);
    answered.add(id);
  }
  return answered;
}

/** Requests as a raw peer sends them: ids 1..n, `sleep` (async) and `echo` (sync) alternating. */
function requests(framing: Framing, n: number, tag: string): { bytes: Buffer; expected: Map<number, unknown> } {
  const parts: Buffer[] = [];
  const expected = new Map<number, unknown>();
  for (let id = 1; id <= n; id++) {
    const t = `${tag}-${id}`;
    parts.push(wire(framing, id % 2 === 0 ? [0, id, 'sleep', [30, t]] : [0, id, 'echo', [t]]));
    expected.set(id, t);
  }
  return { bytes: Buffer.concat(parts), expected };
}

// ---- the transport's echo server ----

describe('faults against the transport (EventLoop echo server)', () => {
  let srv: EchoServer;
  let good: RawClient;
  let baseline = 0;
  before(async () => {
    srv = await startEcho({ readTimeout: 300, writeTimeout: 300, maxOutboundBytes: 64 * 1024, maxInboundBytes: 256 * 1024 });
    good = await RawClient.connect(srv.port);
    assert.equal((await good.roundTrip('warm')).toString(), 'warm');
    baseline = srv.pool.stats().bytesOutstanding;
  });
  after(async () => {
    good.destroy();
    await within(srv.loop.shutdown({ timeout: 1000 }), 3000, 'shutdown');
    assert.equal(srv.pool.stats().bytesOutstanding, 0, 'every block back');
  });

  async function stillServing(what: string): Promise<void> {
    await until(() => srv.loop.connections === 1, `${what}: the faulty connection to close on the server`);
    await poolBackTo(srv.pool, baseline, what);
    // The good client's connection is untouched.
    assert.equal((await good.roundTrip(what)).toString(), what);
    survived.push(`echo: ${what}`);
  }

  it('half a frame, then a reset', async () => {
    const frames = [frame('one'), frame('two')];
    const peer = await FaultPeer.connect(srv.port);
    await peer.write(Buffer.concat(frames));
    await until(() => peer.received().length === 14, 'the two echoes');
    await within(peer.halfFrameThenReset(frame(Buffer.alloc(1000, 1))), 2000, 'the reset');
    assert.ok(peer.received().equals(Buffer.concat(frames)), 'the complete frames were echoed exactly');
    await stillServing('half a frame then RST');
    // The server saw the reset (or, when the kernel reported it as an EOF, a clean end).
    assert.ok(['ECONNRESET', ''].includes(srv.closeCodes.at(-1)!), srv.closeCodes.at(-1));
  });

  it('a half-close mid-stream: the complete frames are echoed, then the server closes', async () => {
    const peer = await FaultPeer.connect(srv.port);
    const complete = Buffer.concat([frame('a'), frame(Buffer.alloc(3000, 2)), frame('')]);
    await peer.halfCloseMidStream(Buffer.concat([complete, frame('never finished').subarray(0, 9)]));
    await within(peer.closed, 2000, 'the server to close after the half-close');
    assert.ok(peer.received().equals(complete), 'exactly the complete frames came back');
    assert.equal(peer.error, undefined, 'a clean close, no reset');
    await stillServing('half-close mid-frame');
  });

  it('a stall: the peer floods and stops reading; the write timeout cuts it off', async () => {
    const peer = await FaultPeer.connect(srv.port);
    const closes = srv.closeCodes.length;
    peer.stall();
    // 16 MiB of echo requests (one shared payload): more than the kernel buffers of both sides take.
    const payload = Buffer.alloc(256 * 1024, 3);
    for (let i = 0; i < 64; i++) peer.socket.write(frame(payload), () => {});
    const t0 = Date.now();
    await until(() => srv.closeCodes.length > closes, 'the write timeout to close the stalled peer', 20_000);
    const ms = Date.now() - t0;
    assert.equal(srv.closeCodes.at(-1), 'ERR_WRITE_TIMEOUT');
    await peer.unstall();
    await stillServing(`stalled reader (closed after ${ms} ms)`);
  });

  it('a stall mid-frame: the read timeout cuts it off', async () => {
    const peer = await FaultPeer.connect(srv.port);
    const closes = srv.closeCodes.length;
    peer.stall(frame(Buffer.alloc(500, 4)).subarray(0, 100));
    await until(() => srv.closeCodes.length > closes, 'the read timeout to close the peer', 20_000);
    assert.equal(srv.closeCodes.at(-1), 'ERR_READ_TIMEOUT');
    await peer.unstall();
    await stillServing('stall mid-frame');
  });

  it('a stall with no traffic at all: the idle timeout closes it, and only it', async () => {
    // A server of its own: the idle timeout applies to every connection of a server.
    // 600 ms idle against a keepalive every 50 ms: room for a busy machine's late timers.
    const idle = await startEcho({ idleTimeout: 600 });
    try {
      const busy = await RawClient.connect(idle.port);
      const peer = await FaultPeer.connect(idle.port);
      peer.stall();
      // Meanwhile another client keeps its own connection alive by talking.
      const deadline = Date.now() + 20_000; // a liveness bound, not a speed check
      while (idle.closeCodes.length === 0) {
        assert.equal((await busy.roundTrip('keepalive')).toString(), 'keepalive');
        await sleep(50); // the keepalive's pace, not a wait for an event
        assert.ok(Date.now() < deadline, 'the idle timeout never closed the silent peer');
      }
      assert.deepEqual(idle.closeCodes, ['ERR_IDLE_TIMEOUT']);
      await peer.unstall();
      assert.equal((await busy.roundTrip('still here')).toString(), 'still here');
      busy.destroy();
      await until(() => idle.loop.connections === 0, 'the busy client to go');
      assert.equal(idle.pool.stats().bytesOutstanding, 0, 'every block back');
      survived.push('echo: silent stall (idle timeout)');
    } finally {
      await idle.loop.shutdown({ timeout: 500 });
    }
  });
});

// ---- the RPC server ----

for (const framing of FRAMINGS) {
  describe(`faults against the RPC server (${framing})`, () => {
    let r: Rpc;
    before(async () => {
      r = await startRpc(framing);
    });
    after(() => stopRpc(r));

    it('requests, half a request, then a reset: no crash, the others are served', async () => {
      const background = load(r, 'rst');
      const { bytes, expected } = requests(framing, 6, 'rst');
      const peer = await FaultPeer.connect(r.port);
      await peer.write(bytes);
      await until(() => r.seen.has('rst-2') && r.seen.has('rst-4') && r.seen.has('rst-6'), 'the handlers to see the requests');
      await within(peer.halfFrameThenReset(wire(framing, [0, 99, 'echo', ['x'.repeat(200)]])), 2000, 'the reset');
      checkAnswers(framing, peer.received(), expected); // whatever came back before the reset is exact
      await background;
      await healthy(r, 'RPC: half a request then RST');
      survived.push(`rpc ${framing}: half a request then RST`);
    });

    it('a half-close mid-stream: every complete request is answered (slow ones too), then the server closes', async () => {
      const background = load(r, 'fin');
      const { bytes, expected } = requests(framing, 8, 'fin');
      const peer = await FaultPeer.connect(r.port);
      await peer.halfCloseMidStream(Buffer.concat([bytes, wire(framing, [0, 9, 'echo', ['cut']]).subarray(0, 6)]));
      await within(peer.closed, 3000, 'the server to answer and close');
      const answered = checkAnswers(framing, peer.received(), expected);
      assert.deepEqual([...answered].sort((a, b) => a - b), [...expected.keys()], 'every complete request answered');
      await background;
      await healthy(r, 'RPC: half-close mid-request');
      survived.push(`rpc ${framing}: half-close mid-request`);
    });

    it('a stall: a peer that asks for large results and stops reading is cut off by the write timeout', async () => {
      const background = load(r, 'stall');
      const peer = await FaultPeer.connect(r.port);
      const closes = r.closeCodes.length;
      peer.stall();
      // It keeps asking: a later batch's flush finds the socket full and waits, bounded by the write timeout.
      let id = 0;
      const t0 = Date.now();
      while (r.closeCodes.length === closes) {
        assert.ok(Date.now() - t0 < 20_000, 'the write timeout never closed the stalled peer (20 s liveness bound)');
        peer.socket.write(wire(framing, [0, ++id, 'blob', [256 * 1024]]), () => {});
        await sleep(10);
      }
      assert.equal(r.closeCodes.at(-1), 'ERR_WRITE_TIMEOUT');
      await peer.unstall();
      await background;
      await healthy(r, 'RPC: stalled reader');
      survived.push(`rpc ${framing}: stalled reader (write timeout after ${Date.now() - t0} ms, ${id} requests)`);
    });

    it('a stall mid-request, after an async call: the read timeout cuts it off once the call is answered', async () => {
      const peer = await FaultPeer.connect(r.port);
      const closes = r.closeCodes.length;
      const slow = wire(framing, [0, 1, 'sleep', [50, 'loris']]);
      peer.stall(Buffer.concat([slow, wire(framing, [0, 2, 'echo', ['never']]).subarray(0, 5)]));
      await until(() => r.closeCodes.length > closes, 'the read timeout to close the peer', 3000);
      assert.equal(r.closeCodes.at(-1), 'ERR_READ_TIMEOUT');
      await peer.unstall();
      const answered = checkAnswers(framing, peer.received(), new Map([[1, 'loris']]));
      assert.deepEqual([...answered], [1], 'the async call was answered before the cut');
      await healthy(r, 'RPC: stall mid-request after an async call');
      survived.push(`rpc ${framing}: slow-loris after an async call`);
    });

    it('a server that never answers (client side): calls reject with ERR_RPC_TIMEOUT, nothing hangs', async () => {
      const dead = await FaultServer.listen('stall');
      const pool = new BlockPool();
      const c = createClient({ address: `127.0.0.1:${dead.port}`, framing, connections: 2, timeout: 200, dial: { pool } });
      try {
        const outs = await within(Promise.all(Array.from({ length: 6 }, (_, i) => outcome(c.call('echo', i)))), 3000, 'the calls to time out');
        for (const o of outs) {
          assert.equal(o.ok, false);
          if (!o.ok) assert.equal(codeOf(o.error), 'ERR_RPC_TIMEOUT');
        }
        assert.equal(c.stats().pending, 0);
      } finally {
        await c.close();
        await dead.close();
      }
      assert.equal(pool.stats().bytesOutstanding, 0, 'client pool: every block back');
      survived.push(`rpc ${framing}: server that never answers`);
    });

    it('a server that resets mid-call (client side): calls reject with a coded error, nothing hangs', async () => {
      const dead = await FaultServer.listen('reset', 1);
      const pool = new BlockPool();
      const c = createClient({ address: `127.0.0.1:${dead.port}`, framing, connections: 1, timeout: 2000, dial: { pool }, backoff: { initial: 10, max: 50 } });
      try {
        const outs = await within(Promise.all(Array.from({ length: 4 }, (_, i) => outcome(c.call('echo', i)))), 3000, 'the calls to fail');
        for (const o of outs) {
          assert.equal(o.ok, false);
          if (!o.ok) assert.ok(['ERR_CONN_CLOSED', 'ERR_DIAL_FAILED'].includes(codeOf(o.error)), String(o.error));
        }
      } finally {
        await c.close();
        await dead.close();
      }
      assert.equal(pool.stats().bytesOutstanding, 0, 'client pool: every block back');
      survived.push(`rpc ${framing}: server that resets mid-call`);
    });
  });
}

// ---- TLS handshakes cut short ----

const fixtures = new URL('../../../packages/transport/test/fixtures/', import.meta.url);
const key = readFileSync(new URL('localhost-key.pem', fixtures), 'utf8');
const cert = readFileSync(new URL('localhost-cert.pem', fixtures), 'utf8');

describe('TLS handshake cut short', () => {
  let srv: EchoServer;
  before(async () => {
    srv = await startEcho({ tlsHandshakeTimeout: 300 }, { tls: { key, cert } });
  });
  after(async () => {
    // A liveness bound: a handshake left in progress would hold server.close() (the raw sockets are ended).
    await within(srv.loop.shutdown({ timeout: 1000 }), 20_000, 'the TLS server to shut down');
  });

  async function tlsRoundTrip(text: string): Promise<void> {
    const pool = new BlockPool();
    const conn: Connection = await dialConnection('tcp', { port: srv.port }, { tls: { ca: cert, servername: 'localhost' }, pool, timeout: 3000 });
    try {
      conn.writer.writeBinary(frame(text));
      await conn.writer.flush();
      assert.equal((await readFrameFrom(frames, conn, { timeout: 3000 })).toString(), text);
    } finally {
      await conn[Symbol.asyncDispose]();
    }
    assert.equal(pool.stats().bytesOutstanding, 0, 'TLS client pool: every block back');
  }

  const cases: [HandshakeSend, HandshakeEnd][] = [
    ['nothing', 'close'],
    ['nothing', 'reset'],
    ['partial-hello', 'close'],
    ['partial-hello', 'reset'],
    ['nothing', 'stall'],
    ['partial-hello', 'stall'],
  ];
  for (const [send, end] of cases) {
    it(`server side: a raw peer sends ${send}, then ${end === 'stall' ? 'stalls (the handshake timeout drops it)' : end}`, async () => {
      const accepted = srv.loop.stats().accepted;
      await tlsRoundTrip('before');
      const peer = await within(abortTlsHandshake(srv.port, send, end, 3000), 4000, 'the aborted handshake');
      assert.ok(peer.isClosed);
      await tlsRoundTrip('after');
      assert.equal(srv.loop.stats().accepted, accepted + 2, 'the aborted handshake never became a connection');
      await until(() => srv.loop.connections === 0, 'the TLS connections to close');
      assert.equal(srv.pool.stats().bytesOutstanding, 0, 'server pool: every block back');
      survived.push(`tls server: ${send} then ${end}`);
    });
  }

  for (const mode of ['close', 'reset', 'stall'] as const) {
    it(`client side: the server ${mode === 'stall' ? 'never answers the ClientHello' : `${mode}s during the handshake`}: the dial rejects with a coded error`, async () => {
      const fake = await FaultServer.listen(mode, 1);
      const pool = new BlockPool();
      try {
        const o = await within(outcome(dialConnection('tcp', { port: fake.port }, { tls: { ca: cert, servername: 'localhost' }, pool, timeout: 300 })), 3000, 'the dial to fail');
        assert.equal(o.ok, false);
        if (!o.ok) assert.equal(codeOf(o.error), mode === 'stall' ? 'ERR_DIAL_TIMEOUT' : 'ERR_DIAL_FAILED');
      } finally {
        await fake.close();
      }
      assert.equal(pool.stats().bytesOutstanding, 0, 'dial pool: the read buffer went back');
      survived.push(`tls client: server ${mode} during the handshake`);
    });
  }
});

// ---- an RPC server process killed with calls in flight ----

for (const framing of FRAMINGS) {
  describe(`RPC server SIGKILLed with calls in flight (${framing})`, () => {
    it('answered calls are exact, the others reject with ERR_CONN_CLOSED; after a restart calls succeed again', async () => {
      const child = await spawnRpcServer({ framing });
      let second: Awaited<ReturnType<typeof spawnRpcServer>> | null = null;
      const pool = new BlockPool();
      // A 60 s call timeout: calls in flight that settle within the 20 s bound below failed because
      // the connection closed, not because they timed out.
      const c = createClient({ address: child.address, framing, connections: 2, timeout: 60_000, backoff: { initial: 10, max: 100 }, dial: { pool } });
      try {
        assert.equal(await c.call('pid'), child.proc.pid);
        assert.deepEqual(await Promise.all([c.call('echo', 'a'), c.call('echo', 'b')]), ['a', 'b']);
        // Calls finishing from 0 ms to 10 s: the quick ones are answered before the kill, the rest are in flight.
        const delays = [0, 5, 10, 20, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000];
        let settled = 0;
        const calls = delays.map((ms, i) => outcome(c.call('sleep', ms, `k${i}`)).finally(() => settled++));
        await until(() => child.started.length === delays.length && child.answered.length >= 4, 'the calls to reach the child', 20_000);
        await until(() => settled === 4, () => `the quick answers to travel back (${settled})`, 20_000);
        await child.kill();
        const outs = await within(Promise.all(calls), 20_000, 'every call to settle after the kill');
        const ok: string[] = [];
        for (const [i, o] of outs.entries()) {
          if (o.ok) {
            assert.equal(o.value, `k${i}`, 'an answered call got its exact answer');
            assert.ok(child.answered.includes(`k${i}`));
            ok.push(`k${i}`);
          } else {
            assert.equal(codeOf(o.error), 'ERR_CONN_CLOSED', String(o.error));
          }
        }
        assert.deepEqual(ok, ['k0', 'k1', 'k2', 'k3'], 'the quick calls were answered, the slow ones were not');
        assert.equal(c.stats().pending, 0);
        // While the server is down: a coded refusal, quickly.
        const down = await within(outcome(c.call('echo', 'down')), 20_000, 'a call while the server is down');
        assert.equal(down.ok, false);
        if (!down.ok) assert.ok(['ERR_DIAL_FAILED', 'ERR_CONN_CLOSED'].includes(codeOf(down.error)), String(down.error));
        // A new server on the same port: the client reconnects (backoff) and calls succeed.
        second = await spawnRpcServer({ framing, port: child.port });
        const s2 = second;
        let pid: unknown = null;
        await within(
          (async () => {
            while (pid !== s2.proc.pid) {
              const o = await outcome(c.call('pid'));
              if (o.ok) pid = o.value;
              else codeOf(o.error);
              await sleep(20);
            }
          })(),
          20_000,
          'the client to reach the restarted server',
        );
        assert.equal(await c.call('sleep', 1, 'again'), 'again');
        survived.push(`rpc ${framing}: server SIGKILLed with ${delays.length - 4} calls in flight`);
      } finally {
        await c.close();
        await child.kill();
        await second?.kill();
      }
      assert.equal(pool.stats().bytesOutstanding, 0, 'client pool: every block back');
    });
  });
}
