// The RPC client in a browser: `nocopy-rpc serve --websocket 0` serves the demo methods over
// WebSocket and a page that calls them with the browser build of the client; headless Chromium
// (Debian's chromium; .ci/run installs it when absent) loads the page, and the test reads what the
// page shows: the results of add, echo, a sleep that times out, an unknown method, and echo calls
// counted by the live chart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { findChromium, openPage } from './cdp.js';

const chromium = findChromium();
const skip = chromium === null ? 'chromium not found (Debian package chromium; .ci/run installs it)' : false;
if (skip) console.log(`# browser test: ${skip}`);

test('the page calls the RPC server from headless Chromium and shows the results', { skip, timeout: 90_000 }, async (t) => {
  const bin = fileURLToPath(new URL('../../../packages/rpc-demo/bin/nocopy-rpc.js', import.meta.url));
  const server = spawn(process.execPath, [bin, 'serve', '--port', '0', '--websocket', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  });
  let out = '';
  server.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/a page at (http:\/\/[^\s)]+)/.test(out)) {
    assert.ok(Date.now() < deadline && server.exitCode === null, `the server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /a page at (http:\/\/[^\s)]+)/.exec(out)![1]!;
  const page = await openPage(chromium!, url);
  t.after(() => page.close());
  let shown: string[] = [];
  let echoCalls = 0;
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    shown = (await page.evaluate<string[] | undefined>(`[...document.querySelectorAll('#results li')].map((li) => li.textContent)`)) ?? [];
    echoCalls = Number((await page.evaluate<string | undefined>('document.body.dataset.echoCalls')) ?? 0);
    if (shown.length >= 4 && echoCalls > 100) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(shown, [
    'add(2, 3) = 5',
    'echo("héllo, nocopy") = "héllo, nocopy"',
    'sleep(500) with a 100 ms timeout: ERR_RPC_TIMEOUT',
    'nosuch(): ERR_METHOD_NOT_FOUND',
  ], `page log: ${page.log.join(' | ')}`);
  const failures = await page.evaluate<string | undefined>('`${document.body.dataset.echoFailures} failed, last: ${document.body.dataset.echoError}`');
  assert.ok(echoCalls > 100, `the chart's echo loop made ${echoCalls} calls (${failures}); page log: ${page.log.join(' | ')}`);
  const rate = await page.evaluate<string>(`document.getElementById('rate').textContent`);
  assert.match(rate, /^[\d,]+$/);
});
