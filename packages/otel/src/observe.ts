// observe(target): the stats() of a nocopy object as OpenTelemetry observable instruments, read once
// per collection (a scrape, an export interval), so the objects pay nothing between collections. The
// kind of target is told by the shape of its stats(): an RPC server or client, an EventLoop or a
// session server, a TCP proxy, a cluster primary, a BlockPool.
import { type Attributes, type BatchObservableResult, type MeterProvider, type Observable, metrics } from '@opentelemetry/api';
import { InvalidOptionError, checkOptions } from './errors.js';
import { NAME, VERSION } from './version.js';

/** Anything with a stats() method: RpcServer, RpcClient, EventLoop, SessionServer, TcpProxy, ClusterPrimary, BlockPool. */
export interface Observed {
  stats(): object;
}

export interface ObserveOptions {
  /** Default: the global one. */
  meterProvider?: MeterProvider;
  /** Added to every point: tell apart two targets of one kind ({ 'nocopy.name': 'frontend' }). */
  attributes?: Attributes;
}

export interface Observation extends Disposable {
  /** The kind told from the target's stats(). */
  readonly kind: Kind;
  /** Stops observing (the instruments stay, without points). Idempotent. */
  disable(): void;
}

export type Kind = 'rpc-server' | 'rpc-client' | 'transport' | 'sessions' | 'proxy' | 'cluster' | 'pool';

type Stats = Record<string, unknown>;
type Points = number | Array<[number, Attributes]>;
interface Metric {
  name: string;
  counter?: boolean;
  unit?: string;
  description: string;
  read(s: Stats): Points;
}

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
const field = (key: string) => (s: Stats): number => n(s[key]);

const transport: Metric[] = [
  { name: 'nocopy.transport.connections', unit: '{connection}', description: 'Live connections', read: field('connections') },
  { name: 'nocopy.transport.accepted', counter: true, unit: '{connection}', description: 'Connections accepted', read: field('accepted') },
  { name: 'nocopy.transport.refused', counter: true, unit: '{connection}', description: 'Connections refused (maxConnections, shutdown)', read: field('refused') },
  { name: 'nocopy.transport.closed', counter: true, unit: '{connection}', description: 'Connections closed', read: field('closed') },
  { name: 'nocopy.transport.inbound.bytes', unit: 'By', description: 'Input buffered by all connections (the inbound budget in use)', read: field('inboundBytes') },
  { name: 'nocopy.transport.inbound.paused', unit: '{connection}', description: 'Connections not reading because of the inbound budget', read: field('inboundPaused') },
  { name: 'nocopy.transport.inbound.evicted', counter: true, unit: '{connection}', description: 'Connections closed because the inbound budget was reached', read: field('inboundEvicted') },
];

const perMethod = (key: 'calls' | 'errors') => (s: Stats): Points =>
  Object.entries((s.methods ?? {}) as Record<string, Stats>).map(([method, m]) => [n(m[key]), { 'rpc.method': method }]);

const METRICS: Record<Kind, Metric[]> = {
  'rpc-server': [
    { name: 'nocopy.rpc.server.connections', unit: '{connection}', description: 'Live connections of the RPC server', read: field('connections') },
    { name: 'nocopy.rpc.server.in_flight', unit: '{call}', description: 'Calls running now', read: field('inFlight') },
    { name: 'nocopy.rpc.server.calls', counter: true, unit: '{call}', description: 'Requests and notifications received, per registered method', read: perMethod('calls') },
    { name: 'nocopy.rpc.server.errors', counter: true, unit: '{call}', description: 'Calls answered with an error, per registered method', read: perMethod('errors') },
    { name: 'nocopy.rpc.server.cancelled', counter: true, unit: '{call}', description: 'Calls that finished after they were cancelled (not answered)', read: field('cancelled') },
    { name: 'nocopy.rpc.server.offloaded', counter: true, unit: '{call}', description: 'Calls sent to the worker pool', read: field('offloaded') },
  ],
  'rpc-client': [
    { name: 'nocopy.rpc.client.pending', unit: '{call}', description: 'Calls waiting for a response', read: field('pending') },
    { name: 'nocopy.rpc.client.connections', unit: '{connection}', description: 'Connections open', read: field('connections') },
    { name: 'nocopy.rpc.client.calls', counter: true, unit: '{call}', description: 'Calls made', read: field('calls') },
    { name: 'nocopy.rpc.client.dials', counter: true, unit: '{connection}', description: 'Dials made', read: field('dials') },
  ],
  transport,
  sessions: [
    { name: 'nocopy.sessions.open', unit: '{session}', description: 'Sessions open', read: field('sessions') },
    { name: 'nocopy.sessions.opened', counter: true, unit: '{session}', description: 'Sessions opened', read: field('opened') },
    { name: 'nocopy.sessions.closed', counter: true, unit: '{session}', description: 'Sessions closed', read: field('closed') },
  ],
  proxy: [
    { name: 'nocopy.proxy.clients', unit: '{connection}', description: 'Open client connections', read: field('clients') },
    { name: 'nocopy.proxy.upstreams', unit: '{connection}', description: 'Open upstream connections', read: field('upstreams') },
    { name: 'nocopy.proxy.dialing', unit: '{connection}', description: 'Upstream dials in progress', read: field('dialing') },
    { name: 'nocopy.proxy.accepted', counter: true, unit: '{connection}', description: 'Client connections accepted', read: field('accepted') },
    { name: 'nocopy.proxy.refused', counter: true, unit: '{connection}', description: 'Client connections refused', read: field('refused') },
    { name: 'nocopy.proxy.dial_failures', counter: true, unit: '{connection}', description: 'Upstream dials that failed', read: field('dialFailures') },
    { name: 'nocopy.proxy.bytes', counter: true, unit: 'By', description: 'Bytes forwarded, by direction (up: client to upstream)', read: (s) => [[n(s.bytesUp), { 'network.io.direction': 'up' }], [n(s.bytesDown), { 'network.io.direction': 'down' }]] },
    { name: 'nocopy.proxy.buffered', unit: 'By', description: 'Bytes held for established pairs, both directions', read: field('bufferedBytes') },
  ],
  cluster: [
    { name: 'nocopy.cluster.workers', unit: '{process}', description: 'Worker slots by state (starting, ready, draining, down)', read: workersByState },
    { name: 'nocopy.cluster.connections', unit: '{connection}', description: 'Live connections of all workers', read: field('connections') },
    { name: 'nocopy.cluster.pending', unit: '{connection}', description: 'Accepted sockets waiting for a ready worker', read: field('pending') },
    { name: 'nocopy.cluster.accepted', counter: true, unit: '{connection}', description: 'Connections accepted', read: field('accepted') },
    { name: 'nocopy.cluster.refused', counter: true, unit: '{connection}', description: 'Connections refused by the primary or the workers', read: field('refused') },
    { name: 'nocopy.cluster.lost', counter: true, unit: '{connection}', description: 'Sockets lost with a worker that died while they were handed to it', read: field('lost') },
    { name: 'nocopy.cluster.restarts', counter: true, unit: '{process}', description: 'Worker restarts', read: field('restarts') },
  ],
  pool: [
    { name: 'nocopy.pool.memory', unit: 'By', description: 'Pooled memory: in_use (handed out) and idle (held for reuse)', read: (s) => [[n(s.bytesOutstanding), { state: 'in_use' }], [n(s.idleBytes), { state: 'idle' }]] },
    { name: 'nocopy.pool.blocks', unit: '{block}', description: 'Pooled blocks: in_use and idle', read: (s) => [[n(s.blocksOutstanding), { state: 'in_use' }], [n(s.idleBlocks), { state: 'idle' }]] },
    { name: 'nocopy.pool.slabs', unit: '{slab}', description: 'Slabs allocated', read: field('slabs') },
    { name: 'nocopy.pool.acquisitions', counter: true, unit: '{block}', description: 'Acquisitions, by whether an idle block served them (hit) or new memory (miss)', read: (s) => [[n(s.hits), { result: 'hit' }], [n(s.misses), { result: 'miss' }]] },
  ],
};

function workersByState(s: Stats): Points {
  const counts: Record<string, number> = { starting: 0, ready: 0, draining: 0, down: 0 };
  for (const w of (s.workers ?? []) as Stats[]) counts[String(w.state)] = (counts[String(w.state)] ?? 0) + 1;
  return Object.entries(counts).map(([state, c]) => [c, { state }]);
}

/** The kind of a target, told from its stats(); null when none fits. */
export function kindOf(s: Stats): Kind | null {
  if ('methods' in s && 'inFlight' in s) return 'rpc-server';
  if ('pending' in s && 'dials' in s) return 'rpc-client';
  if ('bytesUp' in s && 'bytesDown' in s) return 'proxy';
  if (Array.isArray(s.workers) && 'mode' in s) return 'cluster';
  if ('bytesOutstanding' in s && 'idleBytes' in s) return 'pool';
  if ('inboundBytes' in s && 'accepted' in s) return 'transport';
  if ('sessions' in s && 'opened' in s) return 'sessions';
  return null;
}

/**
 * Observes `target.stats()` through observable gauges and counters of the meter provider. An RPC
 * server's stats() with a `transport` part (its EventLoop's) also gives the transport metrics; a
 * session server's `sessions` count is added to the transport ones.
 */
export function observe(target: Observed, options: ObserveOptions = {}): Observation {
  checkOptions(options, ['meterProvider', 'attributes']);
  if (target === null || typeof target !== 'object' || typeof target.stats !== 'function') throw new InvalidOptionError('target', target, 'an object with a stats() method');
  const first = target.stats() as Stats;
  const kind = kindOf(first);
  if (kind === null) throw new InvalidOptionError('target', target, `a nocopy object whose stats() is known (got fields ${Object.keys(first).join(', ')})`);
  const base = options.attributes ?? {};
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
  // Parts: the stats object (or a part of it) and the metrics read from it.
  const parts: Array<{ pick: (s: Stats) => Stats | undefined; list: Metric[] }> = [{ pick: (s) => s, list: METRICS[kind] }];
  if (kind === 'rpc-server' && typeof first.transport === 'object' && first.transport !== null) parts.push({ pick: (s) => s.transport as Stats | undefined, list: transport });
  if (kind === 'transport' && 'sessions' in first) parts.push({ pick: (s) => s, list: [METRICS.sessions[0]!] });
  const instruments = parts.map((p) =>
    p.list.map((m) => {
      const o = { description: m.description, ...(m.unit !== undefined ? { unit: m.unit } : {}) };
      return { m, pick: p.pick, inst: m.counter ? meter.createObservableCounter(m.name, o) : meter.createObservableGauge(m.name, o) };
    }),
  ).flat();
  const observables: Observable[] = instruments.map((i) => i.inst);
  const withBase = (a: Attributes): Attributes => (options.attributes === undefined ? a : { ...base, ...a });
  const callback = (result: BatchObservableResult): void => {
    const s = target.stats() as Stats;
    for (const { m, pick, inst } of instruments) {
      const part = pick(s);
      if (part === undefined) continue;
      const v = m.read(part);
      if (typeof v === 'number') result.observe(inst, v, base);
      else for (const [value, a] of v) result.observe(inst, value, withBase(a));
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  let enabled = true;
  const disable = (): void => {
    if (!enabled) return;
    enabled = false;
    meter.removeBatchObservableCallback(callback, observables);
  };
  return { kind, disable, [Symbol.dispose]: disable };
}
