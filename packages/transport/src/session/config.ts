// Session options shared by the session server and the session client, validated once.
import { InvalidOptionError } from '../errors.js';
import { checkCount, checkFunction, checkMs } from '../util/validate.js';
import { createWarner, type Warner } from '../util/warner.js';
import type { Codec } from './codec.js';
import type { SessionListener } from './listener.js';
import type { Session } from './session.js';
import { TimingWheel, defaultWheel } from './timing-wheel.js';

export interface HeartbeatOptions<Out> {
  /** Send `message` every `interval` ms. */
  interval: number;
  /** Close a session that received nothing for this many ms (HeartbeatTimeoutError). Default 3 x interval. */
  timeout?: number;
  /** The heartbeat message, or a function that makes one for the session. Required but over WebSocket, where the heartbeat is a ping. */
  message?: Out | ((session: Session<any, Out>) => Out);
}

export interface SessionOptions<In, Out = In> {
  codec: Codec<In, Out>;
  listener: SessionListener<In, Out>;
  /** Calls listener.onCron every this many ms; 0 = never. Default 1000 when onCron is given. */
  cronPeriod?: number;
  heartbeat?: HeartbeatOptions<Out>;
  /** Close a session with no input or output for this many ms (IdleTimeoutError), on the timing wheel; 0 = never. Default 0. */
  idleTimeout?: number;
  /** onMessage calls of one session running at once. Default 1 (in order, one at a time). */
  maxInFlight?: number;
  /** The timing wheel of the session timers. Default: the process-wide defaultWheel. */
  wheel?: TimingWheel;
}

export interface SessionConfig<In, Out> {
  codec: Codec<In, Out>;
  listener: SessionListener<In, Out>;
  cronPeriod: number;
  heartbeat: { interval: number; timeout: number; message: Out | ((s: Session<any, Out>) => Out) } | null;
  idleTimeout: number;
  maxInFlight: number;
  wheel: TimingWheel;
  warn: Warner;
}

const warnSessionError = createWarner({ code: 'NOCOPY_SESSION_ERROR' });

export function resolveSessionOptions<In, Out>(o: SessionOptions<In, Out>): SessionConfig<In, Out> {
  const codec = o.codec;
  if (codec === null || typeof codec !== 'object' || typeof codec.decode !== 'function' || typeof codec.encode !== 'function') {
    throw new InvalidOptionError('codec', codec, 'an object with decode() and encode()');
  }
  const l = o.listener;
  if (l === null || typeof l !== 'object' || typeof l.onMessage !== 'function') {
    throw new InvalidOptionError('listener', l, 'an object with an onMessage() method');
  }
  for (const name of ['onOpen', 'onCron', 'onError', 'onClose'] as const) checkFunction(`listener.${name}`, l[name]);
  let heartbeat: SessionConfig<In, Out>['heartbeat'] = null;
  if (o.heartbeat !== undefined) {
    const h = o.heartbeat;
    if (h === null || typeof h !== 'object') throw new InvalidOptionError('heartbeat', h, 'an object { interval, timeout?, message }');
    const interval = checkMs('heartbeat.interval', h.interval, 0);
    if (interval === 0) throw new InvalidOptionError('heartbeat.interval', h.interval, 'a positive number of ms');
    const timeout = checkMs('heartbeat.timeout', h.timeout, 3 * interval);
    if (timeout === 0) throw new InvalidOptionError('heartbeat.timeout', h.timeout, 'a positive number of ms');
    heartbeat = { interval, timeout, message: h.message as Out };
  }
  const wheel = o.wheel ?? defaultWheel;
  if (!(wheel instanceof TimingWheel)) throw new InvalidOptionError('wheel', wheel, 'a TimingWheel');
  return {
    codec,
    listener: l,
    cronPeriod: checkMs('cronPeriod', o.cronPeriod, l.onCron !== undefined ? 1000 : 0),
    heartbeat,
    idleTimeout: checkMs('idleTimeout', o.idleTimeout, 0),
    maxInFlight: checkCount('maxInFlight', o.maxInFlight, 1),
    wheel,
    warn: warnSessionError,
  };
}
