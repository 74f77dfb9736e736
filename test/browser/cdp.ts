// Headless Chromium (Debian's chromium) driven over the DevTools protocol with `ws`: open a page,
// evaluate expressions in it. Enough for a test to read what a page shows; no browser download.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';

export function findChromium(): string | null {
  for (const bin of ['chromium', 'chromium-browser', 'google-chrome']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0) return bin;
  }
  return null;
}

export interface Page {
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
  /** Console messages and exceptions the page logged. */
  readonly log: string[];
}

/** Starts headless Chromium on `url` and attaches to the page. */
export async function openPage(bin: string, url: string): Promise<Page> {
  const profile = mkdtempSync(join(tmpdir(), 'nocopy-chromium-'));
  // The flags of a closed network: no background requests, no first-run work.
  const child: ChildProcess = spawn(bin, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--remote-debugging-port=0', url,
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true }); // its own process group: close() kills the helpers too
  let err = '';
  const browserUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on (ws:\/\/[^\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`chromium exited (${code}): ${err}`)));
  });
  const http = new URL(browserUrl);
  let target: { webSocketDebuggerUrl: string; url: string } | undefined;
  for (let i = 0; i < 100 && target === undefined; i++) {
    const list = (await (await fetch(`http://${http.host}/json/list`)).json()) as { type: string; url: string; webSocketDebuggerUrl: string }[];
    target = list.find((t) => t.type === 'page' && t.url.startsWith(url.replace(/\/$/, '')));
    if (target === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  if (target === undefined) throw new Error('the page did not open');
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const waiting = new Map<number, (m: { result?: { result?: { value?: unknown }; exceptionDetails?: unknown } }) => void>();
  const log: string[] = [];
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as { id?: number; method?: string; params?: { args?: { value?: unknown }[]; exceptionDetails?: { text?: string; exception?: { description?: string } } } };
    if (m.id !== undefined) waiting.get(m.id)?.(m as never);
    else if (m.method === 'Runtime.consoleAPICalled') log.push((m.params?.args ?? []).map((a) => String(a.value)).join(' '));
    else if (m.method === 'Runtime.exceptionThrown') log.push(`exception: ${m.params?.exceptionDetails?.exception?.description ?? m.params?.exceptionDetails?.text}`);
  });
  const call = (method: string, params: object) =>
    new Promise<{ result?: { result?: { value?: unknown } } }>((resolve) => {
      const n = ++id;
      waiting.set(n, (m) => {
        waiting.delete(n);
        resolve(m);
      });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  await call('Runtime.enable', {});
  return {
    log,
    async evaluate<T>(expression: string): Promise<T> {
      const r = await call('Runtime.evaluate', { expression, returnByValue: true });
      return r.result?.result?.value as T;
    },
    async close() {
      ws.close();
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      // The whole group: Chromium's zygote, GPU and renderer processes would outlive the browser and
      // keep writing into the profile.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      await exited;
      try {
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      } catch (err) {
        // A temporary profile left behind is not the page's failure.
        console.log(`# could not remove ${profile}: ${(err as Error).message}`);
      }
    },
  };
}
