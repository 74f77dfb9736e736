// Process resources the soak checks before and after: file descriptors, pooled blocks, heap and RSS.
import { readdirSync, readlinkSync } from 'node:fs';
import { setImmediate as tick } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { defaultPool } from '@nocopy/linkbuffer';

/** Open file descriptors of this process, or null where /proc is missing. */
export function fdCount(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

/** What each open descriptor points at (socket:[123], pipe:[456], /dev/null, ...), for a leak report. */
export function fdTargets(): Map<string, string> | null {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  const out = new Map<string, string>();
  for (const n of names) {
    try {
      out.set(n, readlinkSync(`/proc/self/fd/${n}`));
    } catch {
      // The directory handle readdirSync itself used, closed by now.
    }
  }
  return out;
}

/** global.gc when run with --expose-gc; else the same function obtained at run time (V8's flag, then a fresh context). */
export function getGc(): { gc: (() => void) | null; source: string } {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return { gc: g, source: '--expose-gc' };
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    if (typeof fn === 'function') return { gc: fn as () => void, source: 'v8.setFlagsFromString' };
  } catch {
    // No way to force a collection: heap figures are then taken as they are.
  }
  return { gc: null, source: 'none' };
}

export async function collect(gc: (() => void) | null): Promise<void> {
  if (gc === null) return;
  for (let i = 0; i < 3; i++) {
    gc();
    await tick();
  }
}

export interface Snapshot {
  fds: number | null;
  blocksOutstanding: number;
  bytesOutstanding: number;
  idleBytes: number;
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
}

export function snapshot(): Snapshot {
  const p = defaultPool.stats();
  const m = process.memoryUsage();
  return {
    fds: fdCount(),
    blocksOutstanding: p.blocksOutstanding,
    bytesOutstanding: p.bytesOutstanding,
    idleBytes: p.idleBytes,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    rss: m.rss,
    external: m.external,
  };
}

export const MiB = 1024 * 1024;

export function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}
