// Servers of a fleet in child processes (fixtures/fleet-server.mjs), for tests that restart and
// kill them under load. (Not a test file: it defines no tests.)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { within } from '@nocopy/test-kit';

// This file runs from dist/test/; the fixture stays in test/fixtures/ (plain JS, not compiled).
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/fleet-server.mjs', import.meta.url));

export interface FleetServer {
  readonly name: string;
  readonly port: number;
  readonly proc: ChildProcess;
  readonly exited: Promise<unknown>;
}

/** Starts a fleet server on `port` (0: any); resolves once it listens. */
export async function startFleetServer(name: string, port = 0, delay = 0): Promise<FleetServer> {
  const proc = spawn(process.execPath, [FIXTURE, String(port), name, String(delay)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(proc, 'exit');
  const listening = new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`fleet server ${name} exited with ${code} before listening`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const [what, arg] = line.split(' ');
      if (what === 'listening') resolve(Number(arg));
    });
  });
  return { name, port: await within(listening, 10_000, `fleet server ${name} to listen`), proc, exited };
}

/** Signals the server and waits for it to exit. */
export async function stopFleetServer(s: FleetServer | null, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (s === null || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill(signal);
  await within(s.exited, 15_000, `fleet server ${s.name} to exit after ${signal}`);
}

/** Closed-loop callers: `n` loops calling `fn` until stop(); counts outcomes and keeps the failures. */
export function callers(n: number, fn: (i: number) => Promise<unknown>): { ok: () => number; failures: unknown[]; byResult: Map<string, number>; stop: () => Promise<void> } {
  let running = true;
  let ok = 0;
  const failures: unknown[] = [];
  const byResult = new Map<string, number>();
  const loops = Array.from({ length: n }, async (_, i) => {
    while (running) {
      try {
        const r = await fn(i);
        const key = Array.isArray(r) ? String(r[0]) : String(r);
        byResult.set(key, (byResult.get(key) ?? 0) + 1);
        ok++;
      } catch (err) {
        failures.push(err);
        // A failing fleet must not turn the loop into a spin.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  return {
    ok: () => ok,
    failures,
    byResult,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
