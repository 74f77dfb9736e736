// The measured window of the Node load clients (load/client.ts, rpc/load.ts, messages/client.ts,
// cluster/churn.ts): wait out the warmup, then measure a fixed time, with this process's CPU over it
// (a generator near 100% of its core measures itself, not the server).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Window {
  /** Wall-clock seconds the window lasted. */
  seconds: number;
  /** This process's CPU over the window, % of one core. */
  cpuPercent: number;
  /** This process's CPU over the window, µs of user and system time. */
  cpu: NodeJS.CpuUsage;
}

/**
 * Sleeps `warmupMs`, calls `open` (reset counters, start counting), measures `durationMs`, calls
 * `close` (stop counting) and returns the window's time and CPU.
 */
export async function measureWindow(warmupMs: number, durationMs: number, open: () => void, close: () => void): Promise<Window> {
  await sleep(warmupMs);
  open();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(durationMs);
  close();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100, cpu };
}
