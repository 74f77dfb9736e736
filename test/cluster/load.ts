// A steady RPC load for the cluster tests: `concurrency` loops, each calling one call after another
// until stop(); every call's outcome is counted, failures by their error code.
import assert from 'node:assert/strict';
import type { RpcClient } from '@nocopy/rpc-demo';
import { connectEcho } from './helpers.js';

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

export interface Churn {
  /** Connections that completed a ping and closed. */
  done: number;
  /** Why the others failed (error code or message). */
  errors: string[];
  /** Stop opening connections; resolves once every loop has ended. */
  stop(): Promise<void>;
}

/** `lanes` loops of connect, one echo, close, against `port`, until stop(). */
export function echoChurn(port: number, lanes = 4): Churn {
  let running = true;
  const churn: Churn = { done: 0, errors: [], stop: async () => {
    running = false;
    await Promise.all(loops);
  } };
  const lane = async (): Promise<void> => {
    while (running) {
      try {
        const c = await connectEcho(port);
        assert.equal(await c.echo('ping'), 'ping');
        c.socket.end();
        await c.closed;
        churn.done++;
      } catch (e) {
        churn.errors.push(String((e as { code?: unknown }).code ?? (e as Error).message));
      }
    }
  };
  const loops = Array.from({ length: lanes }, lane);
  return churn;
}
