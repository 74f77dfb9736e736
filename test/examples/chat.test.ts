// The chat example (tao's): broadcast to the others, names, /who, heartbeats that keep a talking
// client and close a silent one; and its command line starts, serves and stops on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createChatServer } from '@nocopy/examples/chat';

/** A line client: `next()` resolves with the next line that is not a heartbeat. */
class LineClient {
  readonly lines: string[] = [];
  heartbeats = 0;
  readonly closed: Promise<void>;
  #buf = '';
  #wake: (() => void) | null = null;
  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      this.#buf += s;
      let i;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        if (line === '.') this.heartbeats++;
        else this.lines.push(line);
      }
      this.#wake?.();
    });
    this.closed = once(socket, 'close').then(() => {});
  }
  static async connect(port: number): Promise<LineClient> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await once(s, 'connect');
    return new LineClient(s);
  }
  async next(ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.lines.length === 0) {
      if (Date.now() > deadline) throw new Error('no line');
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 20);
      });
    }
    return this.lines.shift()!;
  }
  say(line: string): void {
    this.socket.write(`${line}\n`);
  }
}

test('chat: welcome, join, broadcast to the others only, /nick, /who, leave', async (t) => {
  const server = createChatServer();
  const { port } = (await server.listen()) as AddressInfo;
  t.after(() => server.shutdown());
  const a = await LineClient.connect(port);
  assert.match(await a.next(), /^\* welcome, guest\d+; 0 other\(s\) here$/);
  const b = await LineClient.connect(port);
  assert.match(await b.next(), /^\* welcome, guest\d+; 1 other\(s\) here$/);
  assert.match(await a.next(), /^\* guest\d+ joined$/);
  a.say('/nick alice');
  assert.match(await a.next(), /is now alice$/);
  assert.match(await b.next(), /is now alice$/);
  a.say('hello there');
  assert.equal(await b.next(), 'alice: hello there');
  b.say('/who');
  assert.match(await b.next(), /^\* here: alice, guest\d+$/);
  assert.equal(a.lines.length, 0, 'a sender does not get its own line back');
  b.socket.end();
  assert.match(await a.next(), /^\* guest\d+ left$/);
  a.socket.destroy();
});

test('chat: heartbeats reach every client; a silent one is closed, a talking one stays', async (t) => {
  const server = createChatServer({ heartbeat: 40, timeout: 150 });
  const { port } = (await server.listen()) as AddressInfo;
  t.after(() => server.shutdown());
  const silent = await LineClient.connect(port);
  const talker = await LineClient.connect(port);
  const timer = setInterval(() => talker.say('.'), 40);
  t.after(() => clearInterval(timer));
  await silent.closed;
  assert.ok(silent.heartbeats >= 2, `${silent.heartbeats} heartbeats before the close`);
  // 5 more heartbeats (5 x 40 ms, past the 150 ms timeout) reach the talker: a wrong close would have come by then.
  const heard = talker.heartbeats;
  const deadline = Date.now() + 10_000;
  while (talker.heartbeats < heard + 5 && !talker.socket.destroyed) {
    assert.ok(Date.now() < deadline, `only ${talker.heartbeats - heard} more heartbeats in 10 s`);
    await new Promise((r) => setTimeout(r, 20)); // the polling pace
  }
  assert.equal(talker.socket.destroyed, false);
  assert.ok(talker.heartbeats >= 5);
  assert.match(talker.lines.at(-1)!, /left$/, 'the others are told');
  talker.socket.destroy();
});

test('chat-server CLI: prints where it listens, serves, exits 0 on SIGTERM; a bad flag is one line and exit 2', async () => {
  const bin = fileURLToPath(new URL('../../../examples/dist/chat-server.js', import.meta.url));
  const child = spawn(process.execPath, [bin, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  while (!/listening on 127\.0\.0\.1:(\d+)/.test(out)) await new Promise((r) => setTimeout(r, 20));
  const port = Number(/:(\d+)/.exec(out)![1]);
  const c = await LineClient.connect(port);
  assert.match(await c.next(), /welcome/);
  c.socket.destroy();
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
  const bad = spawn(process.execPath, [bin, '--nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const [badCode] = (await once(bad, 'exit')) as [number];
  assert.equal(badCode, 2);
  assert.match(err, /^chat-server: Unknown option '--nope'.*\nTry 'chat-server --help'\.\n$/s);
});
