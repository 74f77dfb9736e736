// The four kinds of session timer, on the timing wheel: the application's after()/every(), the cron
// (onCron every cronPeriod), the heartbeat (a message or a ping every interval, and the check that
// input came within timeout) and the idle check. Held apart from session.ts, which keeps the public
// API and the input loop; none of this is on the per-message path.
import { HeartbeatTimeoutError, IdleTimeoutError } from '../errors.js';
import { checkFunction, checkMs } from '../util/validate.js';
import { isThenable } from '../util/thenable.js';
import type { SessionConfig } from './config.js';
import { type Session, kFail, kLink, kStale, kTrack } from './session.js';
import type { WheelTimer } from './timing-wheel.js';

/** @internal The timers of one session; cancel() is called once the session begins closing. */
export class SessionTimers<In, Out> {
  readonly #session: Session<In, Out>;
  readonly #cfg: SessionConfig<In, Out>;
  /** after()/every() timers of the application. */
  readonly #app = new Set<WheelTimer>();
  #cron: WheelTimer | null = null;
  #cronRunning = false;
  #heartbeat: WheelTimer | null = null;
  #heartbeatCheck: WheelTimer | null = null;
  #idleCheck: WheelTimer | null = null;

  constructor(session: Session<In, Out>, cfg: SessionConfig<In, Out>) {
    this.#session = session;
    this.#cfg = cfg;
  }

  /** An after() (periodic false) or every() timer of the application: skipped once the session is stale. */
  add<S extends Session<In, Out>>(session: S, ms: number, fn: (s: S) => void, periodic: boolean): WheelTimer {
    checkMs('ms', ms, 0);
    checkFunction('fn', fn);
    const app = this.#app;
    const wheel = this.#cfg.wheel;
    const t: WheelTimer = periodic
      ? wheel.every(ms, (s: S) => {
          if (!s[kStale]()) fn(s);
        }, session, onTimerError)
      : wheel.after(ms, (s: S) => {
          app.delete(t);
          if (!s[kStale]()) fn(s);
        }, session, onTimerError);
    app.add(t);
    return t;
  }

  /** onOpen accepted the session: the cron, heartbeat and idle timers start. */
  start(): void {
    const cfg = this.#cfg;
    const wheel = cfg.wheel;
    if (cfg.cronPeriod > 0 && cfg.listener.onCron !== undefined) this.#cron = wheel.every(cfg.cronPeriod, runCron, this, onTimersError);
    const hb = cfg.heartbeat;
    if (hb !== null) {
      this.#heartbeat = wheel.every(hb.interval, sendHeartbeat, this, onTimersError);
      this.#heartbeatCheck = wheel.after(hb.timeout, checkHeartbeat, this, onTimersError);
    }
    if (cfg.idleTimeout > 0) this.#idleCheck = wheel.after(cfg.idleTimeout, checkIdle, this, onTimersError);
  }

  cancel(): void {
    for (const t of this.#app) t.cancel();
    this.#app.clear();
    this.#cron?.cancel();
    this.#heartbeat?.cancel();
    this.#heartbeatCheck?.cancel();
    this.#idleCheck?.cancel();
  }

  /** A cron tick (skipped while the previous async onCron runs). */
  cron(): void {
    const s = this.#session;
    if (s[kStale]() || this.#cronRunning) return;
    const r = this.#cfg.listener.onCron!(s);
    if (!isThenable(r)) return;
    this.#cronRunning = true;
    s[kTrack](r, () => (this.#cronRunning = false));
  }

  heartbeat(): void {
    const s = this.#session;
    if (s[kStale]()) return;
    // WebSocket: a ping (the pong counts as input); elsewhere the heartbeat message.
    const link = s[kLink];
    if (link.ping !== undefined) {
      link.ping();
      return;
    }
    const hb = this.#cfg.heartbeat!;
    const m = typeof hb.message === 'function' ? (hb.message as (s: Session<any, Out>) => Out)(s) : hb.message;
    void s.send(m);
  }

  // Deadlines are checked lazily: the timer fires at the earliest possible expiry and, if there was
  // input (or any activity) since, re-arms for the rest. One wheel entry per deadline, O(1) a period.

  checkHeartbeat(): void {
    const s = this.#session;
    if (s[kStale]()) return;
    const ms = this.#cfg.heartbeat!.timeout;
    const left = s.lastRead + ms - Date.now();
    if (left <= 0) s[kFail](new HeartbeatTimeoutError(ms));
    else this.#heartbeatCheck = this.#cfg.wheel.after(left, checkHeartbeat, this, onTimersError);
  }

  checkIdle(): void {
    const s = this.#session;
    if (s[kStale]()) return;
    const ms = this.#cfg.idleTimeout;
    const left = s.lastActive + ms - Date.now();
    if (left <= 0) s[kFail](new IdleTimeoutError(ms));
    else this.#idleCheck = this.#cfg.wheel.after(left, checkIdle, this, onTimersError);
  }

  /** A throw from a timer callback: the session's error, and it closes. */
  fail(err: unknown): void {
    this.#session[kFail](err);
  }
}

// Module-level callbacks with the timers as their argument: no closure per session.

function onTimerError(err: unknown, s: Session<any, any>): void {
  s[kFail](err);
}

function onTimersError(err: unknown, t: SessionTimers<any, any>): void {
  t.fail(err);
}

function runCron(t: SessionTimers<any, any>): void {
  t.cron();
}

function sendHeartbeat(t: SessionTimers<any, any>): void {
  t.heartbeat();
}

function checkHeartbeat(t: SessionTimers<any, any>): void {
  t.checkHeartbeat();
}

function checkIdle(t: SessionTimers<any, any>): void {
  t.checkIdle();
}
