// Traces across processes: A -> B -> C, three processes each serving RPC with instrumentRpc() and
// the OpenTelemetry SDK's in-memory exporter, over real sockets. A plain client (this process, not
// instrumented) calls A; A's handler calls B, B's calls C. One trace id, three SERVER spans and two
// CLIENT spans, each parented by the span that made the call; a failed call carries error status and
// its code; a cancelled call says so on both sides.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createClient, type RpcClient } from '@nocopy/rpc-demo';
import { within } from '@nocopy/test-kit';
import type { SpanRecord } from './fixtures/spans.js';

const HOP = fileURLToPath(new URL('./fixtures/hop.js', import.meta.url));
const SERVER = 1;
const CLIENT = 2;
const ERROR = 2;

interface Node {
  name: string;
  child: ChildProcess;
  port: number;
}

async function start(name: string, next?: Node): Promise<Node> {
  const child = fork(HOP, next === undefined ? [name] : [name, `127.0.0.1:${next.port}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [m] = (await within(once(child, 'message'), 10_000, `${name} listening`)) as [{ port: number }];
  return { name, child, port: m.port };
}

function spansOf(node: Node): Promise<Array<SpanRecord & { process: string }>> {
  const reply = once(node.child, 'message') as Promise<[SpanRecord[]]>;
  node.child.send('spans');
  return within(reply, 5000, `${node.name}'s spans`).then(([list]) => list.map((s) => ({ ...s, process: node.name })));
}

let nodes: Node[] = [];
let client: RpcClient;

/** Every span of `method`'s trace, from the three processes, once `count` have ended. */
async function trace(method: string, count: number): Promise<Array<SpanRecord & { process: string }>> {
  let all: Array<SpanRecord & { process: string }> = [];
  // The spans come over IPC: polled here (until() takes a synchronous condition).
  const deadline = Date.now() + 10_000;
  for (;;) {
    all = (await Promise.all(nodes.map(spansOf))).flat();
    const roots = all.filter((s) => s.name === method && s.process === 'A' && s.kind === SERVER);
    const traceId = roots.at(-1)?.traceId;
    const mine = all.filter((s) => s.traceId === traceId);
    if (traceId !== undefined && mine.length >= count) return mine;
    if (Date.now() > deadline) assert.fail(`expected ${count} spans of ${method}, have ${JSON.stringify(mine.map((s) => `${s.process} ${s.name}`))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function one(spans: Array<SpanRecord & { process: string }>, process: string, kind: number): SpanRecord {
  const found = spans.filter((s) => s.process === process && s.kind === kind);
  assert.equal(found.length, 1, `one ${kind === SERVER ? 'SERVER' : 'CLIENT'} span in ${process}: ${JSON.stringify(spans)}`);
  return found[0]!;
}

describe('A -> B -> C in three processes', () => {
  before(async () => {
    const c = await start('C');
    const b = await start('B', c);
    const a = await start('A', b);
    nodes = [a, b, c];
    client = createClient({ address: `127.0.0.1:${a.port}`, connections: 1 });
  });

  after(async () => {
    await client?.close();
    await Promise.all(nodes.map(async (n) => {
      const exited = once(n.child, 'exit');
      n.child.send('exit');
      await within(exited, 5000, `${n.name} exiting`).catch(() => n.child.kill('SIGKILL'));
    }));
  });

  it('is one trace: three server spans and two client spans, each the child of the span that made the call', async (t) => {
    assert.deepEqual(await client.call('hop'), ['A', 'B', 'C']);
    const spans = await trace('hop', 5);
    assert.equal(spans.length, 5, JSON.stringify(spans));
    // The tree in the output, for a reader of the run: process, kind, span id, parent.
    for (const s of spans) t.diagnostic(`${s.process} ${s.kind === SERVER ? 'SERVER' : 'CLIENT'} ${s.name} trace ${s.traceId} span ${s.spanId} parent ${s.parentSpanId ?? '-'}${s.parentIsRemote === true ? ' (remote)' : ''}`);
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 1);
    const aServer = one(spans, 'A', SERVER);
    const aClient = one(spans, 'A', CLIENT);
    const bServer = one(spans, 'B', SERVER);
    const bClient = one(spans, 'B', CLIENT);
    const cServer = one(spans, 'C', SERVER);
    // The caller of A sent no trace context: A's server span is the root.
    assert.equal(aServer.parentSpanId, undefined);
    assert.equal(aClient.parentSpanId, aServer.spanId);
    assert.equal(bServer.parentSpanId, aClient.spanId);
    assert.equal(bServer.parentIsRemote, true);
    assert.equal(bClient.parentSpanId, bServer.spanId);
    assert.equal(cServer.parentSpanId, bClient.spanId);
    assert.equal(cServer.parentIsRemote, true);
    for (const s of spans) {
      assert.equal(s.attributes['rpc.system'], 'nocopy-msgpack-rpc');
      assert.equal(s.attributes['rpc.method'], 'hop');
      assert.equal(s.status, 0, `${s.process}: no error status`);
    }
    for (const s of [aServer, bServer, cServer]) {
      assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(typeof s.attributes['network.peer.port'], 'number');
    }
    // A client span names the server of the connection the call was written on: A's is B, B's is C.
    for (const [s, to] of [[aClient, nodes[1]!], [bClient, nodes[2]!]] as const) {
      assert.equal(s.attributes['server.address'], '127.0.0.1');
      assert.equal(s.attributes['server.port'], to.port);
      assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(s.attributes['network.peer.port'], to.port);
    }
    // The client's default timeout (10 s) travels as the call's deadline.
    assert.equal(aClient.attributes['rpc.nocopy.timeout_ms'], undefined);
    assert.ok(Number(bServer.attributes['rpc.nocopy.timeout_ms']) > 0, 'B saw the deadline A sent');
  });

  it('a failed call has error status and the error code on every span it went through', async () => {
    await assert.rejects(client.call('fail'), { code: 'ERR_TEST_BOOM' });
    const spans = await trace('fail', 5);
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 1);
    for (const s of spans) {
      assert.equal(s.status, ERROR, `${s.process} ${s.kind}: error status`);
      assert.equal(s.attributes['error.type'], 'ERR_TEST_BOOM', `${s.process} ${s.kind}: the code`);
    }
    assert.match(one(spans, 'C', SERVER).statusMessage ?? '', /boom at C/);
    assert.ok(one(spans, 'C', SERVER).events.includes('exception'));
  });

  it('a cancelled call says so: the caller aborted it, the server saw it cancelled', async () => {
    assert.equal(await client.call('abandon'), 'ABORT_ERR');
    const spans = await trace('abandon', 3);
    const aClient = one(spans, 'A', CLIENT);
    assert.equal(aClient.name, 'wait');
    assert.equal(aClient.status, ERROR);
    assert.equal(aClient.attributes['error.type'], 'ABORT_ERR');
    assert.equal(aClient.attributes['rpc.nocopy.cancelled'], 'ERR_RPC_CANCELLED');
    assert.ok(aClient.events.includes('cancelled'));
    const bServer = one(spans, 'B', SERVER);
    assert.equal(bServer.parentSpanId, aClient.spanId);
    assert.equal(bServer.status, ERROR);
    assert.equal(bServer.attributes['rpc.nocopy.cancelled'], 'ERR_RPC_CANCELLED');
    assert.equal(bServer.attributes['error.type'], 'ERR_RPC_CANCELLED');
    // A's own call was answered normally.
    assert.equal(one(spans, 'A', SERVER).status, 0);
  });
});
