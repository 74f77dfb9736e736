// A steady RPC load for the cluster tests: `concurrency` loops, each calling one call after another
// until stop(); every call's outcome is counted, failures by their error code.
import type { RpcClient } from '@nocopy/rpc-demo';

export interface Load {
  sent: number;
  ok: number;
  failed: number;
  /** Failure counts by error code (or name). */
  errors: Record<string, number>;
  /** Stop issuing calls; resolves when every call issued has settled. */
  stop(): Promise<void>;
}

export function steadyLoad(client: RpcClient, concurrency: number, method: string, ...params: unknown[]): Load {
  let running = true;
  const load: Load = {
    sent: 0,
    ok: 0,
    failed: 0,
    errors: {},
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
  const loop = async (): Promise<void> => {
    while (running) {
      load.sent++;
      try {
        await client.call(method, ...params);
        load.ok++;
      } catch (e) {
        load.failed++;
        const k = String((e as { code?: unknown }).code ?? (e as Error).name);
        load.errors[k] = (load.errors[k] ?? 0) + 1;
        // A failing connection fails fast; do not spin on it.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return load;
}
