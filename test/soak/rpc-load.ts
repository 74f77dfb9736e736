// The RPC half of the soak: two RPC servers (framed and stream framing) on fixed loopback ports, each
// driven by two RpcClients with four closed-loop workers apiece, and the RPC faults: aborted and
// timed-out calls, a client closed mid-call, resets of either end of a client connection, a server
// restart on the same port (clients see ERR_DIAL_FAILED until it is back), and malformed input.
import type { AddressInfo } from 'node:net';
import type { Connection } from '@nocopy/transport';
import { rpc, type RpcClient, type RpcServer } from './rpc-module.js';
import { Scope, type SoakContext } from './ledger.js';
import { owner } from './registry.js';
import { chance, payloadSize, pick, rand, randomSlice, randomValue, sameValue } from './payload.js';
import { connectRaw, settle, sleep, within } from './util.js';
import { encode } from '@msgpack/msgpack';

type Framing = 'framed' | 'stream';

const CLIENTS_PER_SERVER = 2;
const WORKERS_PER_CLIENT = 4;
const MAX_MESSAGE_SIZE = 4 * 1024 * 1024;
/** Client reconnect backoff cap: the restart fault window ends this long (plus margin) after the server is back. */
const BACKOFF_MAX = 400;

/** One RPC server on a fixed port, which the restart fault replaces with a new one on the same port. */
class RpcTarget {
  readonly framing: Framing;
  readonly scope: Scope;
  readonly #ctx: SoakContext;
  port = 0;
  server: RpcServer | null = null;
  restarting = false;

  constructor(framing: Framing, ctx: SoakContext) {
    this.framing = framing;
    this.scope = new Scope(`rpc-server-${framing}`);
    this.#ctx = ctx;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  #make(): RpcServer {
    const s = rpc.createServer({ framing: this.framing, maxMessageSize: MAX_MESSAGE_SIZE, onError: (err) => this.#ctx.ledger.serverError(err) });
    s.register('echo', (x: unknown) => x);
    s.register('add', (a: number, b: number) => a + b);
    s.register('sleep', (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)));
    // echo answered later (a resolved promise): replies of async handlers take the coalesced-flush path.
    s.register('echoAsync', async (x: unknown) => x);
    return s;
  }

  /**
   * Listens on `port`, or first on a random port below the ephemeral range (32768+), so that no
   * outgoing connection of the soak can take the port while the server restarts.
   */
  async listen(port?: number): Promise<void> {
    for (let attempt = 0; attempt < 60; attempt++) {
      const p = port ?? 20_000 + rand(10_000);
      const s = this.#make();
      try {
        const a = (await s.listen({ host: '127.0.0.1', port: p })) as AddressInfo;
        this.port = a.port;
        this.server = s;
        return;
      } catch (err) {
        await s.shutdown({ timeout: 0 });
        if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
        if (port !== undefined) await sleep(50);
      }
    }
    throw new Error(`rpc server (${this.framing}): no free port${port !== undefined ? ` (port ${port} stayed in use)` : ''}`);
  }

  /** Shuts the server down (answering calls already received) and listens again on the same port. */
  async restart(): Promise<void> {
    const old = this.server;
    if (old === null || this.restarting) return;
    this.restarting = true;
    const w = this.scope.open(['ERR_CONN_CLOSED', 'ERR_DIAL_FAILED']);
    try {
      this.server = null;
      const t0 = Date.now();
      await within(old.shutdown({ timeout: 3000 }), 10_000, `rpc server (${this.framing}) shutdown`);
      this.#ctx.ledger.timing('rpc server shutdown for a restart, ms', Date.now() - t0);
      await sleep(100 + rand(400));
      await this.listen(this.port);
    } catch (err) {
      this.#ctx.ledger.problem(`rpc server (${this.framing}) restart: ${(err as Error).message}`);
    } finally {
      this.scope.end(w, BACKOFF_MAX + 1100);
      this.restarting = false;
    }
  }
}

/** A client slot: the workers use whatever client it holds; the close fault swaps in a new one. */
class ClientHandle {
  readonly target: RpcTarget;
  readonly scope: Scope;
  client: RpcClient;
  closing = false;

  constructor(target: RpcTarget, id: number) {
    this.target = target;
    this.scope = new Scope(`rpc-client-${target.framing}-${id}`);
    this.client = ClientHandle.make(target);
  }

  static make(target: RpcTarget): RpcClient {
    return rpc.createClient({
      address: target.address,
      framing: target.framing,
      connections: 2,
      timeout: 10_000,
      maxMessageSize: MAX_MESSAGE_SIZE,
      backoff: { initial: 20, max: BACKOFF_MAX },
      dial: { timeout: 5000 },
    });
  }

  get scopes(): Scope[] {
    return [this.scope, this.target.scope];
  }

  /** This client's live connections (listed by the registry as they were dialed inside its scope). */
  activeConns(): Connection<any>[] {
    return [...this.scope.conns].filter((c) => c.isActive());
  }
}

interface Op {
  method: string;
  params: unknown[];
  check: (result: unknown) => boolean;
}

function nextOp(): Op {
  const r = Math.random();
  if (r < 0.4) {
    const v = randomValue();
    return { method: 'echo', params: [v], check: (x) => sameValue(x, v) };
  }
  if (r < 0.5) {
    const b = randomSlice(payloadSize());
    const method = chance(0.5) ? 'echo' : 'echoAsync';
    return { method, params: [b], check: (x) => sameValue(x, b) };
  }
  if (r < 0.8) {
    const a = chance(0.8) ? rand(2 ** 31) - 2 ** 30 : Math.random() * 1e9;
    const b = chance(0.8) ? rand(2 ** 31) - 2 ** 30 : Math.random() * -1e9;
    return { method: 'add', params: [a, b], check: (x) => x === a + b };
  }
  const ms = rand(30);
  return { method: 'sleep', params: [ms], check: (x) => x === ms };
}

export class RpcLoad {
  readonly #ctx: SoakContext;
  readonly targets: RpcTarget[];
  readonly handles: ClientHandle[] = [];
  readonly #workers: Promise<void>[] = [];
  #closes = 0;
  /** Clients replaced by the close fault, still closing. */
  readonly #retired = new Set<Promise<void>>();

  constructor(ctx: SoakContext) {
    this.#ctx = ctx;
    this.targets = [new RpcTarget('framed', ctx), new RpcTarget('stream', ctx)];
  }

  async start(): Promise<void> {
    for (const t of this.targets) await t.listen();
    for (const t of this.targets) {
      for (let i = 0; i < CLIENTS_PER_SERVER; i++) this.handles.push(new ClientHandle(t, i));
    }
    for (const h of this.handles) {
      for (let i = 0; i < WORKERS_PER_CLIENT; i++) this.#workers.push(owner.run(h.scope, () => this.#worker(h)));
    }
  }

  async #worker(h: ClientHandle): Promise<void> {
    const { ledger } = this.#ctx;
    // Start apart, not in lockstep.
    await sleep(rand(20));
    while (this.#ctx.running()) {
      const op = nextOp();
      const start = ledger.begin();
      try {
        const result = await h.client.request(op.method, op.params);
        ledger.done(`rpc ${op.method}`, op.check(result), () => `rpc ${op.method}(${describe(op.params)}) returned ${describe([result])}`);
      } catch (err) {
        ledger.failed(`rpc ${op.method}`, err, start, h.scopes);
        // Calls fail fast while a server is down: do not spin.
        await sleep(10);
      }
    }
  }

  // ---- faults (each returns whether it injected anything) ----

  /** A call aborted through its signal mid-call: must fail with ABORT_ERR. */
  async abort(): Promise<boolean> {
    const h = pick(this.handles);
    if (h.target.restarting) return false;
    const ac = new AbortController();
    const { ledger } = this.#ctx;
    const start = ledger.begin();
    const p = owner.run(h.scope, () => h.client.request('sleep', [200], { signal: ac.signal }));
    const timer = setTimeout(() => ac.abort(), 5 + rand(40));
    try {
      await p;
      ledger.done('rpc sleep (aborted)', false, () => 'a call aborted after at most 45 ms completed (sleep 200 ms)');
    } catch (err) {
      ledger.failed('rpc sleep (aborted)', err, start, h.scopes, ['ABORT_ERR']);
    } finally {
      clearTimeout(timer);
    }
    return true;
  }

  /** A call whose timeout is shorter than the handler: must fail with ERR_RPC_TIMEOUT. */
  async timeout(): Promise<boolean> {
    const h = pick(this.handles);
    if (h.target.restarting) return false;
    const { ledger } = this.#ctx;
    const start = ledger.begin();
    try {
      await owner.run(h.scope, () => h.client.request('sleep', [250], { timeout: 20 + rand(60) }));
      ledger.done('rpc sleep (timed out)', false, () => 'a call with a timeout of at most 80 ms completed (sleep 250 ms)');
    } catch (err) {
      ledger.failed('rpc sleep (timed out)', err, start, h.scopes, ['ERR_RPC_TIMEOUT']);
    }
    return true;
  }

  /**
   * The client is closed while calls are in flight; its workers move on to a new client. Every third
   * time, a fresh client is closed instead while its first call is still dialing.
   */
  async clientClose(): Promise<boolean> {
    const h = pick(this.handles);
    if (this.#closes++ % 3 === 2) return this.#closeWhileDialing(h);
    if (h.closing) return false;
    h.closing = true;
    const { ledger } = this.#ctx;
    h.scope.allow(['ERR_RPC_CLOSED', 'ERR_CONN_CLOSED'], 1000);
    const old = h.client;
    const start = ledger.begin();
    // Settled into an outcome at once: it may fail (a restart) before it is awaited.
    const inFlight = settle(owner.run(h.scope, () => old.request('sleep', [150])));
    h.client = ClientHandle.make(h.target);
    await sleep(10 + rand(40));
    const closing = old.close();
    this.#retired.add(closing);
    const r = await inFlight;
    if (r.ok) ledger.done('rpc sleep (client closed)', false, () => 'a call of a client closed mid-call completed');
    else ledger.failed('rpc sleep (client closed)', r.error, start, h.scopes, ['ERR_RPC_CLOSED']);
    await within(closing, 10_000, 'RpcClient.close()').catch((err: Error) => ledger.problem(`client close: ${err.message}`));
    this.#retired.delete(closing);
    h.closing = false;
    return true;
  }

  /**
   * A burst of 2500 concurrent calls on one client (about 1250 per connection): past the server's
   * maxInFlight (1024) reading pauses until calls finish. Every call must complete and verify.
   */
  async burst(): Promise<boolean> {
    const h = pick(this.handles);
    if (h.target.restarting || h.closing) return false;
    const { ledger } = this.#ctx;
    const client = h.client;
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 2500; i++) {
      const op: Op = i % 2 === 0 ? { method: 'sleep', params: [rand(20)], check: () => true } : nextOp();
      if (op.method === 'sleep') {
        const ms = op.params[0];
        op.check = (x) => x === ms;
      }
      const start = ledger.begin();
      calls.push(
        owner.run(h.scope, () => client.request(op.method, op.params)).then(
          (r) => ledger.done(`rpc ${op.method} (burst)`, op.check(r), () => `rpc ${op.method}(${describe(op.params)}) returned ${describe([r])}`),
          (err: unknown) => void ledger.failed(`rpc ${op.method} (burst)`, err, start, h.scopes),
        ),
      );
    }
    await Promise.all(calls);
    return true;
  }

  /** A call on a new client (so it dials first), then close() in the same tick: the call must fail with ERR_RPC_CLOSED. */
  async #closeWhileDialing(h: ClientHandle): Promise<boolean> {
    if (h.target.restarting) return false;
    const { ledger } = this.#ctx;
    const scope = new Scope(`${h.scope.name}-fresh`);
    const client = ClientHandle.make(h.target);
    const start = ledger.begin();
    const call = owner.run(scope, () => client.request('echo', ['never sent']));
    const closing = client.close();
    try {
      await call;
      ledger.done('rpc echo (client closed while dialing)', false, () => 'a call of a client closed before its dial finished completed');
    } catch (err) {
      ledger.failed('rpc echo (client closed while dialing)', err, start, [scope], ['ERR_RPC_CLOSED']);
    }
    await within(closing, 10_000, 'RpcClient.close()').catch((err: Error) => ledger.problem(`client close: ${err.message}`));
    return true;
  }

  /** resetAndDestroy() on the client side of a client's connection: its pending calls fail with ERR_CONN_CLOSED. */
  async resetClientSide(): Promise<boolean> {
    const h = pick(this.handles);
    const conns = h.activeConns();
    if (conns.length === 0) return false;
    h.scope.allow(['ERR_CONN_CLOSED'], 500);
    pick(conns).socket.resetAndDestroy();
    return true;
  }

  /** resetAndDestroy() on the server side of a client's connection. */
  async resetServerSide(): Promise<boolean> {
    const h = pick(this.handles);
    const conns = h.activeConns();
    if (conns.length === 0) return false;
    const c = pick(conns);
    const peer = this.#ctx.registry.peerOf(c.localPort, c.remotePort);
    if (peer === null || !peer.isActive()) return false;
    h.scope.allow(['ERR_CONN_CLOSED'], 500);
    peer.socket.resetAndDestroy();
    return true;
  }

  async restart(): Promise<boolean> {
    const t = pick(this.targets);
    if (t.restarting || t.server === null) return false;
    await t.restart();
    return true;
  }

  /**
   * A raw peer sends bytes that are not a MessagePack-RPC message (or announces an oversized one):
   * the server must close that connection at once; the other connections are unaffected (their
   * calls keep being verified, and any failure there is unexpected).
   */
  async malformed(): Promise<boolean> {
    const t = pick(this.targets);
    if (t.restarting || t.server === null) return false;
    const variants: Record<Framing, Buffer[]> = {
      framed: [
        Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]), // 0xc1 is never used in MessagePack
        Buffer.from([0, 0, 0, 1, 0x2a]), // valid MessagePack (42), not an RPC message
        Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x94]), // a 2 GiB message announced
      ],
      stream: [Buffer.from([0xc1, 0x00]), Buffer.from([0x2a]), Buffer.from([0x93, 0x05, 0x01, 0x02])],
    };
    const bytes = pick(variants[t.framing]);
    const probe = await connectRaw(t.port); // none: the server is restarting
    if (probe === null) return false;
    const { socket, closed } = probe;
    socket.write(bytes);
    socket.resume();
    try {
      await within(closed, 5000, 'the close of a connection that sent malformed input');
    } catch (err) {
      if (!t.restarting) this.#ctx.ledger.problem(`rpc (${t.framing}) malformed input ${bytes.toString('hex')}: ${(err as Error).message}`);
      socket.destroy();
      await closed;
    }
    return true;
  }

  /**
   * A raw peer that sends async calls (echoAsync of 1 KiB) for 2 s and never reads a reply. The
   * server must stop decoding while its replies wait for the peer: its output for that connection
   * stays bounded.
   */
  async stalledReader(): Promise<boolean> {
    const t = pick(this.targets);
    if (t.restarting || t.server === null) return false;
    const probe = await connectRaw(t.port); // none: the server is restarting
    if (probe === null) return false;
    const { socket, closed } = probe;
    socket.pause();
    const payload = Buffer.from(randomSlice(1024));
    let id = 0;
    const batch = (): Buffer => {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 256; i++) {
        const body = encode([0, id++, 'echoAsync', [payload]]);
        if (t.framing === 'framed') {
          const h = Buffer.allocUnsafe(4);
          h.writeUInt32BE(body.length, 0);
          parts.push(h);
        }
        parts.push(body);
      }
      return Buffer.concat(parts);
    };
    let peer: Connection<any> | null = null;
    let most = 0;
    const until = Date.now() + 2000;
    while (Date.now() < until && !socket.destroyed) {
      if (socket.writableLength < 1024 * 1024) socket.write(batch());
      peer ??= this.#ctx.registry.peerOf(socket.localPort, socket.remotePort);
      if (peer !== null) most = Math.max(most, peer.writer.queued + peer.writer.mallocLength);
      await sleep(2);
    }
    const bound = 16 * 1024 * 1024;
    if (peer === null) this.#ctx.ledger.problem(`rpc (${t.framing}) stalled reader: the server-side connection was not found`);
    else if (most > bound && !t.restarting) {
      this.#ctx.ledger.problem(`rpc (${t.framing}) stalled reader: the server buffered ${(most / 1048576).toFixed(1)} MiB of replies for a peer that reads none (bound ${bound / 1048576} MiB)`);
    }
    this.#ctx.ledger.timing('rpc stalled reader: most reply bytes the server buffered, KiB', Math.round(most / 1024));
    socket.destroy();
    await closed;
    return true;
  }

  // ---- end ----

  /** Waits for the workers (each finishes its call), closes every client, shuts the servers down. */
  async stop(): Promise<void> {
    const { ledger } = this.#ctx;
    await within(Promise.all(this.#workers), 30_000, 'the RPC workers to finish').catch((err: Error) => ledger.problem(err.message));
    await within(Promise.all([...this.#retired]), 15_000, 'retired RPC clients to close').catch((err: Error) => ledger.problem(err.message));
    for (const h of this.handles) {
      const pending = h.client.stats().pending;
      if (pending !== 0) ledger.problem(`${h.scope.name}: ${pending} calls still pending after the workers finished`);
      await within(h.client.close(), 10_000, `${h.scope.name} close`).catch((err: Error) => ledger.problem(err.message));
    }
    for (const t of this.targets) {
      while (t.restarting) await sleep(20);
      const s = t.server;
      if (s === null) continue;
      const st = s.stats();
      if (st.inFlight !== 0) ledger.problem(`rpc server (${t.framing}): ${st.inFlight} calls in flight after every client closed`);
      await within(s.shutdown({ timeout: 5000 }), 15_000, `rpc server (${t.framing}) shutdown`).catch((err: Error) => ledger.problem(err.message));
      t.server = null;
    }
  }
}

/** A short description of values for a mismatch report (byte arrays by length). */
function describe(v: unknown[]): string {
  const brief = (x: unknown): unknown => {
    if (ArrayBuffer.isView(x)) return `<${x.byteLength} bytes>`;
    if (Array.isArray(x)) return x.map(brief);
    if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, brief(y)]));
    return x;
  };
  const s = JSON.stringify(v.map(brief));
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}
