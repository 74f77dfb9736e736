// 10,000 sessions with heartbeats in one server: every session gets its heartbeats from one timing
// wheel (two wheel entries a session, one Node timer in all), the peers that answer stay, and the
// half that goes silent is closed by the heartbeat timeout, nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { until, within } from './helpers.js';
import { lineCodec } from './session-fixtures.js';
import { TimingWheel, createSessionServer } from '../src/index.js';

const N = 10_000;

test(`${N.toLocaleString('en')} sessions with heartbeats: the answering ones stay, the silent half is closed`, { timeout: 600_000 }, async (t) => {
  const wheel = new TimingWheel({ tick: 20 });
  const errors = new Map<string, number>();
  const server = createSessionServer<string>({
    codec: lineCodec(),
    wheel,
    // Generous timeout: the whole suite runs beside this on 2 cores, and a starved peers process
    // must not look like a silent peer (at 500/5000 the peers were cut while opening at load 9+).
    heartbeat: { interval: 1000, timeout: 10_000, message: 'hb' },
    maxInboundBytesTotal: Infinity,
    listener: {
      onMessage() {},
      onError(_s, e) {
        const code = (e as { code?: string }).code ?? 'other';
        errors.set(code, (errors.get(code) ?? 0) + 1);
      },
    },
  });
  const { port } = (await server.listen({ port: 0, backlog: 4096 })) as AddressInfo;
  t.after(() => server.shutdown({ timeout: 5000 }));
  const peers = fork(new URL('./session-scale-peers.js', import.meta.url), [String(port), String(N)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => {
    if (peers.exitCode === null) peers.kill();
  });
  // The peers dying (a reset while opening, say) fails the test at once, not after a wait's bound.
  const died = new Promise<never>((_, reject) => {
    peers.once('exit', (code, signal) => reject(new Error(`the peers process exited (${code ?? signal}) with ${server.size} sessions open`)));
  });
  died.catch(() => {}); // raced below; unobserved once the test is past its waits
  const orDied = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died]);
  // Liveness bounds on every wait for the peers, so that a stall says where it was.
  // 240 s: beside a full suite and a busy loop on 2 cores, opening them took more than 120 s once.
  const [hello] = (await within(orDied(once(peers, 'message')), 240_000, `the peers to open ${N} sessions`).catch((err: Error) => {
    throw new Error(`${err.message} (the server has ${server.size})`);
  })) as [{ open: number }];
  assert.equal(hello.open, N);
  await until(() => server.size === N, () => `${server.size} sessions`, 90_000); // a liveness bound: 2 busy cores open 10,000 slowly
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  assert.equal(wheel.size, 2 * N, 'a heartbeat timer and a deadline per session');
  assert.ok(timers < 50, `${timers} Node timers for ${N} sessions`);

  const report = async (): Promise<{ heartbeats: number; closed: number }> => {
    const reply = once(peers, 'message') as Promise<[{ heartbeats: number; closed: number }]>;
    peers.send('report');
    return (await within(orDied(reply), 30_000, 'a report from the peers'))[0];
  };
  // Every session hears its heartbeats and answers: counted in heartbeats, not ms. Once the peers
  // have heard 12 per session (12 intervals: more than the 10 a timeout spans, however late the
  // ticks come on a busy machine), none is closed.
  const t0 = Date.now();
  const r0 = await report();
  let r1 = r0;
  while (r1.heartbeats - r0.heartbeats < N * 12 && r1.closed === 0) {
    assert.ok(Date.now() - t0 < 90_000, `only ${r1.heartbeats - r0.heartbeats} heartbeats for ${N} sessions after 90 s`);
    await new Promise((r) => setTimeout(r, 250)); // the polling pace of the report
    r1 = await report();
  }
  t.diagnostic(`${r1.heartbeats - r0.heartbeats} heartbeats in ${Date.now() - t0} ms`);
  assert.equal(r1.closed, 0);
  assert.equal(server.size, N);

  peers.send('mute');
  await until(() => server.size <= N / 2, () => `${server.size} sessions left`, 90_000);
  // Closes that must not happen would come by the time the talking half has heard 12 more
  // heartbeats each (more than a timeout's 10 intervals): wait for those, not for the clock.
  const r2 = await report();
  let r3 = r2;
  const t1 = Date.now();
  while (r3.heartbeats - r2.heartbeats < (N / 2) * 12 && server.size === N / 2) {
    assert.ok(Date.now() - t1 < 90_000, `only ${r3.heartbeats - r2.heartbeats} heartbeats for ${N / 2} sessions after 90 s`);
    await new Promise((r) => setTimeout(r, 250)); // the polling pace of the report
    r3 = await report();
  }
  assert.equal(server.size, N / 2, 'exactly the silent half was closed');
  assert.deepEqual([...errors], [['ERR_HEARTBEAT_TIMEOUT', N / 2]]);
  assert.equal(wheel.size, 2 * (N / 2), 'the closed sessions left the wheel');
  const exited = once(peers, 'exit');
  peers.send('exit');
  await exited;
});
