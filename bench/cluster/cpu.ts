// CPU time of a set of processes: our own from process.cpuUsage(), others' from /proc/<pid>/stat
// (utime + stime, in clock ticks of 10 ms on Linux). Without /proc only our own is known.
import { readFileSync, existsSync } from 'node:fs';

export const hasProc = existsSync('/proc/self/stat');
/** USER_HZ: 100 on every Linux Node supports (sysconf(_SC_CLK_TCK) is not reachable from Node). */
const TICK_MS = 10;

function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/** CPU ms used so far by this process plus `others`. */
export function cpuMs(others: readonly number[]): number {
  const self = process.cpuUsage();
  let ms = (self.user + self.system) / 1000;
  if (hasProc) for (const pid of others) ms += procCpuMs(pid);
  return ms;
}
