// A worker that dies with sockets on their way to it: Node's IPC channel sends one handle at a time
// and queues the rest until the worker acknowledges, and drops that queue (no callback, sockets left
// open) when the worker dies. The promise: each such socket is re-handed to a live worker or closed
// and counted in stats().lost; none is left open and silent, and the cluster keeps serving.
// The worker is stopped (SIGSTOP) first so that it acknowledges nothing, then killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { runCluster, type Cluster } from '@nocopy/transport/cluster';
import { RawClient, until, within } from '@nocopy/test-kit';
import { connectEcho, echoWorker } from './helpers.js';

const port = (c: Cluster) => (c.address as { port: number }).port;

interface Outcome {
  /** The echo worker's greeting "<slot> <pid>", or null when the socket closed without one. */
  greeting: Promise<string | null>;
  socket: net.Socket;
}

/** Connects and resolves with the greeting line, or null at a close before it (60 s liveness bound: the test's own is shorter). */
function connect(p: number): Outcome {
  const c = RawClient.dial(p);
  const greeting = c.readLine(60_000).catch((err: unknown) => (c.isClosed || c.ended ? null : Promise.reject(err)));
  return { greeting, socket: c.socket };
}

async function killWithQueue(t: import('node:test').TestContext, workers: number): Promise<void> {
  const cluster = await runCluster({ module: echoWorker, workers, policy: 'round-robin', restart: { initial: 50, jitter: 0 } });
  t.after(() => cluster.shutdown({ timeout: 1000 }));
  const victim = cluster.stats().workers[0]!.pid!;
  const clients: Outcome[] = [];
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  process.kill(victim, 'SIGSTOP'); // it reads nothing now: the first socket sent waits for its ack, the rest queue
  let killed = false;
  try {
    const N = 6 * workers;
    for (let i = 0; i < N; i++) clients.push(connect(port(cluster)));
    await until(() => cluster.stats().accepted === N, () => `the primary to accept ${N} (${cluster.stats().accepted})`, 20_000);
    const exited = once(cluster, 'worker-exit');
    process.kill(victim, 'SIGKILL');
    killed = true;
    await within(exited, 20_000, 'the stopped worker to exit');
    // Every connection is served (the greeting of a live worker) or closed: none waits forever.
    const got = await within(Promise.all(clients.map((c) => c.greeting)), 30_000, 'every connection to be served or closed');
    const served = got.filter((g) => g !== null);
    const closed = got.length - served.length;
    const s = cluster.stats();
    t.diagnostic(`served ${served.length}, closed ${closed}; stats ${JSON.stringify(s)}`);
    assert.ok(served.every((g) => Number(g.split(' ')[1]) !== victim), 'nothing was served by the killed worker');
    // Six sockets went to the stopped worker: one on the wire (closed, lost), five queued and re-handed.
    assert.equal(closed, s.lost, 'each connection closed unserved is counted lost');
    assert.ok(served.length >= N - 1, `at most the one on the wire is lost (${closed} closed)`);
    await until(() => {
      const b = cluster.stats();
      const sum = (f: (w: (typeof b.workers)[number]) => number) => b.workers.reduce((a, w) => a + f(w), 0);
      // The primary's own refusals are the total less the workers'.
      return sum((w) => w.accepted) + (b.refused - sum((w) => w.refused)) + b.lost + b.pending === b.accepted;
    }, () => `accepted = workers' + primary's refused + lost + pending (${JSON.stringify(cluster.stats())})`, 20_000);
    // And the cluster serves new connections afterwards.
    const c = await within(connectEcho(port(cluster)), 20_000, 'a new connection to be served');
    assert.equal(await within(c.echo('after'), 10_000, 'the echo'), 'after');
    c.socket.destroy();
  } finally {
    if (!killed) process.kill(victim, 'SIGKILL');
  }
}

test('a worker killed with sockets queued to it: they go to the other worker, the one on the wire is closed and counted lost', { timeout: 90_000 }, (t) => killWithQueue(t, 2));

test('the only worker killed with sockets queued to it: they wait for its replacement and are served there', { timeout: 90_000 }, (t) => killWithQueue(t, 1));
