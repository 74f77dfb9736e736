// The timing wheel against one setInterval per session: N periodic timers of `period` ms (each at a
// random phase, as sessions opened at different times), run for a few seconds in this process.
// Reports the CPU the timers cost per second of wall time and the heap they hold.
import { TimingWheel } from '@nocopy/transport';

export interface TimerCost {
  /** CPU ms per wall second while the timers ran. */
  cpuMsPerSec: number;
  /** Heap held by the timers, MiB (heapUsed after minus before, after a GC where exposed). */
  heapMiB: number;
  /** Callbacks per second that actually ran (N / period expected). */
  firesPerSec: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(n: number, period: number, seconds: number, arm: (fire: () => void) => () => void): Promise<TimerCost> {
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  let fires = 0;
  const fire = () => void fires++;
  const cancels: (() => void)[] = new Array(n);
  for (let i = 0; i < n; i++) cancels[i] = arm(fire);
  gc?.();
  const heap = process.memoryUsage().heapUsed - heap0;
  // Settle the phases in, then measure.
  await sleep(period);
  fires = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const result = { cpuMsPerSec: (cpu.user + cpu.system) / 1000 / wall, heapMiB: heap / (1024 * 1024), firesPerSec: fires / wall };
  for (const c of cancels) c();
  return result;
}

export function wheelCost(n: number, period: number, seconds: number): Promise<TimerCost> {
  const wheel = new TimingWheel();
  return measure(n, period, seconds, (fire) => {
    // A random phase: first a one-shot, then the periodic timer, as a session's cron starts at its open.
    let t = wheel.after(Math.floor(Math.random() * period), () => {
      t = wheel.every(period, fire);
    });
    return () => t.cancel();
  });
}

export function intervalCost(n: number, period: number, seconds: number): Promise<TimerCost> {
  return measure(n, period, seconds, (fire) => {
    let iv: NodeJS.Timeout | undefined;
    const first = setTimeout(() => {
      iv = setInterval(fire, period);
    }, Math.random() * period);
    return () => {
      clearTimeout(first);
      clearInterval(iv);
    };
  });
}
