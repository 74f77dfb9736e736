// Outlier detection: when an endpoint is taken out of the balancer (ejected) and for how long.
// Two signals, as grpc's outlier detection and Finagle's latency-aware balancers use them:
// consecutive failed calls (a connection lost under a call, a call past its deadline) and a mean
// latency far above the other endpoints'. An ejection lasts baseEjectionTime x its count, up to
// maxEjectionTime; at its end the endpoint is probed (the RPC client calls $health) and gets calls
// again if it answers. No more than maxEjectionPercent of the endpoints are ejected at once (at
// least one may be), so a fleet-wide problem never ejects the fleet.
import { InvalidOptionError } from '../errors.js';
import { checkCount, checkMs, checkSafeInteger } from '../util/validate.js';

export interface OutlierOptions {
  /** Failed calls in a row (no success between) that eject an endpoint. Default 5; 0 turns it off. */
  consecutiveFailures?: number;
  /** How often latencies are compared, in ms. Default 10000. */
  interval?: number;
  /** An endpoint whose mean latency over an interval exceeds this many times the median of the others' is ejected. Default 5; 0 turns it off. */
  latencyFactor?: number;
  /** Measured calls an endpoint must have had in the interval for its latency to count (the RPC client measures one call in 8). Default 20. */
  minRequests?: number;
  /** The first ejection's length, in ms; the n-th lasts n times as long. Default 10000. */
  baseEjectionTime?: number;
  /** The longest ejection, in ms. Default 300000. */
  maxEjectionTime?: number;
  /** Endpoints ejected at once at most, in percent of all (at least one may always be). Default 10. */
  maxEjectionPercent?: number;
}

export type ResolvedOutlier = Required<OutlierOptions>;

export function resolveOutlier(o: OutlierOptions | false | undefined): ResolvedOutlier | null {
  if (o === false) return null;
  if (o !== undefined && (o === null || typeof o !== 'object')) throw new InvalidOptionError('outlier', o, 'an object or false');
  const pct = o?.maxEjectionPercent ?? 10;
  if (typeof pct !== 'number' || !(pct >= 0 && pct <= 100)) throw new InvalidOptionError('outlier.maxEjectionPercent', pct, 'a number from 0 to 100');
  const factor = o?.latencyFactor ?? 5;
  if (typeof factor !== 'number' || !(factor === 0 || factor > 1)) throw new InvalidOptionError('outlier.latencyFactor', factor, '0 (off) or a number above 1');
  const base = checkMs('outlier.baseEjectionTime', o?.baseEjectionTime, 10_000);
  return {
    consecutiveFailures: checkSafeInteger('outlier.consecutiveFailures', o?.consecutiveFailures, 5, 0),
    interval: checkMs('outlier.interval', o?.interval, 10_000),
    latencyFactor: factor,
    minRequests: checkCount('outlier.minRequests', o?.minRequests, 20),
    baseEjectionTime: base,
    maxEjectionTime: Math.max(base, checkMs('outlier.maxEjectionTime', o?.maxEjectionTime, 300_000)),
    maxEjectionPercent: pct,
  };
}

/** Per endpoint: what the detector counts. */
export interface OutlierStats {
  consecutiveFailures: number;
  /** Calls and their summed latency (ms) in the current interval. */
  windowCalls: number;
  windowLatency: number;
  /** Ejections so far (decays by one per interval spent serving). */
  ejections: number;
  /** Date.now() until which it is ejected; 0 when it is not. */
  ejectedUntil: number;
}

export function newOutlierStats(): OutlierStats {
  return { consecutiveFailures: 0, windowCalls: 0, windowLatency: 0, ejections: 0, ejectedUntil: 0 };
}

/** How long the next ejection of `s` lasts. */
export function ejectionTime(o: ResolvedOutlier, s: OutlierStats): number {
  return Math.min(o.maxEjectionTime, o.baseEjectionTime * Math.max(1, s.ejections));
}

/** Whether one more endpoint may be ejected when `ejected` of `total` are. */
export function mayEject(o: ResolvedOutlier, ejected: number, total: number): boolean {
  return ejected < Math.max(1, Math.floor((total * o.maxEjectionPercent) / 100));
}

/**
 * The latency outliers of one interval: the endpoints with at least minRequests calls whose mean
 * latency exceeds latencyFactor times the median of the other counted endpoints' means.
 */
export function latencyOutliers<E extends { outlier: OutlierStats }>(o: ResolvedOutlier, endpoints: Iterable<E>): E[] {
  if (o.latencyFactor === 0) return [];
  const counted: { e: E; mean: number }[] = [];
  for (const e of endpoints) {
    const s = e.outlier;
    if (s.ejectedUntil === 0 && s.windowCalls >= o.minRequests) counted.push({ e, mean: s.windowLatency / s.windowCalls });
  }
  if (counted.length < 2) return [];
  const means = counted.map((c) => c.mean).sort((a, b) => a - b);
  const out: E[] = [];
  for (const c of counted) {
    // The median of the others: drop this endpoint's own mean once.
    const others = means.slice();
    others.splice(others.indexOf(c.mean), 1);
    const m = others.length % 2 === 1 ? others[(others.length - 1) / 2]! : (others[others.length / 2 - 1]! + others[others.length / 2]!) / 2;
    if (c.mean > o.latencyFactor * Math.max(m, 0.05)) out.push(c.e);
  }
  return out;
}
